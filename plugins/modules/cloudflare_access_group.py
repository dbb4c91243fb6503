#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_group
short_description: Manage a Cloudflare Access group (a named set of people)
version_added: 0.1.0
description:
  - Creates, updates or deletes one Cloudflare Access group, found by O(name).
  - Policies refer to groups by name (O(oscar_emr.remote_access.cloudflare_access_policy#module:include.groups)).
    A group is what lets a policy B(require) membership of one of several people, which a list of emails in
    C(require) cannot express.
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
      - Name of the group. Must be unique among the account's Access groups.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the group, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  include:
    description:
      - Members match B(any) of these rules. Required with O(state=present).
    type: dict
    suboptions: &rules
      emails:
        description: Email addresses.
        type: list
        elements: str
      email_domains:
        description: Email domains.
        type: list
        elements: str
      ip_ranges:
        description: IPv4/IPv6 CIDR networks.
        type: list
        elements: str
      countries:
        description: ISO 3166-1 alpha-2 country codes.
        type: list
        elements: str
      groups:
        description: Names of other Access groups.
        type: list
        elements: str
      login_methods:
        description: Names of login methods.
        type: list
        elements: str
      service_tokens:
        description: Names of service tokens.
        type: list
        elements: str
      auth_methods:
        description: RFC 8176 authentication methods, such as V(mfa).
        type: list
        elements: str
      everyone:
        description: Everyone.
        type: bool
        default: false
      any_service_token:
        description: Any valid service token.
        type: bool
        default: false
  require:
    description:
      - Members must also match B(every) rule here.
    type: dict
    suboptions: *rules
  exclude:
    description:
      - Whoever matches B(any) rule here is not a member.
    type: dict
    suboptions: *rules
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
"""

EXAMPLES = r"""
- name: The clinic's physicians
  oscar_emr.remote_access.cloudflare_access_group:
    name: "demo-clinic: physicians"
    include:
      emails: [dr.alice@demo-clinic.example, dr.bob@demo-clinic.example]

- name: Remove a group
  oscar_emr.remote_access.cloudflare_access_group:
    name: "demo-clinic: locums"
    state: absent
"""

RETURN = r"""
id:
  description: ID of the group.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 0b9e5c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b
group:
  description: The group as Cloudflare returned it.
  returned: when it exists (not in check mode for a new one)
  type: dict
  sample: {"id": "0b9e5c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b", "name": "demo-clinic: physicians",
           "include": [{"email": {"email": "dr.alice@demo-clinic.example"}}], "exclude": [], "require": []}
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
    comparable_rules,
    rules_empty,
    rules_from_api,
    rules_to_api,
    validate_rules,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import CloudflareModule  # noqa: E402
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_rules import (  # noqa: E402
    check_names_exist,
    referenced_kinds,
    resolver,
    rules_param,
    rules_spec,
)

CLAUSES = ("include", "require", "exclude")


def comparable(name, rule_sets):
    return dict([("name", name)] + [(c, comparable_rules(rule_sets[c])) for c in CLAUSES])


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            include=rules_spec(),
            require=rules_spec(),
            exclude=rules_spec(),
        ),
        required_if=[("state", "present", ["include"])],
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")
    desired = None
    if params["state"] == "present":
        try:
            desired = dict((c, validate_rules(rules_param(params[c]), "args." + c)) for c in CLAUSES)
            if rules_empty(desired["include"]):
                raise AccessPolicyError.at("args.include", "must contain at least one rule")
        except AccessPolicyError as error:
            cf.invalid(error)

    current = cf.find_by_name("access/groups", name, "Access group", query={"name": name})
    for kind in referenced_kinds([desired[c] for c in CLAUSES] if desired else [], [current or {}]):
        cf.lookup(kind)
    before = comparable(name, dict((c, rules_from_api(current.get(c), cf.reverse)) for c in CLAUSES)) \
        if current else {}

    if params["state"] == "absent":
        if current is None:
            cf.exit(False)
        if not cf.check_mode:
            cf.call(cf.client.delete, cf.path("access", "groups", current["id"]))
        cf.exit(True, before=before, after={}, id=current["id"])

    after = comparable(name, desired)
    if current is not None and before == after:
        cf.exit(False, before=before, after=after, id=current["id"], group=current)
    if cf.check_mode:
        check_names_exist(cf, desired)
        cf.exit(True, before=before, after=after, id=(current or {}).get("id"), group=current)
    resolve = resolver(cf)
    body = dict([("name", name)] + [(c, rules_to_api(desired[c], resolve, "args." + c)) for c in CLAUSES])
    if current is None:
        result = cf.call(cf.client.post, cf.path("access", "groups"), body)
    else:
        result = cf.call(cf.client.put, cf.path("access", "groups", current["id"]), body)
    cf.exit(True, before=before, after=after, id=result.get("id"), group=result)


if __name__ == "__main__":
    main()
