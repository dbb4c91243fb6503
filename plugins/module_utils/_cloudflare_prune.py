# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which Cloudflare Access objects belong to a clinic and are no longer in its inventory.

PRIVATE to this collection: it may change without notice. Pure Python, no API calls: the
cloudflare_access_prune module lists the collections and deletes what ``orphans`` returns.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy.cloudflare import (
    management_ssh_application_name,
)

Kind = namedtuple("Kind", "name plural collection")

# Deletion order: applications link policies; policies refer to groups, service tokens and identity providers.
KINDS = (
    Kind("application", "applications", "apps"),
    Kind("policy", "policies", "policies"),
    Kind("group", "groups", "groups"),
    Kind("service_token", "service_tokens", "service_tokens"),
    Kind("identity_provider", "identity_providers", "identity_providers"),
)


def belongs_to_clinic(kind, name, prefix, application_name=None):
    """True when an object named ``name`` is the clinic's: its name starts with ``prefix``, or (applications only)
    it is the clinic's application for a path, ``<application_name> (/path)``, or for the provider's SSH,
    ``<application_name> (SSH)``."""
    if not isinstance(name, str) or not prefix:
        return False
    if name.startswith(prefix):
        return True
    if kind.name == "application" and application_name:
        return (name.startswith(application_name + " (/") and name.endswith(")")) \
            or name == management_ssh_application_name(application_name)
    return False


def orphans(kind, items, prefix, application_name, keep):
    """The clinic's objects among ``items`` (API objects of ``kind``) whose names are not in ``keep``."""
    keep = set(keep or [])
    out = []
    for item in items:
        name = item.get("name")
        if belongs_to_clinic(kind, name, prefix, application_name) and name not in keep:
            out.append({"kind": kind.name, "name": name, "id": item.get("id")})
    return sorted(out, key=lambda o: o["name"])
