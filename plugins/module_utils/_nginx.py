# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nginx role's rules: semantic checks of its variables where argument specs fall short.

Run by the ``nginx_validate`` action plugin (``roles/nginx/tasks/validate.yml``); ``nginx_input_errors(values)``
returns a list of messages, each naming the variable and the value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _oscar_paths
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import contains_loopback
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._file_placement import found_by_path
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import (
    CidrError,
    Problems,
    is_hostname,
    parse_cidr,
    parse_email,
)

_SIZE_RE = re.compile(r"^[0-9]+[kKmMgG]?$")
_TIME_RE = re.compile(r"^[0-9]+(?:ms|s|m|h)?$")
_RATE_RE = re.compile(r"^[1-9][0-9]*r/[sm]$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_PLAIN_PATH_RE = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$")
LOCATION_OVERRIDE_KEYS = ("path", "client_max_body_size", "proxy_read_timeout", "proxy_send_timeout")
_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}


def _is_ip(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _cidr_errors(name, values, errors):
    if not isinstance(values, list):
        errors.append("%s: must be a list of CIDRs, got %r" % (name, values))
        return
    for value in values:
        try:
            parse_cidr(str(value))
        except CidrError as exc:
            hint = " (did you mean %s?)" % exc.network if exc.network is not None else ""
            errors.append("%s: %r is not a valid CIDR%s" % (name, value, hint))


def _path_errors(name, value, errors, must_end_slash=False, under=None):
    if not isinstance(value, str) or not _PLAIN_PATH_RE.match(value) or "//" in value or "%" in value:
        errors.append("%s: %r must be an absolute path of plain characters" % (name, value))
        return
    segments = value.split("/")
    if "." in segments or ".." in segments:
        errors.append("%s: %r must not contain . or .. segments" % (name, value))
    if must_end_slash and not value.endswith("/"):
        errors.append("%s: %r must end with /" % (name, value))
    if under and not value.startswith(under):
        errors.append("%s: %r must be under %s" % (name, value, under))


def _local_proxy_errors(values, errors):
    """Loopback is never a trusted proxy: every local process shares it, so any of them could name any client."""
    for value in values if isinstance(values, list) else []:
        try:
            parse_cidr(str(value))
        except CidrError:
            continue
        if contains_loopback(str(value)):
            errors.append("nginx_trusted_proxies: %r contains loopback addresses, which every local process shares; "
                          "give a connector on this host nginx_tunnel_socket instead" % (value,))


def _upstream_errors(name, url, errors):
    match = re.match(r"^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?/?$", str(url))
    if not match:
        errors.append("%s: %r must be scheme://host[:port] with scheme http or https and no path, "
                      "for example https://127.0.0.1:8443" % (name, url))
        return
    host = match.group(2).strip("[]")
    if not _is_ip(host) and not is_hostname(host):
        errors.append("%s: %r has an invalid host %r" % (name, url, host))
    if match.group(3) and not 1 <= int(match.group(3)) <= 65535:
        errors.append("%s: %r has an invalid port" % (name, url))


def connector_interface(address, network=None):
    """A connector as its address on the network it reaches nginx from (``ipaddress.ip_interface``); without the
    network (no facts), the address alone (/32, /128): then only the address is known to be a connector."""
    address = ipaddress.ip_address(str(address))
    if network is None:
        return ipaddress.ip_interface(address)
    return ipaddress.ip_interface("%s/%d" % (address, ipaddress.ip_network(str(network), strict=False).prefixlen))


def _describe_connector(connector):
    if connector.network.prefixlen == connector.max_prefixlen:
        return "%s (its network unknown: no facts gathered for it)" % connector.ip
    return "%s in %s" % (connector.ip, connector.network)


def _trusted_proxy_errors(values, connectors, errors):
    """nginx believes the client address these proxies send (nginx_real_ip_header): a range wider than the
    connectors' lets anyone in it claim any address, and so pass an ip_ranges bypass or dodge an address ban.
    ``connectors`` is the connectors when all are known (else None), each an address or ``connector_interface``:
    each range must hold one and lie within the network that connector uses (its address alone when the network is
    not known), so 192.168.0.0/16 is refused for a Pi at 192.168.1.20 in 192.168.1.0/24."""
    connectors = None if connectors is None else [
        c if isinstance(c, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)) else connector_interface(c)
        for c in connectors]
    for value in values if isinstance(values, list) else []:
        try:
            network = parse_cidr(str(value))
        except CidrError:
            continue  # reported by _cidr_errors
        if network.prefixlen == 0:
            errors.append("nginx_trusted_proxies: %r trusts every address on the internet to say who the client is; "
                          "list only your connectors on other hosts (a cloudflared on this host uses "
                          "nginx_tunnel_socket)" % (value,))
        elif not (network.is_private or network.is_loopback or network.is_link_local):
            errors.append("nginx_trusted_proxies: %r holds public addresses, which anyone there could use to claim any "
                          "client address; connectors reach nginx over loopback or the clinic's network: list their "
                          "addresses" % (value,))
        elif connectors is not None:
            inside = [c for c in connectors if c.version == network.version and c.ip in network]
            if not inside:
                errors.append("nginx_trusted_proxies: %r holds none of the clinic's connectors (%s); list their "
                              "addresses" % (value, ", ".join(str(c.ip) for c in connectors) or "none"))
            elif not any(network.subnet_of(c.network) for c in inside):
                narrower = sorted(set(str(c.network) for c in inside))
                errors.append("nginx_trusted_proxies: %r is wider than the network%s the clinic's connectors in it use "
                              "(%s): any other host in it could claim any client address; give %s instead"
                              % (value, "s" if len(narrower) > 1 else "",
                                 "; ".join(_describe_connector(c) for c in inside), " and ".join(
                                     "'%s'" % n for n in narrower)))


