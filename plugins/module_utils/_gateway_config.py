# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The access gateway's configuration schema: one set of rules for the controller and the gateway.

The gateway role's check (``plugins/action/gateway_validate.py``) runs ``check_config`` on the controller, naming each
problem by its role variable through ``ROLE_VARIABLES``; the gateway's own loader (``oscar_gateway/config.py``) runs
the same function on the host, naming the configuration key. So an input the role accepts is one the gateway accepts:
the two used to drift (a role named ``front desk`` passed the controller and stopped the gateway on the host).

The gateway role copies this file and ``_problems.py`` next to the gateway (``__gateway_shared_modules``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ._expiry import expired_when_new, is_expired, not_a_date
from ._problems import IDENTIFIER_RE, Problems, duration_ns, is_hostname, is_int, parse_email, parse_port, show

MODES = ("cloudflare", "standalone")
USER_KEYS = ("username", "display_name", "email", "role", "enabled", "password_hash", "expires")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TEAM_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.cloudflareaccess\.com$")
# Cloudflare gives every Access application one AUD tag: 64 hexadecimal characters.
AUD_RE = re.compile(r"^[0-9a-f]{64}$")

# The one table from a configuration key (the file the role writes, roles/gateway/vars/main.yml __gateway_config) to
# the role variable it comes from; the controller's messages name the variable, the gateway's the key.
ROLE_VARIABLES = {
    "mode": "gateway_mode",
    "listen.unix_socket": "gateway_socket",
    "listen.auth_socket": "gateway_auth_socket",
    "clinic_name": "gateway_clinic_name",
    "public_host": "gateway_public_host",
    "users": "gateway_users",
    "cloudflare.team_domain": "gateway_cloudflare_team_domain",
    "cloudflare.aud": "gateway_cloudflare_aud",
    "cloudflare.service_tokens": "gateway_cloudflare_service_tokens",
    "decision_cache.max_age_seconds": "gateway_decision_cache_ttl",
    "login.max_failures": "gateway_login_max_failures",
    "login.max_failures_per_address": "gateway_login_max_failures_per_address",
    "audit.retention_days": "gateway_audit_retention_days",
    "audit.disk_warn_days": "gateway_audit_disk_warn_days",
    "approvals.request_ttl_seconds": "gateway_approval_request_seconds",
    "approvals.grant_seconds": "gateway_approval_grant_seconds",
    "approvals.max_grant_seconds": "gateway_approval_grant_max_seconds",
    "mail.relay_host": "gateway_mail_relay_host",
    "mail.relay_port": "gateway_mail_relay_port",
    "mail.starttls": "gateway_mail_starttls",
    "mail.from_address": "gateway_mail_from",
    "mail.ca_file": "gateway_mail_ca_file",
    "mail.max_attempts": "gateway_mail_max_attempts",
}
# Retention: at least a year (nobody's law asks for less), at most a century (a typo of days for years).
RETENTION_DAYS = (365, 36525)


def config_key(key):
    """Names a problem by its configuration key (the gateway's own loader)."""
    return key


def role_variable(key):
    """Names a problem by the role variable (the controller), ``users[2].email`` as ``gateway_users[2].email``."""
    head, sep, rest = key.partition("[")
    if sep and head in ROLE_VARIABLES:
        return ROLE_VARIABLES[head] + sep + rest
    return ROLE_VARIABLES.get(key, key)


def check_users(users, problems, name=config_key, today=None, existing=None):
    """The users' problems. ``existing`` (the usernames already on the gateway, with ``today`` on its host; the role's
    check reads both there) makes an account that is new and already expired an error: it could never sign in."""
    seen = set()
    for _index, where, user in problems.entries(name("users"), users, USER_KEYS, "must be a list of mappings"):
        username = user.get("username")
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            problems.add(where + ".username", "%s is not lower-case letters, digits, '.', '_' or '-'" % show(username))
        elif username in seen:
            problems.add(where + ".username", "%s is listed twice" % show(username))
        else:
            seen.add(username)
        email = user.get("email", "")
        if email:
            problems.check(parse_email, where + ".email", email)
        role = user.get("role", "")
        if role and (not isinstance(role, str) or not IDENTIFIER_RE.match(role)):
            # The access policy's rule for the roles it names (include.roles): one word of letters, digits, '.', '_',
            # '@', '+' or '-', so that every role an account can have is one a policy can name.
            problems.add(where + ".role", "%s is not a role name (letters, digits, '.', '_', '@', '+' or '-', no "
                         "spaces)" % show(role))
        if "enabled" in user and not isinstance(user["enabled"], bool):
            problems.add(where + ".enabled", "%s is not true or false" % show(user["enabled"]))
        expires = user.get("expires")
        if not_a_date(expires):
            problems.add(where + ".expires", not_a_date(expires))
        elif existing is not None and today is not None and is_expired(expires, today) \
                and user.get("username") not in existing:
            problems.add(where + ".expires", expired_when_new(expires, today, "account", "is not on the gateway yet"))
        password_hash = user.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str)
                                          or not password_hash.startswith("$argon2id$")):
            problems.add(where + ".password_hash", "must be an argon2id hash ($argon2id$...); the value is not shown")


