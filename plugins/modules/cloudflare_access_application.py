#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_application
short_description: Manage a self-hosted Cloudflare Access application (the clinic's OSCAR)
version_added: 0.1.0
description:
  - Creates, updates or deletes one self-hosted Cloudflare Access application, found by O(name).
  - It puts Cloudflare Access in front of the clinic's OSCAR hostname (and optionally a path below it), with the
    allowed login methods, session length, cookie attributes and reusable policies (by name, in order of precedence).
  - Returns the application's AUD tag (RV(aud)), which cloudflared's origin check and the clinic gateway need to
    verify Access tokens.
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
      - Name of the application, shown in the App Launcher. Must be unique among the account's applications.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the application, V(absent) deletes it (its AUD tag is then gone for good).
    type: str
    choices: [present, absent]
    default: present
  domain:
    description:
      - The protected host, optionally with a path, without scheme, for example V(emr.demo-clinic.example) or
        V(emr.demo-clinic.example/oscar/ws). Required with O(state=present).
      - Cloudflare applies the most specific application to a request, so an application on a path overrides the one
        on the host for that path.
    type: str
  destinations:
    description:
      - The public hosts and paths the application covers; defaults to O(domain) alone.
    type: list
    elements: str
  session_duration:
    description:
      - How long an Access session lasts, as a Go duration (V(30m), V(8h), V(24h); at most V(730h)).
    type: str
    default: 24h
  allowed_identity_providers:
    description:
      - Names of the login methods users may choose from. Empty means every login method of the account.
    type: list
    elements: str
    default: []
  auto_redirect_to_identity:
    description:
      - Skip the login method choice and go straight to the only allowed one (needs exactly one in
        O(allowed_identity_providers)).
    type: bool
    default: false
  app_launcher_visible:
    description:
      - Show the application in the user's App Launcher.
    type: bool
    default: true
  same_site_cookie_attribute:
    description:
      - SameSite attribute of the C(CF_Authorization) cookie.
    type: str
    choices: [none, lax, strict]
    default: lax
  http_only_cookie_attribute:
    description:
      - Set HttpOnly on the cookie, so scripts cannot read it.
    type: bool
    default: true
  enable_binding_cookie:
    description:
      - Bind the session to the browser with an extra cookie, against stolen-cookie reuse.
    type: bool
    default: false
  path_cookie_attribute:
    description:
      - Scope the cookie to the application's path.
    type: bool
    default: false
  skip_interstitial:
    description:
      - Skip the Access interstitial page shown to non-browser clients.
    type: bool
    default: false
  service_auth_401_redirect:
    description:
      - Answer HTTP 401 instead of redirecting to the login page when a service_auth policy refuses a request
        (better for machine clients).
    type: bool
    default: false
  custom_deny_message:
    description:
      - Message shown to users Access refuses.
    type: str
  policies:
    description:
      - Reusable policies (see M(oscar_emr.remote_access.cloudflare_access_policy)) that apply to the application.
      - Each item is a policy name, or a mapping with C(name) and C(precedence). Without precedence, the list order
        gives precedence 1, 2, 3...
      - Cloudflare evaluates bypass and service_auth policies first, then allow and deny by precedence.
    type: list
    elements: raw
    default: []
  mfa:
    description:
      - Cloudflare Access's own MFA for this application (its C(mfa_config)), overriding the organisation's default
        (M(oscar_emr.remote_access.cloudflare_access_organization)); policies can override it in turn.
      - Not set, the application has no MFA setting of its own (one set in the dashboard is kept) and the
        organisation's default applies.
    type: dict
    suboptions:
      required:
        description:
          - V(true) asks for a second factor; V(false) turns the organisation's MFA off for this application
            (C(mfa_disabled)), for example on a path only machines use.
        type: bool
        default: true
      allowed_authenticators:
        description: The second factors allowed.
        type: list
        elements: str
        choices: [totp, biometrics, security_key]
        default: [totp, biometrics, security_key]
      session_duration:
        description: How long one MFA check lasts, in minutes or hours; at most V(720h).
        type: str
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
  - module: oscar_emr.remote_access.cloudflare_tunnel
"""

EXAMPLES = r"""
- name: OSCAR behind Cloudflare Access, 8-hour sessions, one-time PIN only
  oscar_emr.remote_access.cloudflare_access_application:
    name: OSCAR EMR - Demo Family Practice
    domain: emr.demo-clinic.example
    session_duration: 8h
    allowed_identity_providers: [Email one-time PIN]
    auto_redirect_to_identity: true
    enable_binding_cookie: true
    policies:
      - "demo-clinic: clinicians"
      - "demo-clinic: front desk"
  register: oscar_app

- name: Give the AUD tag to cloudflared and the gateway
  ansible.builtin.set_fact:
    cloudflared_access_aud_tags: ["{{ oscar_app.aud }}"]
"""

RETURN = r"""
id:
  description: ID of the application.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 5e1b7c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d
aud:
  description: The application's AUD tag; Access tokens for it carry it in their C(aud) claim.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 4714c1358e65fe4b408ad6d432a5f878f08194bdb6752d2ef32e6d9fe4ed23df
application:
  description: The application as Cloudflare returned it.
  returned: when it exists (not in check mode for a new one)
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

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    MAX_SESSION_DURATION,
    AccessPolicyError,
    canonical_duration,
    cloudflare_mfa_config,
    validate_duration,
    validate_hostname,
    validate_mfa_session,
    validate_path_prefix,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (  # noqa: E402
    CloudflareAPIError,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    CloudflareModule,
)

FLAGS = ("auto_redirect_to_identity", "app_launcher_visible", "http_only_cookie_attribute", "enable_binding_cookie",
         "path_cookie_attribute", "skip_interstitial", "service_auth_401_redirect")


def validate_location(value, where):
    """``host[/path]`` -> canonical form."""
    if not isinstance(value, str) or not value.strip():
        raise AccessPolicyError(where, value, "is not a host or host/path")
    text = value.strip()
    if "://" in text:
        raise AccessPolicyError(where, value, "must not include a scheme: give host or host/path")
    host, slash, path = text.partition("/")
    host = validate_hostname(host, where, allow_wildcard=True)
    if not slash:
        return host
    return host + validate_path_prefix("/" + path, where)


def desired_policies(items):
    out = []
    for index, item in enumerate(items or []):
        where = "policies[%d]" % index
        if isinstance(item, str):
            name, precedence = item, index + 1
        elif isinstance(item, dict) and set(item) <= {"name", "precedence"} and item.get("name"):
            name, precedence = item["name"], item.get("precedence", index + 1)
        else:
            raise AccessPolicyError(where, item, "must be a policy name or a mapping with name and precedence")
        if isinstance(precedence, bool) or not isinstance(precedence, int) or precedence < 1:
            raise AccessPolicyError(where + ".precedence", precedence, "must be a whole number of 1 or more")
        out.append({"name": str(name).strip(), "precedence": precedence})
    names = [p["name"] for p in out]
    precedences = [p["precedence"] for p in out]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise AccessPolicyError("policies[%d]" % index, name, "is listed twice")
    for index, precedence in enumerate(precedences):
        if precedences.index(precedence) != index:
            raise AccessPolicyError("policies[%d].precedence" % index, precedence, "is used twice; precedence values "
                                    "must be unique within an application")
    return sorted(out, key=lambda p: p["precedence"])


def desired_mfa(mfa):
    """The ``mfa`` option -> the ``mfa_config`` to send, canonical (None when the option is not set)."""
    if mfa is None:
        return None
    if not mfa["required"]:
        return {"mfa_disabled": True}
    if not mfa["allowed_authenticators"]:
        raise AccessPolicyError.at("mfa.allowed_authenticators", "must name at least one authenticator")
    session = None
    if mfa["session_duration"] is not None:
        session = validate_mfa_session(mfa["session_duration"], "mfa.session_duration")
    config = cloudflare_mfa_config({"required": True, "enforced_by": "cloudflare", "session_duration": session,
                                    "allowed_authenticators": sorted(set(mfa["allowed_authenticators"]))})
    return comparable_mfa(config)


def comparable_mfa(config):
    """An ``mfa_config`` reduced to what it means (for comparisons and diffs)."""
    if not config:
        return None
    if config.get("mfa_disabled"):
        return {"mfa_disabled": True}
    out = {"mfa_disabled": False, "allowed_authenticators": sorted(set(config.get("allowed_authenticators") or []))}
    if config.get("session_duration"):
        out["session_duration"] = canonical_duration(config["session_duration"])
    return out


def comparable_current(app, reverse_idp):
    destinations = [d.get("uri") for d in (app.get("destinations") or []) if d.get("type", "public") == "public"]
    if not destinations:
        destinations = list(app.get("self_hosted_domains") or [app.get("domain")])
    idps = sorted((reverse_idp(i) or "id:%s" % i) for i in (app.get("allowed_idps") or []))
    out = {
        "name": app.get("name"),
        "domain": app.get("domain"),
        "destinations": sorted(destinations),
        "session_duration": canonical_duration(app.get("session_duration") or "24h"),
        "allowed_identity_providers": idps,
        "same_site_cookie_attribute": app.get("same_site_cookie_attribute"),
        "custom_deny_message": app.get("custom_deny_message") or None,
        "policies": sorted(({"name": p.get("name"), "precedence": p.get("precedence")}
                            for p in (app.get("policies") or [])), key=lambda p: (p["precedence"] or 0, p["name"])),
    }
    defaults = {"app_launcher_visible": True, "http_only_cookie_attribute": True}
    for flag in FLAGS:
        out[flag] = bool(app.get(flag, defaults.get(flag, False)))
    return out


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            domain=dict(type="str"),
            destinations=dict(type="list", elements="str"),
            session_duration=dict(type="str", default="24h"),
            allowed_identity_providers=dict(type="list", elements="str", default=[]),
            auto_redirect_to_identity=dict(type="bool", default=False),
            app_launcher_visible=dict(type="bool", default=True),
            same_site_cookie_attribute=dict(type="str", default="lax", choices=["none", "lax", "strict"]),
            http_only_cookie_attribute=dict(type="bool", default=True),
            enable_binding_cookie=dict(type="bool", default=False),
            path_cookie_attribute=dict(type="bool", default=False),
            skip_interstitial=dict(type="bool", default=False),
            service_auth_401_redirect=dict(type="bool", default=False),
            custom_deny_message=dict(type="str"),
            policies=dict(type="list", elements="raw", default=[]),
            mfa=dict(type="dict", options=dict(
                required=dict(type="bool", default=True),
                allowed_authenticators=dict(type="list", elements="str", choices=["totp", "biometrics", "security_key"],
                                            default=["totp", "biometrics", "security_key"]),
                session_duration=dict(type="str"),
            )),
        ),
        required_if=[("state", "present", ["domain"])],
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")

    desired = None
    if params["state"] == "present":
        try:
            domain = validate_location(params["domain"], "domain")
            destinations = [validate_location(d, "destinations[%d]" % i)
                            for i, d in enumerate(params["destinations"] or [domain])]
            session = validate_duration(params["session_duration"], "session_duration", maximum=MAX_SESSION_DURATION)
            idps = [i.strip() for i in params["allowed_identity_providers"]]
            if params["auto_redirect_to_identity"] and len(idps) != 1:
                raise AccessPolicyError.at("auto_redirect_to_identity", "needs exactly one allowed_identity_providers "
                                           "entry (%d given)" % len(idps))
            policies = desired_policies(params["policies"])
            mfa = desired_mfa(params["mfa"])
        except AccessPolicyError as error:
            cf.invalid(error)
        desired = {
            "name": name,
            "domain": domain,
            "destinations": sorted(set(destinations)),
            "session_duration": canonical_duration(session),
            "allowed_identity_providers": sorted(set(idps)),
            "same_site_cookie_attribute": params["same_site_cookie_attribute"],
            "custom_deny_message": params["custom_deny_message"] or None,
            "policies": policies,
        }
        for flag in FLAGS:
            desired[flag] = params[flag]
        if params["mfa"] is not None:
            desired["mfa"] = mfa

    current = cf.find_by_name("access/apps", name, "Access application", query={"name": name})

    if params["state"] == "absent":
        if current is None:
            cf.exit(False)
        before = comparable_current(current, lambda i: None)
        if not cf.check_mode:
            cf.call(cf.client.delete, cf.path("access", "apps", current["id"]))
        cf.exit(True, before=before, after={}, id=current["id"], aud=current.get("aud"))

    if desired["allowed_identity_providers"] or (current or {}).get("allowed_idps"):
        cf.lookup("login_method")
    before = comparable_current(current, lambda i: cf.reverse("login_method", i)) if current else {}
    if current is not None and "mfa" in desired:
        before["mfa"] = comparable_mfa(current.get("mfa_config"))
    after = desired
    if current is not None and before == after:
        cf.exit(False, before=before, after=after, id=current["id"], aud=current.get("aud"), application=current)

    if desired["policies"]:
        cf.lookup("policy")
    if desired["allowed_identity_providers"]:
        cf.lookup("login_method")

    def resolve(kind, value, where):
        try:
            return cf.resolve(kind, value, where)
        except AccessPolicyError as error:
            if cf.check_mode:
                cf.module.warn("check mode: %s; a real run fails unless an earlier task creates it" % error)
                return None
            cf.invalid(error)
        return None

    idp_ids = [resolve("login_method", n, "allowed_identity_providers[%d]" % i)
               for i, n in enumerate(desired["allowed_identity_providers"])]
    links = [{"id": resolve("policy", p["name"], "policies[%d]" % i), "precedence": p["precedence"]}
             for i, p in enumerate(desired["policies"])]
    if cf.check_mode:
        cf.exit(True, before=before, after=after, id=(current or {}).get("id"), aud=(current or {}).get("aud"),
                application=current)

    body = {
        "type": "self_hosted",
        "name": name,
        "domain": desired["domain"],
        "destinations": [{"type": "public", "uri": d} for d in desired["destinations"]],
        "session_duration": params["session_duration"].strip(),
        "allowed_idps": idp_ids,
        "same_site_cookie_attribute": desired["same_site_cookie_attribute"],
        "policies": links,
    }
    for flag in FLAGS:
        body[flag] = desired[flag]
    if desired["custom_deny_message"]:
        body["custom_deny_message"] = desired["custom_deny_message"]
    if "mfa" in desired:
        body["mfa_config"] = desired["mfa"]
    elif (current or {}).get("mfa_config"):
        body["mfa_config"] = current["mfa_config"]  # a PUT replaces the application: keep what the task leaves alone
    try:
        if current is None:
            result = cf.client.post(cf.path("access", "apps"), body)
        else:
            result = cf.client.put(cf.path("access", "apps", current["id"]), body)
    except CloudflareAPIError as error:
        if 11010 in error.codes:
            cf.fail("another Access application already protects %s (Cloudflare error 11010): rename that application "
                    "to %r or delete it; %s" % (desired["domain"], name, error), status=error.status,
                    cloudflare_errors=error.errors)
        cf.fail(str(error), status=error.status, cloudflare_errors=error.errors)
    cf.exit(True, before=before, after=after, id=result.get("id"), aud=result.get("aud"), application=result)


if __name__ == "__main__":
    main()