def _acme_errors(v, errors):
    """nginx_tls_mode acme: what the ACME order and the DNS-01 challenge need. Secrets are named, never shown."""
    if v.get("nginx_acme_terms_agreed") is not True:
        errors.append("nginx_acme_terms_agreed: %r: nginx_tls_mode acme needs true (you agree to the ACME CA's terms "
                      "of service; the account cannot be created otherwise)" % (v.get("nginx_acme_terms_agreed"),))
    url = v.get("nginx_acme_directory_url")
    if not isinstance(url, str) or not re.match(r"^https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/\S*$", url):
        errors.append("nginx_acme_directory_url: %r must be an https:// URL of an ACME directory" % (url,))
    zone = v.get("nginx_acme_cloudflare_zone")
    if not isinstance(zone, str) or not is_hostname(zone) or "." not in zone:
        errors.append("nginx_acme_cloudflare_zone: %r must be the Cloudflare DNS zone of nginx_server_names, "
                      "for example lakeside.example" % (zone,))
        zone = None
    if not v.get("nginx_acme_cloudflare_api_token"):
        errors.append("nginx_acme_cloudflare_api_token: is empty; nginx_tls_mode acme needs a Cloudflare API token "
                      "with Zone DNS Edit on nginx_acme_cloudflare_zone (keep it in the vault)")
    for item in v.get("nginx_server_names") or []:
        if not isinstance(item, str) or _is_ip(item) or not is_hostname(item):
            errors.append("nginx_server_names: %r cannot be in a public certificate (nginx_tls_mode acme): use DNS "
                          "names only" % (item,))
        elif zone and item.rstrip(".").lower() != zone.lower() and not item.rstrip(".").lower().endswith(
                "." + zone.lower()):
            errors.append("nginx_server_names: %r is not in nginx_acme_cloudflare_zone %r, so its DNS-01 challenge "
                          "cannot be answered" % (item, zone))
    if bool(v.get("nginx_acme_eab_kid")) != bool(v.get("nginx_acme_eab_hmac_key")):
        errors.append("nginx_acme_eab_kid and nginx_acme_eab_hmac_key: give both (External Account Binding) or "
                      "neither")
    email = v.get("nginx_acme_email")
    if email:
        try:
            parse_email(email)
        except ValueError as exc:
            errors.append("nginx_acme_email: %r %s" % (email, exc))
    share = v.get("nginx_acme_renew_remaining_share")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.05 <= share <= 0.8:
        errors.append("nginx_acme_renew_remaining_share: %r must be a share of the lifetime between 0.05 and 0.8 "
                      "(0.34: renew on day 60 of 90)" % (share,))
    wait = v.get("nginx_acme_dns_propagation_seconds")
    if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= 600:
        errors.append("nginx_acme_dns_propagation_seconds: %r must be a whole number of seconds, 0 to 600" % (wait,))
    for name in ("nginx_acme_dir", "nginx_acme_account_key_file"):
        value = v.get(name)
        if not isinstance(value, str) or not value.startswith("/"):
            errors.append("%s: %r must be an absolute path" % (name, value))


