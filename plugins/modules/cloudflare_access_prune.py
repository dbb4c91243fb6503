#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_prune
short_description: Delete a clinic's Cloudflare Access objects that its inventory no longer names
version_added: 0.1.0
description:
  - Finds the Access applications, reusable policies, groups, identity providers (login methods) and service tokens
    of the account that belong to one clinic, by its O(name_prefix), and that the clinic's inventory no longer
    names (O(keep)), and deletes them, but only with O(delete=true), the explicit consent.
  - An object belongs to the clinic when its name starts with O(name_prefix). An application also belongs to it when
    it is named after the clinic's application with a path, C(<application_name> (/path)), as
    C(playbooks/cloudflare.yml) names the per-path applications it creates. Nothing else is ever touched, whatever
    O(keep) says, so clinics sharing an account cannot delete each other's objects.
  - Without O(delete=true) it deletes nothing, reports the objects in RV(orphans) and warns. In check mode and with
    C(--diff) it shows exactly which objects would go.
  - Deletes in dependency order, applications first (they link policies), then policies, groups, service tokens
    and identity providers. Deleting a service token locks out the machines that use it at once.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  idempotent:
    description: A second run finds nothing left to delete.
    support: full
options:
  name_prefix:
    description:
      - "The clinic's name prefix (C(access_policy.name_prefix)), for example V(demo-clinic: ). At least three
        characters, so that it cannot match most of an account."
    type: str
    required: true
  application_name:
    description:
      - The clinic's application name (C(access_policy.application.name)); applications named after it with a path
        in parentheses belong to the clinic too.
    type: str
  keep:
    description:
      - The names the inventory still defines, by kind. Objects of the clinic not named here are orphans.
    type: dict
    default: {}
    suboptions:
      applications:
        description: Access application names.
        type: list
        elements: str
        default: []
      policies:
        description: Reusable Access policy names.
        type: list
        elements: str
        default: []
      groups:
        description: Access group names.
        type: list
        elements: str
        default: []
      identity_providers:
        description: Identity provider (login method) names.
        type: list
        elements: str
        default: []
      service_tokens:
        description: Service token names.
        type: list
        elements: str
        default: []
  delete:
    description:
      - The consent to delete the orphans. V(false) only reports them.
    type: bool
    default: false
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_model
"""

EXAMPLES = r"""
- name: Delete what the clinic created and its inventory no longer names (only with cloudflare_prune)
  oscar_emr.remote_access.cloudflare_access_prune:
    name_prefix: "demo-clinic: "
    application_name: OSCAR EMR - Demo Family Practice
    keep:
      applications: "{{ plan.applications | map(attribute='name') }}"
      policies: "{{ plan.policies | map(attribute='name') }}"
      groups: "{{ plan.groups | map(attribute='name') }}"
      identity_providers: "{{ plan.identity_providers | map(attribute='name') }}"
      service_tokens: "{{ plan.service_tokens | map(attribute='name') }}"
    delete: "{{ cloudflare_prune | default(false) | bool }}"
"""

RETURN = r"""
orphans:
  description: The clinic's objects the inventory no longer names, in deletion order.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(application), V(policy), V(group), V(service_token) or V(identity_provider).
      type: str
      returned: always
    name:
      description: Name.
      type: str
      returned: always
    id:
      description: ID.
      type: str
      returned: always
  sample: [{"kind": "policy", "name": "demo-clinic: locums", "id": "2c5b6f3e-7c1a-4a7e-9d7f-0b1e2c3d4e5f"}]
deleted:
  description: The orphans deleted (in check mode, that would be deleted); empty without O(delete=true).
  returned: always
  type: list
  elements: dict
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

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    CloudflareModule,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_prune import (  # noqa: E402
    KINDS,
    orphans,
)


def main():
    names = dict(type="list", elements="str", default=[], no_log=False)
    cf = CloudflareModule(
        argument_spec=dict(
            name_prefix=dict(type="str", required=True),
            application_name=dict(type="str"),
            keep=dict(type="dict", default={}, options=dict((kind.plural, dict(names)) for kind in KINDS)),
            delete=dict(type="bool", default=False),
        ),
    )
    params = cf.params
    prefix = params["name_prefix"]
    if len(prefix.strip()) < 3:
        cf.fail("name_prefix %r is too short to say which objects are this clinic's; give the clinic's "
                "access_policy.name_prefix (at least three characters)" % prefix)
    keep = params["keep"] or {}

    found = []
    for kind in KINDS:
        items = cf.list(cf.path("access", kind.collection))
        found.extend(orphans(kind, items, prefix, params["application_name"], keep.get(kind.plural) or []))

    plural = dict((kind.name, kind.plural) for kind in KINDS)
    before = {}
    for item in found:
        before.setdefault(plural[item["kind"]], []).append(item["name"])
    if not found:
        cf.exit(False, before={}, after={}, orphans=[], deleted=[])
    if not params["delete"]:
        cf.module.warn("%d Cloudflare object(s) of this clinic are no longer in its inventory and were kept: %s. "
                       "Set delete: true (playbooks/cloudflare.yml: cloudflare_prune: true) to delete them."
                       % (len(found), "; ".join("%s %r" % (o["kind"], o["name"]) for o in found)))
        cf.exit(False, before=before, after=before, orphans=found, deleted=[])
    if not cf.check_mode:
        for item in found:
            kind = next(k for k in KINDS if k.name == item["kind"])
            cf.call(cf.client.delete, cf.path("access", kind.collection, item["id"]))
    cf.exit(True, before=before, after={}, orphans=found, deleted=found)


if __name__ == "__main__":
    main()
