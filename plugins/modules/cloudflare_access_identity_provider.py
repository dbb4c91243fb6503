#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_identity_provider
short_description: Manage a Cloudflare Zero Trust login method (identity provider)
version_added: 0.1.0
description:
  - Creates, updates or deletes one Cloudflare Access identity provider ("login method"), found by O(name).
  - Supports one-time PIN by email, SAML, Microsoft Entra ID (Azure AD), Google Workspace, Okta and generic OIDC.
  - The client secret is write-only at Cloudflare, so it is sent on create (and with O(update_secret=always)) and never
    compared or shown.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  idempotent:
    description: Re-running with the same arguments changes nothing.
    support: partial
    details: Not idempotent with O(update_secret=always), which sends the secret on every run.
options:
  name:
    description:
      - Name of the login method, shown to users on the Access login page. Must be unique in the account.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the login method, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Kind of identity provider. V(azureAD) and V(google-apps) (Cloudflare's names) are accepted too.
      - Required with O(state=present).
    type: str
    choices: [onetimepin, saml, azure_ad, google_workspace, okta, oidc, azureAD, google-apps]
  config:
    description:
      - Settings of the provider, without the client secret (use O(client_secret)).
      - V(onetimepin) takes none.
      - V(saml) needs C(issuer_url), C(sso_target_url), C(idp_public_certs); optional C(sign_request),
        C(attributes), C(email_attribute_name), C(header_attributes), C(enable_encryption).
      - V(azure_ad) needs C(client_id), C(directory_id); optional C(support_groups), C(conditional_access_enabled),
        C(prompt) (V(login), V(select_account), V(none)), C(claims), C(email_claim_name).
      - V(google_workspace) needs C(client_id), C(apps_domain); optional C(claims), C(email_claim_name).
      - V(okta) needs C(client_id), C(okta_account) (an https URL); optional C(authorization_server_id),
        C(claims), C(email_claim_name).
      - V(oidc) needs C(client_id), C(auth_url), C(token_url), C(certs_url) (https URLs); optional C(scopes),
        C(claims), C(email_claim_name), C(pkce_enabled) (only V(oidc) has PKCE in Cloudflare's API).
      - Unknown keys are refused, so a typo does not pass silently.
    type: dict
    default: {}
  client_secret:
    description:
      - OAuth client secret for V(azure_ad), V(google_workspace), V(okta) and V(oidc); required to create one.
    type: str
  update_secret:
    description:
      - V(on_create) sends O(client_secret) only when the login method is created or updated for another reason.
      - V(always) sends it on every run (the module then always reports a change), to roll a new secret out.
    type: str
    choices: [on_create, always]
    default: on_create
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
  - module: oscar_emr.remote_access.cloudflare_access_application
"""

EXAMPLES = r"""
- name: Email one-time PIN
  oscar_emr.remote_access.cloudflare_access_identity_provider:
    name: Email one-time PIN
    type: onetimepin
    api_token: "{{ cloudflare_api_token }}"
    account_id: "{{ cloudflare_account_id }}"

- name: The clinic's Microsoft 365 tenant
  oscar_emr.remote_access.cloudflare_access_identity_provider:
    name: Clinic Microsoft 365
    type: azure_ad
    config:
      client_id: 0f2a1c3e-0000-4000-8000-000000000001
      directory_id: 7d1b6f7e-0000-4000-8000-000000000002
      support_groups: true
    client_secret: "{{ vault_entra_client_secret }}"

- name: Remove a login method
  oscar_emr.remote_access.cloudflare_access_identity_provider:
    name: Old Okta
    state: absent
"""

RETURN = r"""
id:
  description: ID of the login method; use it in C(allowed_idps) and C(login_method) rules.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 4f7e6a2c-1b1d-4c55-9f33-6a1f2c3d4e5f
identity_provider:
  description: The login method as Cloudflare holds it, with secrets replaced by C(********).
  returned: when it exists
  type: dict
  contains:
    id:
      description: ID.
      type: str
      returned: always
    name:
      description: Name.
      type: str
      returned: always
    type:
      description: Cloudflare's type name (V(onetimepin), V(saml), V(azureAD), V(google-apps), V(okta), V(oidc)).
      type: str
      returned: always
    config:
      description: Settings, secrets redacted.
      type: dict
      returned: always
  sample:
    id: 4f7e6a2c-1b1d-4c55-9f33-6a1f2c3d4e5f
    name: Email one-time PIN
    type: onetimepin
    config: {}
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
  sample: {"reads": 1, "writes": 0, "calls": ["GET /accounts/0123/access/identity_providers -> 200"]}
"""

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    _IDP_CONFIG,
    IDP_SECRET_KEYS,
    AccessPolicyError,
    api_idp_type,
    model_idp_type,
    normalize_login_method_type,
    validate_idp_config,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    REDACTED,
    CloudflareModule,
    redact,
)


def comparable_config(idp_type, config):
    """The non-secret settings of a login method, every known key present, lists sorted."""
    if idp_type not in _IDP_CONFIG:
        return dict((k, v) for k, v in (config or {}).items() if k not in IDP_SECRET_KEYS)
    required, optional = _IDP_CONFIG[idp_type]
    out = {}
    for key, kind in list(required.items()) + list(optional.items()):
        if key in IDP_SECRET_KEYS:
            continue
        value = (config or {}).get(key)
        if kind == "bool":
            value = bool(value)
        elif kind == "list":
            value = sorted(value or [], key=lambda item: item if isinstance(item, str) else repr(sorted(item.items())))
        elif value in ("", None):
            value = None
        out[key] = value
    return out


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            type=dict(type="str", choices=["onetimepin", "saml", "azure_ad", "google_workspace", "okta", "oidc",
                                           "azureAD", "google-apps"]),
            config=dict(type="dict", default={}),
            client_secret=dict(type="str", no_log=True),
            update_secret=dict(type="str", default="on_create", choices=["on_create", "always"]),
        ),
        required_if=[("state", "present", ["type"])],
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")

    desired = None
    if params["state"] == "present":
        try:
            idp_type = normalize_login_method_type(params["type"], "type")
            full = dict(params["config"] or {})
            if "client_secret" in full:
                cf.fail("config.client_secret: pass the secret in the client_secret option (it is no_log there)")
            if params["client_secret"] is not None:
                full["client_secret"] = params["client_secret"]
            elif "client_secret" in _IDP_CONFIG[idp_type][0]:
                full["client_secret"] = "placeholder"  # noqa: S105 - stands in for validation; never sent
            clean = validate_idp_config(idp_type, full, "config")
        except AccessPolicyError as error:
            cf.invalid(error)
        desired = {"name": name, "type": api_idp_type(idp_type), "config": clean}

    current = cf.find_by_name("access/identity_providers", name, "identity provider")

    if params["state"] == "absent":
        if current is None:
            cf.exit(False)
        if not cf.check_mode:
            cf.call(cf.client.delete, cf.path("access", "identity_providers", current["id"]))
        before = {"name": name, "type": current.get("type"),
                  "config": comparable_config(model_idp_type(current.get("type")), current.get("config"))}
        cf.exit(True, before=before, after={}, id=current["id"])

    model_type = model_idp_type(desired["type"])
    needs_secret = "client_secret" in _IDP_CONFIG[model_type][0]
    after = {"name": name, "type": desired["type"], "config": comparable_config(model_type, desired["config"])}
    if needs_secret:
        after["config"]["client_secret"] = REDACTED
    body = {"name": name, "type": desired["type"], "config": dict(desired["config"])}
    if params["client_secret"] is None:
        body["config"].pop("client_secret", None)

    if current is None:
        if needs_secret and params["client_secret"] is None:
            cf.fail("client_secret is required to create a %s login method" % model_type)
        result = None
        if not cf.check_mode:
            result = cf.call(cf.client.post, cf.path("access", "identity_providers"), body)
        cf.exit(True, before={}, after=after, id=(result or {}).get("id"),
                identity_provider=redact(result, IDP_SECRET_KEYS) if result else None)

    if current.get("type") != desired["type"]:
        cf.fail("the login method %r exists with type %r; Cloudflare cannot change a login method's type. Delete it "
                "(state: absent) or choose another name." % (name, current.get("type")))
    before = {"name": name, "type": current.get("type"),
              "config": comparable_config(model_type, current.get("config"))}
    if needs_secret:
        before["config"]["client_secret"] = REDACTED
    send_secret = params["update_secret"] == "always" and params["client_secret"] is not None  # noqa: S105
    if before == after and not send_secret:
        cf.exit(False, before=before, after=after, id=current["id"],
                identity_provider=redact(current, IDP_SECRET_KEYS))
    if send_secret and before == after:
        after = dict(after, config=dict(after["config"], client_secret=REDACTED + " (new)"))
    result = current
    if not cf.check_mode:
        result = cf.call(cf.client.put, cf.path("access", "identity_providers", current["id"]), body)
    cf.exit(True, before=before, after=after, id=current["id"], identity_provider=redact(result, IDP_SECRET_KEYS))


if __name__ == "__main__":
    main()
