# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Argument specs and helpers for modules that take include/require/exclude rules.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import annotations

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import AccessPolicyError
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (
    api_rule_kinds,
    rule_kinds,
)

# The human rule form (the same as the access_policy inventory model, without gateway-only
# users and roles).
RULE_OPTIONS = dict(
    emails=dict(type="list", elements="str"),
    email_domains=dict(type="list", elements="str"),
    ip_ranges=dict(type="list", elements="str"),
    countries=dict(type="list", elements="str"),
    groups=dict(type="list", elements="str"),
    login_methods=dict(type="list", elements="str"),
    service_tokens=dict(type="list", elements="str", no_log=False),
    auth_methods=dict(type="list", elements="str"),
    everyone=dict(type="bool", default=False),
    any_service_token=dict(type="bool", default=False),
)


def rules_spec():
    return dict(type="dict", options=dict((k, dict(v)) for k, v in RULE_OPTIONS.items()))


def rules_param(value):
    """Module rule option -> model rule data (None entries dropped)."""
    if not value:
        return None
    return dict((k, v) for k, v in value.items() if v is not None)


def strip_root(error, root="args"):
    """AccessPolicyError message without the artificial root name."""
    message = str(error)
    if message.startswith(root + "."):
        message = message[len(root) + 1:]
    return message


def referenced_kinds(desired_rule_sets, current_objects):
    kinds = set()
    for rules in desired_rule_sets:
        kinds |= rule_kinds(rules)
    for obj in current_objects:
        for clause in ("include", "require", "exclude"):
            kinds |= api_rule_kinds(obj.get(clause))
    return kinds


def check_names_exist(cf, rule_sets, root="args"):
    """Warn (check mode) about names that do not exist yet; they may be created earlier in a real run."""
    kinds = {"groups": "group", "login_methods": "login_method", "service_tokens": "service_token"}
    missing = []
    for clause, rules in rule_sets.items():
        for key, kind in kinds.items():
            for name in cf.missing_names(kind, rules.get(key)) if rules.get(key) else []:
                missing.append("%s.%s: %r" % (clause, key, name))
    if missing:
        cf.module.warn("check mode: these names do not exist in the account yet, so a real run would fail unless an "
                       "earlier task creates them: %s" % ", ".join(missing))


def resolver(cf, root="args"):
    def resolve(kind, name, where):
        try:
            return cf.resolve(kind, name, where)
        except AccessPolicyError as error:
            cf.fail("invalid argument: %s" % strip_root(error, root), argument=strip_root(error, root))
        return None

    return resolve
