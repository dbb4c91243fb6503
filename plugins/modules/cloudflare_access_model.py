#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_model
short_description: Validate a clinic's access-policy model and plan its Cloudflare objects
version_added: 0.1.0
description:
  - Checks the C(access_policy) inventory variable (login methods, groups, users, service tokens, policies with path
    prefixes, the OSCAR application) with the collection's single validator, the one the clinic gateway also uses,
    and fails with the path and the value of the first mistake (for example the path
    C(access_policy.policies[2].include.ip_ranges[0]), the value C(10.0.0.300/32) and the reason, not a valid CIDR).
  - Returns the normalised model and a plan, the arguments for the collection's Cloudflare modules (identity
    providers, groups, service tokens, policies, applications), which C(playbooks/cloudflare.yml) loops over.
  - Talks to no API and changes nothing. See C(docs/access-policy.md) for the model.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: It never changes anything.
    support: full
options:
  access_policy:
    description:
      - The access-policy model, normally C("{{ access_policy }}").
    type: dict
    required: true
  variable_name:
    description:
      - Name used for the model in error messages.
    type: str
    default: access_policy
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
  - module: oscar_emr.remote_access.cloudflare_access_application
"""

EXAMPLES = r"""
- name: Validate the clinic's access policy and plan its Cloudflare objects
  oscar_emr.remote_access.cloudflare_access_model:
    access_policy: "{{ access_policy }}"
  register: access_plan

- name: Create the reusable policies it plans
  oscar_emr.remote_access.cloudflare_access_policy:
    name: "{{ item.name }}"
    decision: "{{ item.decision }}"
    include: "{{ item.include }}"
    require: "{{ item.require }}"
    exclude: "{{ item.exclude }}"
  loop: "{{ access_plan.plan.policies }}"
"""

RETURN = r"""
model:
  description:
    - The normalised model, every key present with its default; login method secrets shown as C(********).
  returned: success
  type: dict
plan:
  description: Arguments for the Cloudflare modules, without secrets.
  returned: success
  type: dict
  contains:
    identity_providers:
      description: One item per login method (C(name), C(type), C(config) without C(client_secret)).
      type: list
      elements: dict
      returned: always
    groups:
      description:
        - Access groups (C(name) with the name prefix, C(include)); groups with only gateway users are left out.
      type: list
      elements: dict
      returned: always
    service_tokens:
      description: Service tokens (C(name) with the prefix, C(duration), C(model_name)).
      type: list
      elements: dict
      returned: always
    policies:
      description: Arguments for M(oscar_emr.remote_access.cloudflare_access_policy), in precedence order;
        gateway-only policies are left out.
      type: list
      elements: dict
      returned: always
    applications:
      description:
        - Arguments for M(oscar_emr.remote_access.cloudflare_access_application). The first is the whole hostname;
          each other is a path prefix some policy is limited to, with every policy that governs that path.
      type: list
      elements: dict
      returned: always
    unused:
      description: Groups and service tokens no Cloudflare policy refers to.
      type: dict
      returned: always
  sample:
    applications:
      - name: OSCAR EMR - Demo Family Practice
        domain: emr.demo-clinic.example
        path: /
        policies: ["demo-clinic: clinicians"]
"""

import copy  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    IDP_SECRET_KEYS,
    AccessPolicyError,
    cloudflare_plan,
    validate_access_policy,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    REDACTED,
)


def without_secrets(items):
    out = copy.deepcopy(items)
    for item in out:
        for key in IDP_SECRET_KEYS:
            if key in item.get("config", {}):
                item["config"][key] = REDACTED
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            access_policy=dict(type="dict", required=True),
            variable_name=dict(type="str", default="access_policy"),
        ),
        supports_check_mode=True,
    )
    name = module.params["variable_name"]
    try:
        model = validate_access_policy(module.params["access_policy"], name=name)
    except AccessPolicyError as error:
        module.fail_json(msg=str(error), path=error.path)
    plan = cloudflare_plan(model)
    for item in plan["identity_providers"]:
        for key in IDP_SECRET_KEYS:
            item["config"].pop(key, None)
    model["login_methods"] = without_secrets(model["login_methods"])
    module.exit_json(changed=False, model=model, plan=plan)


if __name__ == "__main__":
    main()
