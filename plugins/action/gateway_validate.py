# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the gateway role's inputs (documentation: plugins/modules/gateway_validate.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible.plugins.action import ActionBase

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (
    IDP_SECRET_KEYS,
    AccessPolicyError,
    gateway_allow_policies_for,
    gateway_mode_errors,
    validate_access_policy,
)

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
    "policy_variable": {"type": "str", "default": "access_policy"},
    "users_variable": {"type": "str", "default": "gateway_users"},
}

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
TEAM_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.cloudflareaccess\.com$")
AUD_RE = re.compile(r"^[0-9a-f]{64}$")
USER_KEYS = frozenset(("username", "display_name", "email", "role", "enabled", "password_hash"))
REDACTED = "********"


def check_users(users, name):
    errors = []
    if not isinstance(users, list):
        return ["%s: must be a list of mappings" % name]
    seen = set()
    for index, user in enumerate(users):
        where = "%s[%d]" % (name, index)
        if not isinstance(user, dict):
            errors.append("%s: must be a mapping" % where)
            continue
        unknown = sorted(set(user) - USER_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s (allowed: %s)" % (where, unknown, sorted(USER_KEYS)))
        username = user.get("username")
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            errors.append("%s.username: %r is not lower-case letters, digits, '.', '_' or '-'" % (where, username))
        elif username in seen:
            errors.append("%s.username: %r is listed twice" % (where, username))
        else:
            seen.add(username)
        email = user.get("email", "")
        if email and (not isinstance(email, str) or not EMAIL_RE.match(email)):
            errors.append("%s.email: %r is not an email address" % (where, email))
        role = user.get("role", "")
        if role and (not isinstance(role, str) or not ROLE_RE.match(role)):
            errors.append("%s.role: %r is not a role name" % (where, role))
        if "enabled" in user and not isinstance(user["enabled"], bool):
            errors.append("%s.enabled: %r is not true or false" % (where, user["enabled"]))
        password_hash = user.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str)
                                          or not password_hash.startswith("$argon2id$")):
            errors.append("%s.password_hash: must be an argon2id hash ($argon2id$...); the value is not shown" % where)
    return errors


def check_settings(cfg):
    errors = []
    if cfg.get("mode") not in ("standalone", "cloudflare"):
        errors.append("gateway_mode: %r is not 'standalone' or 'cloudflare'" % (cfg.get("mode"),))
    if not cfg.get("clinic_name"):
        errors.append("gateway_clinic_name: must be set (shown on every page and in authenticator apps)")
    host = cfg.get("public_host")
    if not isinstance(host, str) or not HOST_RE.match(host):
        errors.append("gateway_public_host: %r is not a lower-case host name without scheme or port" % (host,))
    if cfg.get("mode") == "cloudflare":
        team = (cfg.get("cloudflare") or {}).get("team_domain")
        if not isinstance(team, str) or not TEAM_RE.match(team):
            errors.append("gateway_cloudflare_team_domain: %r is not like <team>.cloudflareaccess.com" % (team,))
        aud = (cfg.get("cloudflare") or {}).get("aud")
        if not isinstance(aud, list) or not aud or not all(isinstance(a, str) and AUD_RE.match(a) for a in aud):
            errors.append("gateway_cloudflare_aud: %r is not one or more Access application AUD tags "
                          "(64 hexadecimal characters)" % (aud,))
    ttl = (cfg.get("decision_cache") or {}).get("max_age_seconds", 0)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 60:
        errors.append("gateway_decision_cache_ttl: %r is not a whole number of seconds from 0 to 60" % (ttl,))
    login = cfg.get("login") or {}
    per_user, per_address = login.get("max_failures"), login.get("max_failures_per_address")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (per_user, per_address)) and per_address < per_user:
        errors.append("gateway_login_max_failures_per_address: %r is less than gateway_login_max_failures (%r); "
                      "a shared address (masquerading WireGuard gateway, office NAT) would be banned before the user"
                      % (per_address, per_user))
    return errors


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


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        cfg = copy.deepcopy(args["config"])
        result["changed"] = False
        errors = []
        try:
            model = validate_access_policy(cfg.get("access_policy"), name=args["policy_variable"])
        except AccessPolicyError as exc:
            errors.append(str(exc))
        else:
            errors.extend(gateway_mode_errors(model, cfg.get("mode"), name=args["policy_variable"]))
            result["warnings"] = reach_warnings(model, cfg, args["policy_variable"], args["users_variable"])
            domain_error = domain_mismatch(model, cfg, args["policy_variable"])
            if domain_error:
                errors.append(domain_error)
        errors.extend(check_users(cfg.get("users", []), args["users_variable"]))
        errors.extend(check_settings(cfg))
        if errors:
            result["failed"] = True
            result["errors"] = errors
            result["msg"] = "Invalid gateway settings (nothing was changed on the host): " + "; ".join(errors)
            return result
        cfg["access_policy"] = redact_login_method_secrets(cfg["access_policy"])
        result["config"] = cfg
        result["has_password_hashes"] = any("password_hash" in user for user in cfg.get("users", []))
        return result