def is_loopback_host(host):
    """Whether a relay host name is this machine's loopback: ``localhost`` or a loopback address."""
    if not isinstance(host, str):
        return False
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_mail(mail, problems, name=config_key):
    """Approvals by email: a relay (host name or address) and port, a sender, and STARTTLS unless the relay is on
    loopback (credentials and approvers' addresses would otherwise cross the network in clear)."""
    host = mail.get("relay_host", "")
    if host in ("", None):
        return
    if not isinstance(host, str) or not (is_hostname(host.strip("[]"), single_label=True)
                                         or _is_address(host.strip("[]"))):
        problems.add(name("mail.relay_host"), "%s is not a host name or an IP address" % show(host))
        return
    port = mail.get("relay_port", 587)
    try:
        parse_port(port)
    except ValueError as exc:
        problems.add(name("mail.relay_port"), "%s %s" % (show(port), exc))
    starttls = mail.get("starttls", True)
    if not isinstance(starttls, bool):
        problems.add(name("mail.starttls"), "%s is not true or false" % show(starttls))
    elif not starttls and not is_loopback_host(host):
        problems.add(name("mail.starttls"), "false with %s %s: STARTTLS is required unless the relay is on loopback "
                     "(127.0.0.1, ::1, localhost), or the relay's password and the approval mail would cross the "
                     "network in clear" % (name("mail.relay_host"), show(host)))
    ca_file = mail.get("ca_file", "")
    if ca_file and (not isinstance(ca_file, str) or not ca_file.startswith("/")):
        problems.add(name("mail.ca_file"), "%s is not an absolute path on the host" % show(ca_file))
    sender = mail.get("from_address", "")
    if not sender:
        problems.add(name("mail.from_address"), "must be set when %s is (the sender of the approval mail)"
                     % name("mail.relay_host"))
    else:
        problems.check(parse_email, name("mail.from_address"), sender)


def _is_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_approval_grants(cfg, problems, name=config_key):
    """An approval lets its requester in for the policy's session_duration, or approvals.grant_seconds when the policy
    sets none: never longer than approvals.max_grant_seconds (24 hours unless the clinic says otherwise)."""
    approvals = cfg.get("approvals") or {}
    longest = approvals.get("max_grant_seconds", 86400)
    default = approvals.get("grant_seconds", 8 * 3600)
    if not is_int(longest) or not is_int(default):
        return  # the loader's own range checks name these
    if default > longest:
        problems.add(name("approvals.grant_seconds"), "%d is longer than %s (%d), the longest an approval may grant"
                     % (default, name("approvals.max_grant_seconds"), longest))
    policies = (cfg.get("access_policy") or {}).get("policies") if isinstance(cfg.get("access_policy"), dict) else None
    for index, policy in enumerate(policies if isinstance(policies, list) else []):
        if not isinstance(policy, dict) or not isinstance(policy.get("approval"), dict):
            continue
        if policy["approval"].get("required", True) is not True or not isinstance(policy.get("session_duration"), str):
            continue
        nanoseconds = duration_ns(policy["session_duration"].strip())
        if nanoseconds is not None and nanoseconds > longest * 10 ** 9:
            problems.add("%s.policies[%d].session_duration" % (name("access_policy"), index),
                         "%s (policy %s) is longer than %s (%d seconds): an approval would let the requester in "
                         "for longer than the clinic allows; shorten it or raise %s"
                         % (show(policy["session_duration"]), show(policy.get("name")),
                            name("approvals.max_grant_seconds"), longest, name("approvals.max_grant_seconds")))