def nginx_input_errors(v, connectors=None):
    """Return every problem found in the role variables ``v`` (a dict), as messages; ``connectors`` as for
    ``_trusted_proxy_errors``."""
    errors = []

    names = v.get("nginx_server_names")
    if not isinstance(names, list) or not names:
        errors.append("nginx_server_names: give at least one name, got %r" % (names,))
    else:
        for item in names:
            if not isinstance(item, str) or not (_is_ip(item) or is_hostname(item)):
                errors.append("nginx_server_names: %r is not a host name or IP address" % (item,))

    ports = []
    for name in ("nginx_https_port", "nginx_http_port"):
        value = v.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            errors.append("%s: %r must be a port number (1-65535)" % (name, value))
        ports.append(value)
    if ports[0] == ports[1]:
        errors.append("nginx_http_port: %r is the same as nginx_https_port" % (ports[1],))

    if v.get("nginx_tls_mode") in ("files", "cloudflare_origin"):
        for name in ("nginx_tls_certificate_file", "nginx_tls_key_file"):
            value = v.get(name)
            if not isinstance(value, str) or not value.startswith("/"):
                errors.append("%s: %r must be an absolute path on the target when nginx_tls_mode is %s"
                              % (name, value, v.get("nginx_tls_mode")))
    if v.get("nginx_tls_mode") == "acme":
        _acme_errors(v, errors)
    for item in v.get("nginx_internal_cert_ip_addresses") or []:
        if not _is_ip(str(item)):
            errors.append("nginx_internal_cert_ip_addresses: %r is not an IP address" % (item,))
    for name in ("nginx_internal_ca_valid_days", "nginx_internal_cert_valid_days", "nginx_hsts_max_age",
                 "nginx_login_rate_burst", "nginx_machine_rate_burst", "nginx_gateway_cache_ttl"):
        value = v.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errors.append("%s: %r must be a whole number, 0 or more" % (name, value))
    if isinstance(v.get("nginx_internal_cert_valid_days"), int) and v["nginx_internal_cert_valid_days"] <= 30:
        errors.append("nginx_internal_cert_valid_days: %r must be more than 30 (renewal starts 30 days before expiry)"
                      % (v["nginx_internal_cert_valid_days"],))

    _upstream_errors("nginx_oscar_upstream_url", v.get("nginx_oscar_upstream_url"), errors)
    trusted = v.get("nginx_oscar_upstream_trusted_certificate")
    if trusted and not str(trusted).startswith("/"):
        errors.append("nginx_oscar_upstream_trusted_certificate: %r must be an absolute path on the target"
                      % (trusted,))
    tls_name = v.get("nginx_oscar_upstream_tls_name")
    if tls_name and not (_is_ip(tls_name) or is_hostname(str(tls_name))):
        errors.append("nginx_oscar_upstream_tls_name: %r is not a host name" % (tls_name,))

    context = v.get("nginx_oscar_context_path")
    try:
        context = _oscar_paths._context(context)
    except ValueError as exc:
        errors.append("nginx_oscar_context_path: %s" % (exc,))
        context = "/oscar"

    for name in ("nginx_client_max_body_size", "nginx_machine_client_max_body_size"):
        if not _SIZE_RE.match(str(v.get(name))):
            errors.append("%s: %r must be an nginx size such as 100m" % (name, v.get(name)))
    for name in ("nginx_proxy_connect_timeout", "nginx_proxy_read_timeout", "nginx_proxy_send_timeout",
                 "nginx_machine_proxy_read_timeout"):
        if not _TIME_RE.match(str(v.get(name))):
            errors.append("%s: %r must be an nginx time such as 300s" % (name, v.get(name)))

    seen = set()
    for index, item in enumerate(v.get("nginx_location_overrides") or []):
        label = "nginx_location_overrides[%d]" % index
        if not isinstance(item, dict):
            errors.append("%s: %r must be a dict with path" % (label, item))
            continue
        problems = Problems()
        problems.unknown_keys(label, item, LOCATION_OVERRIDE_KEYS)
        errors.extend(problems.errors)
        _path_errors(label + ".path", item.get("path"), errors, must_end_slash=True, under=context + "/")
        if item.get("path") in seen:
            errors.append("%s.path: %r is listed twice" % (label, item.get("path")))
        seen.add(item.get("path"))
        if "client_max_body_size" in item and not _SIZE_RE.match(str(item["client_max_body_size"])):
            errors.append("%s.client_max_body_size: %r must be an nginx size" % (label, item["client_max_body_size"]))
        for key in ("proxy_read_timeout", "proxy_send_timeout"):
            if key in item and not _TIME_RE.match(str(item[key])):
                errors.append("%s.%s: %r must be an nginx time" % (label, key, item[key]))

    methods = v.get("nginx_browser_methods")
    if not isinstance(methods, list) or not methods or any(m not in _METHODS for m in methods):
        errors.append("nginx_browser_methods: %r must be a non-empty list of %s"
                      % (methods, ", ".join(sorted(_METHODS))))
    elif "GET" not in methods:
        errors.append("nginx_browser_methods: %r must include GET" % (methods,))

    try:
        _oscar_paths.blocked_regex(context=context, extra=v.get("nginx_blocked_paths_extra") or ())
    except (ValueError, TypeError, AttributeError) as exc:
        errors.append("nginx_blocked_paths_extra: %s" % (exc,))

    _cidr_errors("nginx_integration_sources", v.get("nginx_integration_sources"), errors)
    _cidr_errors("nginx_trusted_proxies", v.get("nginx_trusted_proxies"), errors)
    _cidr_errors("nginx_firewall_https_sources", v.get("nginx_firewall_https_sources", []), errors)
    _cidr_errors("nginx_firewall_http_sources", v.get("nginx_firewall_http_sources", []), errors)
    _trusted_proxy_errors(v.get("nginx_trusted_proxies"), connectors, errors)
    _local_proxy_errors(v.get("nginx_trusted_proxies"), errors)
    tunnel = v.get("nginx_tunnel_socket")
    if tunnel not in ("", None) and (not isinstance(tunnel, str) or not re.match(r"^/[A-Za-z0-9._/-]+\.sock$", tunnel)
                                     or "/../" in tunnel or "//" in tunnel or tunnel.count("/") < 3):
        errors.append("nginx_tunnel_socket: %r must be an absolute path ending in .sock in a directory of its own, "
                      "for example /run/oscar-nginx-tunnel/tunnel.sock" % (tunnel,))
    if tunnel and not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", str(v.get("nginx_tunnel_socket_group"))):
        errors.append("nginx_tunnel_socket_group: %r is not a group name" % (v.get("nginx_tunnel_socket_group"),))
    for item in v.get("nginx_browser_ws_paths") or []:
        _path_errors("nginx_browser_ws_paths", item, errors, must_end_slash=True, under=context + "/ws/")
        if isinstance(item, str) and item.lower() == (context + "/ws/").lower():
            errors.append("nginx_browser_ws_paths: %r would open every web service to everyone" % (item,))
        elif isinstance(item, str) and re.search(_oscar_paths.login_regex(context), item, re.IGNORECASE):
            errors.append("nginx_browser_ws_paths: %r would open a login web service to everyone" % (item,))

    for name in ("nginx_login_rate_limit", "nginx_machine_rate_limit"):
        if not _RATE_RE.match(str(v.get(name))):
            errors.append("%s: %r must be a rate such as 10r/m or 5r/s" % (name, v.get(name)))

    if not _HEADER_RE.match(str(v.get("nginx_real_ip_header"))):
        errors.append("nginx_real_ip_header: %r is not a header name" % (v.get("nginx_real_ip_header"),))
    for item in v.get("nginx_strip_request_headers") or []:
        if not isinstance(item, str) or not _HEADER_RE.match(item[:-1] if item.endswith("*") else item):
            errors.append("nginx_strip_request_headers: %r is not a header name (a trailing * is allowed)" % (item,))
    for item in v.get("nginx_gateway_identity_headers") or []:
        if not isinstance(item, str) or not _HEADER_RE.match(item):
            errors.append("nginx_gateway_identity_headers: %r is not a header name" % (item,))

    for name in ("nginx_gateway_upstream", "nginx_gateway_auth_upstream"):
        upstream = str(v.get(name))
        if upstream.startswith("unix:"):
            if not upstream[5:].startswith("/") or re.search(r"[\s;{}]", upstream):
                errors.append("%s: %r must be unix:/absolute/path.sock" % (name, upstream))
        elif not re.match(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$", upstream):
            errors.append("%s: %r must be unix:/path.sock or host:port" % (name, upstream))
    prefix = v.get("nginx_gateway_prefix")
    _path_errors("nginx_gateway_prefix", prefix, errors, must_end_slash=True)
    if isinstance(prefix, str) and (prefix == "/" or prefix.lower().startswith(context.lower() + "/")):
        errors.append("nginx_gateway_prefix: %r must be outside OSCAR's context path %s" % (prefix, context))
    auth_path = v.get("nginx_gateway_auth_path")
    _path_errors("nginx_gateway_auth_path", auth_path, errors)
    if isinstance(prefix, str) and isinstance(auth_path, str) and auth_path.startswith(prefix):
        errors.append("nginx_gateway_auth_path: %r is under nginx_gateway_prefix %r, which clients can reach"
                      % (auth_path, prefix))
    login = v.get("nginx_gateway_login_url")
    if not isinstance(login, str) or not re.match(r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]+)?)?/[^\s\"'{};]*$", login):
        errors.append("nginx_gateway_login_url: %r must be a path or an https URL" % (login,))
    # A cookie name (RFC 6265 token) narrowed to what is safe inside an nginx map regex once escaped.
    if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$", str(v.get("nginx_gateway_session_cookie"))):
        errors.append("nginx_gateway_session_cookie: %r may use only letters, digits, _ and - (not first)"
                      % (v.get("nginx_gateway_session_cookie"),))
    log = v.get("nginx_access_log")
    if not isinstance(log, str) or not log.startswith("/") or re.search(r"[\s;{}]", log):
        errors.append("nginx_access_log: %r must be an absolute path" % (log,))
    return errors


