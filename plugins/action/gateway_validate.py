# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the gateway role's inputs (documentation: plugins/modules/gateway_validate.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (
    IDP_SECRET_KEYS,
    AccessPolicyError,
    gateway_allow_policies_for,
    gateway_mode_errors,
    validate_access_policy,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._gateway_config import check_config, role_variable
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
    "policy_variable": {"type": "str", "default": "access_policy"},
    "users_variable": {"type": "str", "default": "gateway_users"},
}

REDACTED = "********"


def reach_warnings(model, cfg, policy_variable, users_variable):
    """Enabled accounts that no allow policy of the gateway admits: they could sign in and reach nothing, which a
    clinic finds out from a locked-out physician unless it is said here."""
    warnings = []
    for index, user in enumerate(cfg.get("users") or []):
        if not isinstance(user, dict) or user.get("enabled", True) is False:
            continue
        if not gateway_allow_policies_for(model, cfg.get("mode"), user.get("username", ""), user.get("email", ""),
                                          user.get("role", "")):
            warnings.append("%s[%d] (%s, %s): no allow policy of %s that the gateway applies includes this account "
                            "(by email, email domain, group, user or role), so it can sign in but reach nothing"
                            % (users_variable, index, user.get("username"), user.get("email") or "no email",
                               policy_variable))
    return warnings


def domain_mismatch(model, cfg, policy_variable):
    """In cloudflare mode the gateway accepts only requests for gateway_public_host, and Cloudflare Access sends
    only those for the application's domain: two different names would let nobody in."""
    domain, host = model["application"]["domain"].lower(), cfg.get("public_host")
    if cfg.get("mode") == "cloudflare" and isinstance(host, str) and host and host.lower() != domain:
        return ("gateway_public_host: %r is not %s.application.domain (%r); in cloudflare mode both name the host "
                "Cloudflare Access protects" % (host.lower(), policy_variable, domain))
    return None


def redact_login_method_secrets(policy):
    """The gateway never uses identity-provider secrets: keep them out of its configuration file."""
    out = copy.deepcopy(policy)
    for method in out.get("login_methods") or []:
        if isinstance(method, dict) and isinstance(method.get("config"), dict):
            for key in IDP_SECRET_KEYS:
                if key in method["config"]:
                    method["config"][key] = REDACTED
    return out


class ActionModule(RoleValidateAction):
    ROLE = "gateway"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check(self, args, problems, result):
        cfg = copy.deepcopy(args["config"])
        try:
            model = validate_access_policy(cfg.get("access_policy"), name=args["policy_variable"])
        except AccessPolicyError as exc:
            problems.errors.append(str(exc))
        else:
            problems.errors.extend(gateway_mode_errors(model, cfg.get("mode"), name=args["policy_variable"]))
            result["warnings"] = reach_warnings(model, cfg, args["policy_variable"], args["users_variable"])
            domain_error = domain_mismatch(model, cfg, args["policy_variable"])
            if domain_error:
                problems.errors.append(domain_error)
        # The gateway's own schema, the one its loader runs on the host, naming the role variables.
        check_config(cfg, problems, lambda key: args["users_variable"] + key[5:] if key.startswith("users")
                     else role_variable(key))
        if problems:
            return
        cfg["access_policy"] = redact_login_method_secrets(cfg["access_policy"])
        result["config"] = cfg
        result["has_password_hashes"] = any("password_hash" in user for user in cfg.get("users", []))