def aud_tags(value):
    """The AUD tags as a list (the role accepts one tag as a string)."""
    return [value] if isinstance(value, str) else value


def check_config(cfg, problems=None, name=config_key, today=None, existing=None):
    """Record every problem of the gateway's configuration ``cfg`` (a mapping as the role writes it); returns
    ``problems``. ``today`` and ``existing``: see check_users (the role's check; the gateway's loader gives neither, as
    an account that expired since is simply expired)."""
    problems = Problems() if problems is None else problems
    if cfg.get("mode") not in MODES:
        problems.add(name("mode"), "%s is not 'standalone' or 'cloudflare'" % show(cfg.get("mode")))
    clinic = cfg.get("clinic_name")
    if not isinstance(clinic, str) or not clinic.strip():
        problems.add(name("clinic_name"), "must be set (shown on every page and in authenticator apps)")
    host = cfg.get("public_host")
    if not isinstance(host, str) or host != host.lower().strip().rstrip(".") or not is_hostname(host):
        problems.add(name("public_host"), "%s is not a lower-case host name without scheme or port" % show(host))
    cloudflare = cfg.get("cloudflare") or {}
    if cfg.get("mode") == "cloudflare":
        team = cloudflare.get("team_domain")
        if not isinstance(team, str) or not TEAM_RE.match(team):
            problems.add(name("cloudflare.team_domain"), "%s is not like <team>.cloudflareaccess.com" % show(team))
        aud = aud_tags(cloudflare.get("aud"))
        if not isinstance(aud, list) or not aud or not all(isinstance(a, str) and AUD_RE.match(a) for a in aud):
            problems.add(name("cloudflare.aud"), "%s is not one or more Access application AUD tags (64 hexadecimal "
                         "characters)" % show(cloudflare.get("aud")))
    listen = cfg.get("listen") or {}
    sock, auth_sock = listen.get("unix_socket"), listen.get("auth_socket", "")
    if "unix_socket" in listen and (not isinstance(sock, str) or not sock.startswith("/")):
        problems.add(name("listen.unix_socket"), "%s is not an absolute path" % show(sock))
    if auth_sock != "" and (not isinstance(auth_sock, str) or not auth_sock.startswith("/")):
        problems.add(name("listen.auth_socket"), "%s is not an absolute path" % show(auth_sock))
    elif auth_sock != "" and auth_sock == sock:
        # Two listeners cannot bind one path: the second start fails on the host, after every file has changed.
        problems.add(name("listen.auth_socket"), "%s is the same path as %s; the decisions need a socket of their own"
                     % (show(auth_sock), name("listen.unix_socket")))
    ttl = (cfg.get("decision_cache") or {}).get("max_age_seconds", 0)
    if not is_int(ttl) or not 0 <= ttl <= 60:
        problems.add(name("decision_cache.max_age_seconds"), "%s is not a whole number of seconds from 0 to 60"
                     % show(ttl))
    login = cfg.get("login") or {}
    per_user, per_address = login.get("max_failures"), login.get("max_failures_per_address")
    if is_int(per_user) and is_int(per_address) and per_address < per_user:
        problems.add(name("login.max_failures_per_address"), "%r is less than %s (%r); a shared address "
                     "(masquerading WireGuard gateway, office NAT) would be banned before the user"
                     % (per_address, name("login.max_failures"), per_user))
    audit = cfg.get("audit") or {}
    retention = audit.get("retention_days", RETENTION_DAYS[0])
    if not is_int(retention) or not RETENTION_DAYS[0] <= retention <= RETENTION_DAYS[1]:
        problems.add(name("audit.retention_days"), "%s is not a whole number of days from %d (a year) to %d"
                     % ((show(retention), *RETENTION_DAYS)))
    warn = audit.get("disk_warn_days", 1)
    if not is_int(warn) or not 1 <= warn <= 3650:
        problems.add(name("audit.disk_warn_days"), "%s is not a whole number of days from 1 to 3650" % show(warn))
    check_users(cfg.get("users", []), problems, name, today, existing)
    mail = cfg.get("mail") or {}
    if isinstance(mail, dict):
        check_mail(mail, problems, name)
    check_approval_grants(cfg, problems, name)
    return problems
