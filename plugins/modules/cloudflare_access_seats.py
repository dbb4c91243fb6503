#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_seats
short_description: Count the Cloudflare Access seats of every clinic sharing one account
version_added: 0.1.0
description:
  - Anyone who authenticates through Cloudflare Access takes a seat, and the free plan has 50 per account. A provider
    that puts several clinics in one account can pass 50 without noticing; this module counts, across every clinic
    inventory that names the same O(account_id), the people the clinics' Cloudflare allow policies can admit (each
    email once, however many clinics admit it; service tokens take no seat).
  - Warns above O(warn_above), and fails above O(seat_limit) unless O(paid_plan=true).
  - The other clinics' inventories are read from O(inventories_dir), one directory per clinic, from
    C(group_vars/all.yml) or C(group_vars/all/*.yml) (C(cloudflare_account_id) and C(access_policy)). Files
    encrypted with Ansible Vault, and values that are Jinja templates, cannot be read there and are reported in
    RV(skipped); keep C(access_policy) and C(cloudflare_account_id) in plain files.
  - A whole email domain, C(everyone), or an include with only networks, countries or login methods admits people
    no inventory lists. Give a head count per domain in O(domain_estimates); otherwise such includes are reported in
    RV(open_ended), a warning says the count is a lower bound.
  - Reads files on the machine it runs on (the controller, in C(playbooks/cloudflare.yml)) and calls no API.
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
  account_id:
    description:
      - The Cloudflare account ID of this clinic; other inventories count when their C(cloudflare_account_id) is the
        same.
    type: str
    required: true
  access_policy:
    description:
      - This clinic's access-policy model (C("{{ access_policy }}")).
    type: dict
    required: true
  clinic:
    description:
      - This clinic's name in the report; its inventory directory is skipped in O(inventories_dir), since its model
        is O(access_policy).
    type: str
    required: true
  inventory_dir:
    description:
      - This clinic's inventory directory, skipped when O(inventories_dir) is read.
    type: path
  inventories_dir:
    description:
      - The directory holding one inventory directory per clinic (this repository's C(inventories/)). Not set, only
        this clinic is counted.
    type: path
  seat_limit:
    description:
      - The plan's seats per account (50 on the free plan).
    type: int
    default: 50
  warn_above:
    description:
      - Warn when the count is above this.
    type: int
    default: 40
  paid_plan:
    description:
      - The account is on a paid plan, so passing O(seat_limit) is a warning, not an error.
    type: bool
    default: false
  domain_estimates:
    description:
      - "Head count per email domain admitted as a whole, for example C({clinic.example: 12})."
    type: dict
    default: {}
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_organization
"""

EXAMPLES = r"""
- name: Seats across every clinic inventory that names this account
  oscar_emr.remote_access.cloudflare_access_seats:
    account_id: "{{ cloudflare_account_id }}"
    access_policy: "{{ access_policy }}"
    clinic: "{{ inventory_dir | basename }}"
    inventory_dir: "{{ inventory_dir }}"
    inventories_dir: "{{ inventory_dir | dirname }}"
    paid_plan: "{{ cloudflare_account_plan | default('free') != 'free' }}"
"""

RETURN = r"""
seats:
  description: Seats the clinics sharing the account can use (a lower bound when RV(open_ended) is not empty).
  returned: always
  type: int
  sample: 23
clinics:
  description: The clinics counted and how many listed people each admits.
  returned: always
  type: dict
  sample: {"demo_clinic": 7, "lakeside_clinic": 16}
open_ended:
  description: Includes that admit people no inventory lists and no estimate covers.
  returned: always
  type: list
  elements: dict
  sample: [{"clinic": "lakeside_clinic", "policy": "staff", "what": "email_domain:lakeside.example"}]
estimated:
  description: The domain estimates used.
  returned: always
  type: dict
skipped:
  description: Files or inventories that could not be read, with the reason.
  returned: always
  type: list
  elements: str
"""

import os  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    AccessPolicyError,
    validate_access_policy,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_seats import count  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover - the controller has PyYAML (ansible-core needs it)
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

    class _Loader(yaml.SafeLoader):
        """Safe YAML that reads Ansible's tags (!vault, !unsafe) as markers instead of failing."""

    def _tagged(loader, suffix, node):
        return {"__tag__": suffix}

    _Loader.add_multi_constructor("!", _tagged)


def _vars_files(inventory):
    group_vars = os.path.join(inventory, "group_vars")
    candidates = [os.path.join(group_vars, name) for name in ("all.yml", "all.yaml")]
    folder = os.path.join(group_vars, "all")
    if os.path.isdir(folder):
        candidates += [os.path.join(folder, name) for name in sorted(os.listdir(folder))
                       if name.endswith((".yml", ".yaml"))]
    return [path for path in candidates if os.path.isfile(path)]


def _templated(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return value.get("__tag__") is not None or any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def read_inventory(inventory, skipped):
    """The plain variables of one clinic inventory's group ``all``."""
    variables = {}
    for path in _vars_files(inventory):
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as error:
            skipped.append("%s: %s" % (path, error))
            continue
        if raw.lstrip().startswith(b"$ANSIBLE_VAULT"):
            continue  # secrets live there; the model and the account id must be in plain files
        try:
            data = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError as error:
            skipped.append("%s: not YAML (%s)" % (path, str(error).splitlines()[0]))
            continue
        if isinstance(data, dict):
            variables.update(data)
    return variables


def fleet_models(module, account_id, inventories_dir, own_dir, skipped):
    clinics = {}
    own = os.path.realpath(own_dir) if own_dir else None
    for name in sorted(os.listdir(inventories_dir)):
        inventory = os.path.join(inventories_dir, name)
        if not os.path.isdir(inventory) or os.path.realpath(inventory) == own:
            continue
        variables = read_inventory(inventory, skipped)
        if str(variables.get("cloudflare_account_id", "")).strip() != account_id:
            continue
        model = variables.get("access_policy")
        if model is None:
            skipped.append("%s: names the account but has no access_policy in a plain file" % name)
            continue
        if _templated(model):
            skipped.append("%s: access_policy uses Jinja templates or Vault values, which cannot be read here"
                           % name)
            continue
        try:
            clinics[name] = validate_access_policy(model, name="%s: access_policy" % name)
        except AccessPolicyError as error:
            skipped.append("%s: %s" % (name, error))
    return clinics


def main():
    module = AnsibleModule(
        argument_spec=dict(
            account_id=dict(type="str", required=True),
            access_policy=dict(type="dict", required=True),
            clinic=dict(type="str", required=True),
            inventory_dir=dict(type="path"),
            inventories_dir=dict(type="path"),
            seat_limit=dict(type="int", default=50),
            warn_above=dict(type="int", default=40),
            paid_plan=dict(type="bool", default=False),
            domain_estimates=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    if params["seat_limit"] < 1 or params["warn_above"] < 0:
        module.fail_json(msg="seat_limit must be at least 1 and warn_above 0 or more")
    estimates = {}
    for domain, number in params["domain_estimates"].items():
        if isinstance(number, bool) or not str(number).isdigit():
            module.fail_json(msg="domain_estimates.%s: %r must be a whole number of people" % (domain, number))
        estimates[str(domain).lower().lstrip("@")] = int(number)
    account_id = params["account_id"].strip()
    try:
        clinics = {params["clinic"]: validate_access_policy(params["access_policy"])}
    except AccessPolicyError as error:
        module.fail_json(msg=str(error), path=error.path)
    skipped = []
    if params["inventories_dir"]:
        if not os.path.isdir(params["inventories_dir"]):
            module.fail_json(msg="inventories_dir %s is not a directory" % params["inventories_dir"])
        clinics.update(fleet_models(module, account_id, params["inventories_dir"], params["inventory_dir"], skipped))

    report = count(clinics, estimates)
    result = dict(changed=False, seats=report["seats"], clinics=report["per_clinic"], open_ended=report["open_ended"],
                  estimated=report["estimated"], skipped=skipped)
    where = "%d clinic(s) sharing Cloudflare account %s (%s)" % (
        len(clinics), account_id, ", ".join("%s: %d" % item for item in sorted(report["per_clinic"].items())))
    lower = ""
    if report["open_ended"]:
        lower = " at least"
        module.warn("The seat count is a lower bound: these includes admit people no inventory lists (give a head "
                    "count per domain in domain_estimates / cloudflare_seat_domain_estimates): %s" % "; ".join(
                        "%s policy %r: %s" % (o["clinic"], o["policy"], o["what"]) for o in report["open_ended"]))
    for line in skipped:
        module.warn("seats: not counted: %s" % line)
    if report["seats"] > params["seat_limit"]:
        message = ("%d people%s can be admitted by the %s, more than the plan's %d seats; Cloudflare refuses "
                   "whoever comes after the last seat is taken" % (report["seats"], lower, where, params["seat_limit"]))
        if not params["paid_plan"]:
            module.fail_json(msg=message + ". Move clinics to another account, shorten the policies' lists, or set "
                             "cloudflare_account_plan: paid (and cloudflare_seat_limit) if the account has more seats",
                             **dict((k, v) for k, v in result.items() if k != "changed"))
        module.warn(message)
    elif report["seats"] > params["warn_above"]:
        module.warn("%d people%s can be admitted by the %s: close to the plan's %d seats"
                    % (report["seats"], lower, where, params["seat_limit"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