def nginx_subject_alt_names(names, ip_addresses=()):
    """subjectAltName entries for the server certificate: DNS: for names, IP: for addresses, no duplicates."""
    out = []
    for item in list(names or []) + list(ip_addresses or []):
        entry = ("IP:%s" % ipaddress.ip_address(item)) if _is_ip(str(item)) else "DNS:%s" % item
        if entry not in out:
            out.append(entry)
    return out


def nginx_internal_ca_due(cert_info, found, ca_dir, files, names, ip_addresses, ca_common_name):
    """Why the internal CA's community.crypto steps must run on this host: [] when nothing is due.

    ``cert_info`` is community.crypto.x509_certificate_info's result for ``<ca_dir>/server.crt`` with
    ``valid_at: {renewal: ...}`` (a failed read has no ``valid_at``); ``found`` is ansible.builtin.find's result for
    ``ca_dir``; ``files`` maps each of the CA's file names to the mode its task gives it (owner and group root). Due:
    a file missing or with another mode or owner, a certificate that cannot be read, expires within the renewal
    window, names another host first, has other names or addresses than ``names`` and ``ip_addresses``, or was issued
    by a CA of another name than ``ca_common_name``."""
    reasons = []
    have = found_by_path(found or {})
    for name, mode in sorted(files.items()):
        item = have.get("%s/%s" % (ca_dir.rstrip("/"), name))
        if not item or not item.get("isreg"):
            reasons.append("%s is missing" % name)
        elif (item.get("mode"), item.get("pw_name"), item.get("gr_name")) != (mode, "root", "root"):
            reasons.append("%s is %s %s:%s, not %s root:root" % (
                name, item.get("mode"), item.get("pw_name"), item.get("gr_name"), mode))
    valid_at = (cert_info or {}).get("valid_at")
    if not valid_at:
        reasons.append("server.crt cannot be read")
        return reasons
    if not all(valid_at.values()):
        reasons.append("server.crt is due for renewal")
    subject = (cert_info.get("subject") or {}).get("commonName")
    if subject != names[0]:
        reasons.append("server.crt is for %s, not %s" % (subject, names[0]))
    wanted = nginx_subject_alt_names(names, ip_addresses)
    if sorted(cert_info.get("subject_alt_name") or []) != sorted(wanted):
        reasons.append("server.crt names %s, not %s" % (
            ", ".join(cert_info.get("subject_alt_name") or []), ", ".join(wanted)))
    issuer = (cert_info.get("issuer") or {}).get("commonName")
    if issuer != ca_common_name:
        reasons.append("server.crt was issued by %s, not %s" % (issuer, ca_common_name))
    return reasons
