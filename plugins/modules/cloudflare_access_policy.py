#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_policy
short_description: Manage a reusable Cloudflare Access policy
version_added: 0.1.0
description:
  - Creates, updates or deletes one reusable (account-level) Cloudflare Access policy, found by O(name).
  - Rules are written the way people think (emails, email domains, IP ranges, countries, groups, login methods,
    service tokens, everyone) and translated to Cloudflare's rule objects; groups, login methods and service tokens
    are given by name and resolved to their ids.
  - The arguments are checked by the same validator as the C(access_policy) inventory model
    (see C(docs/access-policy.md)), so a mistake is reported with the argument's path and value (for example
    C(include.ip_ranges[0]), C(10.0.0.300/32), not a valid CIDR).
  - Link the policy to an application with M(oscar_emr.remote_access.cloudflare_access_application).
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
      - Name of the policy. Must be unique among the account's reusable policies.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the policy, V(absent) deletes it.
      - Cloudflare refuses to delete a policy an application still uses; remove it from the application first.
    type: str
    choices: [present, absent]
    default: present
  decision:
    description:
      - V(allow) lets matching users in after they log in; V(deny) blocks them.
      - V(bypass) lets matching requests through without any check or log (network rules only).
      - V(service_auth) (Cloudflare's V(non_identity)) admits machines by service token or network, without a login.
      - Required with O(state=present).
    type: str
    choices: [allow, deny, bypass, service_auth, non_identity]
  include:
    description:
      - A request matches the policy when it matches B(any) of these rules. Required with O(state=present).
    type: dict
    suboptions: &rules
      emails:
        description: Email addresses.
        type: list
        elements: str
      email_domains:
        description: Email domains, such as V(clinic.example).
        type: list
        elements: str
      ip_ranges:
        description:
          - IPv4/IPv6 addresses or CIDR networks.
          - A range that contains loopback (V(127.0.0.1), V(::1)) is refused in any but a V(deny) policy, since behind
            a tunnel every request comes from loopback.
        type: list
        elements: str
      countries:
        description: ISO 3166-1 alpha-2 country codes, such as V(CA).
        type: list
        elements: str
      groups:
        description: Names of Access groups (see M(oscar_emr.remote_access.cloudflare_access_group)).
        type: list
        elements: str
      login_methods:
        description: Names of login methods (identity providers) the user must have logged in with.
        type: list
        elements: str
      service_tokens:
        description: Names of service tokens (only in V(service_auth) and V(deny) policies).
        type: list
        elements: str
      auth_methods:
        description: RFC 8176 authentication methods the identity provider reports, such as V(mfa) or V(hwk).
        type: list
        elements: str
      everyone:
        description: Match everyone.
        type: bool
        default: false
      any_service_token:
        description: Match any valid service token of the account.
        type: bool
        default: false
  require:
    description:
      - A request must match B(every) rule listed here as well. Each value is its own rule, so several emails or
        countries here can never all match; such lists are refused.
    type: dict
    suboptions: *rules
  exclude:
    description:
      - A request that matches B(any) rule here does not match the policy.
    type: dict
    suboptions: *rules
  session_duration:
    description:
      - How long a session this policy grants lasts, as a Go duration (V(30m), V(8h), V(24h); at most V(730h)).
      - Defaults to Cloudflare's default of V(24h) when not set. Only for V(allow) and V(service_auth).
    type: str
  purpose_justification_required:
    description:
      - Ask users to state why they need access at the start of each session. Only for V(allow).
    type: bool
    default: false
  purpose_justification_prompt:
    description:
      - The question shown with O(purpose_justification_required).
    type: str
  approval_required:
    description:
      - Users get in only after approvers from O(approval_groups) grant the request ("temporary authentication").
      - Needs O(purpose_justification_required=true). Only for V(allow).
    type: bool
    default: false
  approval_groups:
    description:
      - Who approves, and how many of them must.
    type: list
    elements: dict
    default: []
    suboptions:
      emails:
        description: Email addresses of the approvers.
        type: list
        elements: str
        required: true
      approvals_needed:
        description: Approvals needed from this group (at least 1, at most the number of approvers).
        type: int
        default: 1
      name:
        description: A label for readers of the playbook; Cloudflare does not store it.
        type: str
  mfa:
    description:
      - Cloudflare's own multi-factor authentication for this policy (independent of the login method), asked after
        login. Omit it to ask for none. Only for V(allow).
      - To rely on the identity provider's MFA instead, add V(mfa) to O(require.auth_methods).
    type: dict
    suboptions:
      required:
        description: Whether MFA is required.
        type: bool
        default: true
      allowed_authenticators:
        description: Which second factors users may use.
        type: list
        elements: str
        choices: [totp, biometrics, security_key]
        default: [totp, biometrics, security_key]
      session_duration:
        description: How long an MFA session lasts, as a Go duration.
        type: str
  isolation_required:
    description:
      - Serve the application in Cloudflare Browser Isolation (needs that add-on).
    type: bool
    default: false
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_application
  - module: oscar_emr.remote_access.cloudflare_access_group
  - name: Access policies
    description: Cloudflare's description of actions, rule types and selectors.
    link: https://developers.cloudflare.com/cloudflare-one/policies/access/
"""

EXAMPLES = r"""
- name: Clinicians by email, with email one-time PIN and MFA, 8-hour sessions
  oscar_emr.remote_access.cloudflare_access_policy:
    name: "demo-clinic: clinicians"
    decision: allow
    include:
      emails: [dr.alice@demo-clinic.example, dr.bob@demo-clinic.example]
    require:
      login_methods: [Email one-time PIN]
    mfa:
      allowed_authenticators: [totp, security_key]
    session_duration: 8h

- name: Front desk from Canada, with a stated purpose and a manager's approval
  oscar_emr.remote_access.cloudflare_access_policy:
    name: "demo-clinic: front desk"
    decision: allow
    include:
      groups: ["demo-clinic: front-desk"]
    require:
      countries: [CA]
    purpose_justification_required: true
    purpose_justification_prompt: Which patient or task is this session for?
    approval_required: true
    approval_groups:
      - name: managers
        emails: [office.manager@demo-clinic.example]
        approvals_needed: 1

- name: The lab's integration server, by service token
  oscar_emr.remote_access.cloudflare_access_policy:
    name: "demo-clinic: lab integration"
    decision: service_auth
    include:
      service_tokens: ["demo-clinic: lab-integration"]

- name: Remove a policy
  oscar_emr.remote_access.cloudflare_access_policy:
    name: "demo-clinic: old policy"
    state: absent
"""

RETURN = r"""
id:
  description: ID of the policy; applications link to it.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 2c5b6f3e-7c1a-4a7e-9d7f-0b1e2c3d4e5f
policy:
  description: The policy as Cloudflare returned it (rules hold ids).
  returned: when it exists (not in check mode for a new one)
  type: dict
  sample:
    id: 2c5b6f3e-7c1a-4a7e-9d7f-0b1e2c3d4e5f
    name: "demo-clinic: clinicians"
    decision: allow
    include: [{"email": {"email": "dr.alice@demo-clinic.example"}}]
    require: [{"login_method": {"id": "4f7e6a2c-1b1d-4c55-9f33-6a1f2c3d4e5f"}}]
    exclude: []
    session_duration: 8h
    reusable: true
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
    AccessPolicyError,
    comparable_policy,
    policy_from_api,
    policy_to_api,
    validate_policy,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import CloudflareModule  # noqa: E402
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_rules import (  # noqa: E402
    check_names_exist,
    referenced_kinds,
    resolver,
    rules_param,
    rules_spec,
)


def desired_policy(params):
    data = {"name": params["name"], "decision": params["decision"]}
    for clause in ("include", "require", "exclude"):
        data[clause] = rules_param(params[clause])
    if params["session_duration"] is not None:
        data["session_duration"] = params["session_duration"]
    data["purpose_justification"] = {"required": params["purpose_justification_required"]}
    if params["purpose_justification_prompt"]:
        data["purpose_justification"]["prompt"] = params["purpose_justification_prompt"]
    groups = [dict((k, v) for k, v in g.items() if v is not None) for g in params["approval_groups"] or []]
    data["approval"] = {"required": params["approval_required"], "groups": groups}
    mfa = params["mfa"]
    if mfa is None:
        data["mfa"] = False
    else:
        data["mfa"] = dict((k, v) for k, v in mfa.items() if v is not None)
    data["isolation_required"] = params["isolation_required"]
    return validate_policy(data, "args")


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            decision=dict(type="str", choices=["allow", "deny", "bypass", "service_auth", "non_identity"]),
            include=rules_spec(),
            require=rules_spec(),
            exclude=rules_spec(),
            session_duration=dict(type="str"),
            purpose_justification_required=dict(type="bool", default=False),
            purpose_justification_prompt=dict(type="str"),
            approval_required=dict(type="bool", default=False),
            approval_groups=dict(type="list", elements="dict", default=[], options=dict(
                emails=dict(type="list", elements="str", required=True),
                approvals_needed=dict(type="int", default=1),
                name=dict(type="str"),
            )),
            mfa=dict(type="dict", options=dict(
                required=dict(type="bool", default=True),
                allowed_authenticators=dict(type="list", elements="str", choices=["totp", "biometrics", "security_key"],
                                            default=["totp", "biometrics", "security_key"]),
                session_duration=dict(type="str"),
            )),
            isolation_required=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ["decision", "include"])],
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")

    desired = None
    if params["state"] == "present":
        try:
            desired = desired_policy(dict(params, name=name))
        except AccessPolicyError as error:
            cf.invalid(error)

    current = cf.find_by_name("access/policies", name, "reusable Access policy")

    if params["state"] == "absent":
        if current is None:
            cf.exit(False)
        for kind in referenced_kinds([], [current]):
            cf.lookup(kind)
        before = comparable_policy(policy_from_api(current, cf.reverse))
        if not cf.check_mode:
            cf.call(cf.client.delete, cf.path("access", "policies", current["id"]))
        cf.exit(True, before=before, after={}, id=current["id"])

    for kind in referenced_kinds([desired[c] for c in ("include", "require", "exclude")], [current or {}]):
        cf.lookup(kind)
    after = comparable_policy(desired)
    before = comparable_policy(policy_from_api(current, cf.reverse)) if current else {}

    if current is not None and before == after:
        cf.exit(False, before=before, after=after, id=current["id"], policy=current)

    if cf.check_mode:
        check_names_exist(cf, dict((c, desired[c]) for c in ("include", "require", "exclude")))
        cf.exit(True, before=before, after=after, id=(current or {}).get("id"), policy=current)

    body = policy_to_api(desired, resolver(cf), "args")
    if current is None:
        result = cf.call(cf.client.post, cf.path("access", "policies"), body)
    else:
        result = cf.call(cf.client.put, cf.path("access", "policies", current["id"]), body)
    cf.exit(True, before=before, after=after, id=result.get("id"), policy=result)


if __name__ == "__main__":
    main()
