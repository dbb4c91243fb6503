#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_tunnel
short_description: Manage a Cloudflare Tunnel and its remotely managed ingress
version_added: 0.1.0
description:
  - Creates or deletes one Cloudflare Tunnel (C(cfd_tunnel)), found by O(name). Deleted tunnels are ignored (the
    module asks for live ones only, C(is_deleted=false), and skips any with C(deleted_at) an older API still lists), so
    a name can be reused after a delete.
  - Returns the tunnel id, the C(<id>.cfargotunnel.com) target for the DNS record, and, when the task runs with
    C(no_log=true), the tunnel token and credentials that the C(cloudflared) role needs
    (C(cloudflared_tunnel_token) or C(cloudflared_tunnel_credentials)).
  - With O(config_src=cloudflare) and O(ingress), also manages the tunnel's remotely managed configuration (the
    C(configurations) endpoint), that is which public hostnames go to which local service, and cloudflared's
    origin settings such as the Access token check.
  - Create the DNS record with M(community.general.cloudflare_dns) (type C(CNAME), value RV(cname), proxied).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  idempotent:
    description: Re-running with the same arguments changes nothing.
    support: full
options:
  name:
    description:
      - Name of the tunnel (not a UUID). Unique among the account's live tunnels.
    type: str
    required: true
  state:
    description:
      - V(present) creates the tunnel if needed, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  create:
    description:
      - V(false) fails, before any change, when no live tunnel has O(name), instead of creating one. For a run that
        must act on the clinic's existing tunnel, such as the lockdown's rotation of its secret. A new, unused tunnel
        would hide a misspelt name while the old token stays valid.
    type: bool
    default: true
  config_src:
    description:
      - V(cloudflare) for a remotely managed tunnel (cloudflared runs with a token; ingress lives in Cloudflare),
        V(local) for a locally managed one (credentials file and ingress in cloudflared's config file).
      - Cannot change once the tunnel exists.
    type: str
    choices: [cloudflare, local]
    default: cloudflare
  tunnel_secret:
    description:
      - The tunnel's secret, base64 of at least 32 random bytes. Generated on create when not given.
      - When given for an existing tunnel, the tunnel's secret is compared (through its token) and reset to this value
        if it differs. Keep it in Vault.
      - Like any C(no_log) argument, Ansible masks this value wherever it appears in the result, so
        RV(credentials.TunnelSecret) then reads C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER); use the value you passed.
    type: str
  ingress:
    description:
      - Remotely managed ingress rules (needs O(config_src=cloudflare)), in order. When not given, the configuration is
        left alone.
      - A catch-all rule (O(catch_all_service)) is added at the end unless the last rule already matches everything.
        It is sent with C(hostname="*"), which cloudflared treats as no hostname.
    type: list
    elements: dict
    suboptions:
      hostname:
        description: Public hostname (C(*.example.com) allowed), no scheme or port. Leave out for a catch-all.
        type: str
      path:
        description: Regular expression matched against the request path.
        type: str
      service:
        description:
          - Where cloudflared sends the traffic, such as V(https://127.0.0.1:443) (no path), V(http_status:404),
            V(tcp://...), V(unix:/path).
        type: str
        required: true
      origin_request:
        description:
          - cloudflared origin settings for this rule, with the API's names (C(originServerName), C(caPool),
            C(noTLSVerify), C(connectTimeout), C(access)...). Durations may be given as seconds or Go durations.
        type: dict
  origin_request:
    description:
      - cloudflared origin settings for every rule, as in O(ingress[].origin_request).
      - C(access) (C(required), C(teamName), C(audTag)) makes cloudflared check the Cloudflare Access token of every
        request against the application's AUD tags before it reaches OSCAR.
    type: dict
  catch_all_service:
    description:
      - Service of the catch-all rule added at the end of O(ingress).
    type: str
    default: http_status:404
  return_secrets:
    description:
      - Return RV(token) and RV(credentials). They are returned only when the task also runs with C(no_log=true)
        (a warning says so otherwise); set V(false) on a task that should show its diff and needs no secret.
    type: bool
    default: true
  remove_connections:
    description:
      - On delete, first remove the tunnel's connections (connectors, live or stale) with Cloudflare's documented
        clean-up call (C(DELETE .../cfd_tunnel/<id>/connections)); Cloudflare refuses to delete a tunnel that still
        has connections. A connector still running reconnects until it is stopped, so stop cloudflared first.
      - With V(false), a tunnel with connections is not deleted and the module fails with Cloudflare's error.
      - The old name O(cascade) is accepted. This module no longer sends the undocumented C(cascade=true) query that
        C(cloudflared tunnel delete) uses.
    type: bool
    default: true
    aliases: [cascade]
seealso:
  - module: community.general.cloudflare_dns
  - module: oscar_emr.remote_access.cloudflare_access_application
  - name: Tunnel configuration API
    description: The remotely managed configuration of a tunnel.
    link: https://developers.cloudflare.com/api/resources/zero_trust/subresources/tunnels/
"""

EXAMPLES = r"""
- name: The clinic's tunnel, routing OSCAR's hostname to the local front door
  oscar_emr.remote_access.cloudflare_tunnel:
    name: demo-clinic-oscar
    ingress:
      - hostname: emr.demo-clinic.example
        service: https://127.0.0.1:443
        origin_request:
          originServerName: emr.demo-clinic.example
    origin_request:
      connectTimeout: 30s
      access:
        required: true
        teamName: demo-clinic
        audTag: ["{{ oscar_app.aud }}"]
  register: tunnel
  no_log: true

- name: Point the hostname at the tunnel
  community.general.cloudflare_dns:
    zone: demo-clinic.example
    record: emr
    type: CNAME
    value: "{{ tunnel.cname }}"
    proxied: true
    api_token: "{{ cloudflare_api_token }}"

- name: Delete the tunnel
  oscar_emr.remote_access.cloudflare_tunnel:
    name: demo-clinic-oscar
    state: absent
"""

RETURN = r"""
tunnel_id:
  description: ID of the tunnel.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 6ff42ae2-765d-4adf-8112-31c55c1551ef
cname:
  description: Target of the DNS CNAME for the tunnel's hostnames.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 6ff42ae2-765d-4adf-8112-31c55c1551ef.cfargotunnel.com
tunnel:
  description: The tunnel as Cloudflare returned it (no secret).
  returned: when it exists (not in check mode for a new one)
  type: dict
token:
  description: The tunnel token for C(cloudflared tunnel run --token-file) (C(cloudflared_tunnel_token)).
  returned: when the tunnel exists, O(return_secrets=true) and the task runs with no_log
  type: str
credentials:
  description: The credentials file content for a locally managed tunnel (C(cloudflared_tunnel_credentials)).
  returned: when the tunnel exists, O(return_secrets=true) and the task runs with no_log
  type: dict
  contains:
    AccountTag:
      description: Account ID.
      type: str
      returned: always
    TunnelID:
      description: Tunnel ID.
      type: str
      returned: always
    TunnelName:
      description: Tunnel name.
      type: str
      returned: always
    TunnelSecret:
      description: Tunnel secret (base64).
      type: str
      returned: always
config:
  description: The remotely managed configuration as now in Cloudflare.
  returned: when O(ingress) is given and the tunnel exists
  type: dict
api_requests:
  description: HTTP requests this run made to the Cloudflare API.
  returned: always
  type: dict
  contains:
    reads:
      description: Number of GET requests.
      type: int
      returned: always
    writes:
      description: Number of POST, PUT, PATCH and DELETE requests.
      type: int
      returned: always
    calls:
      description: Each request as C(METHOD path -> status).
      type: list
      elements: str
      returned: always
"""

import base64  # noqa: E402
import binascii  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import uuid  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    AccessPolicyError,
    duration_seconds,
    validate_hostname,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    REDACTED,
    CloudflareModule,
)

DURATION_KEYS = ("connectTimeout", "tlsTimeout", "tcpKeepAlive", "keepAliveTimeout")
ORIGIN_KEYS = {
    "connectTimeout": "duration", "tlsTimeout": "duration", "tcpKeepAlive": "duration", "keepAliveTimeout": "duration",
    "keepAliveConnections": "int", "noHappyEyeballs": "bool", "noTLSVerify": "bool", "disableChunkedEncoding": "bool",
    "http2Origin": "bool", "matchSNItoHost": "bool", "httpHostHeader": "str", "originServerName": "str",
    "caPool": "str", "proxyType": "str", "access": "access",
}
SERVICE = re.compile(r"^(https?://[^/\s]+/?|unix(\+tls)?:\S+|(tcp|ssh|rdp|smb)://\S+|http_status:[1-5]\d\d|"
                     r"hello_world|bastion|socks-proxy)$")


def fail_at(where, value, reason):
    raise AccessPolicyError(where, value, reason)


def origin_request(data, where):
    if data is None:
        return {}
    if not isinstance(data, dict):
        fail_at(where, data, "must be a mapping")
    out = {}
    for key, value in data.items():
        here = "%s.%s" % (where, key)
        kind = ORIGIN_KEYS.get(key)
        if kind is None:
            fail_at(here, value, "is not a cloudflared originRequest setting (known: %s)"
                    % ", ".join(sorted(ORIGIN_KEYS)))
        if kind == "duration":
            if isinstance(value, bool):
                fail_at(here, value, "must be seconds or a duration such as '30s'")
            seconds = value if isinstance(value, int) else duration_seconds(str(value))
            if seconds is None or seconds < 0 or seconds != int(seconds):
                fail_at(here, value, "must be whole seconds or a duration such as '30s'")
            value = int(seconds)
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail_at(here, value, "must be a whole number")
        elif kind == "bool":
            if not isinstance(value, bool):
                fail_at(here, value, "must be true or false")
        elif kind == "str":
            if not isinstance(value, str):
                fail_at(here, value, "must be a string")
        elif kind == "access":
            if not isinstance(value, dict) or set(value) - {"required", "teamName", "audTag"}:
                fail_at(here, value, "must be a mapping with required, teamName and audTag")
            if not value.get("teamName") or not isinstance(value.get("teamName"), str):
                fail_at(here + ".teamName", value.get("teamName"),
                        "is required (the <team> of <team>.cloudflareaccess.com)")
            tags = value.get("audTag")
            if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
                fail_at(here + ".audTag", tags, "must list the Access applications' AUD tags")
            value = {"required": bool(value.get("required", True)), "teamName": value["teamName"],
                     "audTag": list(tags)}
        out[key] = value
    return out


def desired_ingress(rules, catch_all, where="ingress"):
    out = []
    for index, rule in enumerate(rules):
        here = "%s[%d]" % (where, index)
        hostname = rule.get("hostname")
        path = rule.get("path")
        item = {}
        if hostname not in (None, "", "*"):
            item["hostname"] = validate_hostname(hostname, here + ".hostname", allow_wildcard=True)
        else:
            item["hostname"] = "*"
        if path:
            try:
                re.compile(path)
            except re.error as error:
                fail_at(here + ".path", path, "is not a regular expression (%s)" % error)
            item["path"] = path
        service = (rule.get("service") or "").strip()
        if not SERVICE.match(service):
            fail_at(here + ".service", service, "is not a cloudflared service (https://host:port with no path, "
                    "http_status:NNN, tcp://, unix:...)")
        item["service"] = service.rstrip("/") if service.startswith("http") else service
        origin = origin_request(rule.get("origin_request"), here + ".origin_request")
        if origin:
            item["originRequest"] = origin
        is_catch_all = item["hostname"] == "*" and not path
        if is_catch_all and index != len(rules) - 1:
            fail_at(here, hostname or "*", "matches every request, so the rules after it could never match; put the "
                    "catch-all last")
        out.append(item)
    if not out or not (out[-1]["hostname"] == "*" and "path" not in out[-1]):
        if not SERVICE.match(catch_all):
            fail_at("catch_all_service", catch_all, "is not a cloudflared service")
        out.append({"hostname": "*", "service": catch_all})
    return out


def comparable_config(config):
    config = config or {}
    rules = []
    for rule in config.get("ingress") or []:
        item = dict((k, v) for k, v in rule.items() if v not in (None, "", {}))
        if item.get("hostname") in (None, "", "*"):
            item["hostname"] = "*"
        rules.append(item)
    return {"ingress": rules, "originRequest": dict(config.get("originRequest") or {})}


def decode_token(token):
    try:
        data = json.loads(base64.b64decode(token).decode("utf-8"))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            create=dict(type="bool", default=True),
            config_src=dict(type="str", default="cloudflare", choices=["cloudflare", "local"]),
            tunnel_secret=dict(type="str", no_log=True),
            ingress=dict(type="list", elements="dict", options=dict(
                hostname=dict(type="str"),
                path=dict(type="str"),
                service=dict(type="str", required=True),
                origin_request=dict(type="dict"),
            )),
            origin_request=dict(type="dict"),
            catch_all_service=dict(type="str", default="http_status:404"),
            remove_connections=dict(type="bool", default=True, aliases=["cascade"]),
            return_secrets=dict(type="bool", default=True),
        ),
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")
    try:
        uuid.UUID(name)
        cf.fail("name must not be a UUID: Cloudflare would mistake it for a tunnel id")
    except ValueError:
        pass

    secret = params["tunnel_secret"]
    if secret is not None:
        try:
            if len(base64.b64decode(secret, validate=True)) < 32:
                cf.fail("tunnel_secret must be base64 of at least 32 bytes")
        except (binascii.Error, ValueError):
            cf.fail("tunnel_secret must be base64 (of at least 32 random bytes)")

    config = None
    if params["ingress"] is not None or params["origin_request"] is not None:
        if params["config_src"] != "cloudflare":
            cf.fail("ingress and origin_request manage a remotely managed configuration: they need "
                    "config_src=cloudflare (a local tunnel's ingress lives in cloudflared's config file)")
        try:
            config = {"ingress": desired_ingress(params["ingress"] or [], params["catch_all_service"].strip())}
            origin = origin_request(params["origin_request"], "origin_request")
            if origin:
                config["originRequest"] = origin
        except AccessPolicyError as error:
            cf.invalid(error)

    candidates = cf.list(cf.path("cfd_tunnel"), {"name": name, "is_deleted": False})
    live = [t for t in candidates if t.get("name") == name and not t.get("deleted_at")]
    if len(live) > 1:
        ids = ", ".join(t["id"] for t in live)
        cf.fail("%d live tunnels are named %r (ids: %s); delete the extras" % (len(live), name, ids))
    current = live[0] if live else None
    if current is None and params["state"] == "present" and not params["create"]:
        cf.fail("no live tunnel is named %r in the account, and create is false: nothing was changed (is the name "
                "right?)" % name)

    if params["state"] == "absent":
        if current is None:
            cf.exit(False)
        before = {"name": name, "id": current["id"], "config_src": current.get("config_src")}
        if not cf.check_mode:
            if params["remove_connections"]:
                cf.call(cf.client.delete, cf.path("cfd_tunnel", current["id"], "connections"))
            cf.call(cf.client.delete, cf.path("cfd_tunnel", current["id"]))
        cf.exit(True, before=before, after={}, tunnel_id=current["id"])

    changed = False
    result = {}
    before = {}
    after = {"name": name, "config_src": params["config_src"]}
    if secret is not None:
        after["tunnel_secret"] = REDACTED
    token = None

    if current is None:
        changed = True
        if config is not None:
            after["config"] = comparable_config(config)
        if cf.check_mode:
            cf.exit(True, before={}, after=after)
        body = {"name": name, "config_src": params["config_src"],
                "tunnel_secret": secret or base64.b64encode(os.urandom(32)).decode("ascii")}
        current = cf.call(cf.client.post, cf.path("cfd_tunnel"), body)
        token = current.pop("token", None)
        current.pop("credentials_file", None)
        if config is not None:
            stored = cf.call(cf.client.put, cf.path("cfd_tunnel", current["id"], "configurations"), {"config": config})
            result["config"] = (stored or {}).get("config")
    else:
        source = current.get("config_src") or ("cloudflare" if current.get("remote_config") else "local")
        before = {"name": name, "config_src": source}
        if source != params["config_src"]:
            cf.fail("tunnel %r exists with config_src=%s; a tunnel cannot switch between remotely and locally managed. "
                    "Delete it (state: absent) or set config_src: %s." % (name, source, source))
        tunnel_path = cf.path("cfd_tunnel", current["id"])
        if secret is not None:
            token = cf.call(cf.client.get, tunnel_path + "/token")
            actual = (decode_token(token) or {}).get("s")
            before["tunnel_secret"] = REDACTED
            if actual != secret:
                changed = True
                after["tunnel_secret"] = REDACTED + " (new)"
                if not cf.check_mode:
                    cf.call(cf.client.patch, tunnel_path, {"tunnel_secret": secret})
                    token = None
        if config is not None:
            stored = cf.call(cf.client.get, tunnel_path + "/configurations") or {}
            before["config"] = comparable_config(stored.get("config"))
            after["config"] = comparable_config(config)
            result["config"] = stored.get("config")
            if before["config"] != after["config"]:
                changed = True
                if not cf.check_mode:
                    stored = cf.call(cf.client.put, tunnel_path + "/configurations", {"config": config})
                    result["config"] = (stored or {}).get("config")
        else:
            after = dict(before, **dict((k, v) for k, v in after.items() if k != "config"))

    result.update(tunnel_id=current["id"], cname="%s.cfargotunnel.com" % current["id"],
                  tunnel=dict((k, v) for k, v in current.items() if k not in ("token", "credentials_file")))
    if not params["return_secrets"]:
        pass
    elif cf.module.no_log:
        if token is None:
            token = cf.call(cf.client.get, cf.path("cfd_tunnel", current["id"], "token"))
        data = decode_token(token) or {}
        result["token"] = token
        result["credentials"] = {"AccountTag": data.get("a", cf.account_id), "TunnelID": current["id"],
                                 "TunnelName": name, "TunnelSecret": data.get("s")}
    else:
        cf.module.warn("the tunnel token and credentials are returned only when the task sets no_log: true "
                       "(set return_secrets: false to silence this)")
    cf.exit(changed, before=before, after=after, **result)


if __name__ == "__main__":
    main()
