# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The access-policy model's translation to Cloudflare Access: API payloads both ways, comparison, and the plan of
the collection's Cloudflare modules. Controller only: clinic hosts do not receive it.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import annotations

import copy
import ipaddress

from .model import (
    _API_DECISION,
    _MODEL_DECISION,
    GATEWAY_ONLY_SELECTORS,
    RULE_SELECTORS,
    canonical_duration,
    path_matches,
)

# ---------------------------------------------------------------------------------------------
# Translation to Cloudflare
# ---------------------------------------------------------------------------------------------

_RULE_API = {
    # selector: (API rule key, inner key, needs an id lookup of this kind)
    "emails": ("email", "email", None),
    "email_domains": ("email_domain", "domain", None),
    "ip_ranges": ("ip", "ip", None),
    "countries": ("geo", "country_code", None),
    "auth_methods": ("auth_method", "auth_method", None),
    "groups": ("group", "id", "group"),
    "login_methods": ("login_method", "id", "login_method"),
    "service_tokens": ("service_token", "token_id", "service_token"),
}
_FLAG_API = {"everyone": "everyone", "any_service_token": "any_valid_service_token"}
_CLOUDFLARE_SELECTORS = [k for k in RULE_SELECTORS if k not in GATEWAY_ONLY_SELECTORS]


def rules_to_api(rules, resolve, path="rules"):
    """Human rule set -> Cloudflare rule list. ``resolve(kind, name, path)`` returns an object id."""
    result = []
    for key in _CLOUDFLARE_SELECTORS:
        if key in _FLAG_API:
            if rules.get(key):
                result.append({_FLAG_API[key]: {}})
            continue
        api_key, inner, kind = _RULE_API[key]
        for index, value in enumerate(rules.get(key) or []):
            if kind:
                value = resolve(kind, value, "%s.%s[%d]" % (path, key, index))
            result.append({api_key: {inner: value}})
    return result


def rules_from_api(rules, reverse=None):
    """Cloudflare rule list -> human rule set (plus ``other`` for rules it cannot express).

    ``reverse(kind, id)`` names an object id; unknown ids come back as ``"id:<uuid>"``.
    """
    result = dict((k, False if RULE_SELECTORS[k] == "flag" else []) for k in _CLOUDFLARE_SELECTORS)
    result["other"] = []
    for rule in rules or []:
        if not isinstance(rule, dict) or len(rule) != 1:
            result["other"].append(rule)
            continue
        (api_key, body), = rule.items()
        flag = [k for k, v in _FLAG_API.items() if v == api_key]
        if flag:
            result[flag[0]] = True
            continue
        match = [(k, v) for k, v in _RULE_API.items() if v[0] == api_key]
        if not match or not isinstance(body, dict) or match[0][1][1] not in body:
            result["other"].append(rule)
            continue
        key, spec = match[0]
        inner, kind = spec[1], spec[2]
        value = body[inner]
        if kind:
            name = reverse(kind, value) if reverse else None
            value = name if name is not None else "id:%s" % value
        elif key == "ip_ranges":
            try:
                value = str(ipaddress.ip_network(value, strict=False))
            except ValueError:
                pass
        elif key in ("emails", "email_domains"):
            value = value.lower()
        elif key == "countries":
            value = value.upper()
        result[key].append(value)
    return result


def idp_mfa_require(policy):
    """The policy's require rules with MFA its identity provider enforces written the one way Cloudflare knows it:
    an ``auth_methods: [mfa]`` rule (the RFC 8176 ``mfa`` value the provider reports)."""
    require = copy.deepcopy(policy["require"])
    mfa = policy.get("mfa") or {}
    auth_methods = list(require.get("auth_methods") or [])
    if mfa.get("required") and mfa.get("enforced_by") == "identity_provider" and "mfa" not in auth_methods:
        require["auth_methods"] = [*auth_methods, "mfa"]
    return require


def _cloudflare_mfa(policy):
    """The MFA Cloudflare itself enforces for the policy, or None (none, or the identity provider's)."""
    mfa = policy.get("mfa") or {}
    return mfa if cloudflare_mfa_config(mfa) is not None else None


def comparable_rules(rules):
    """A rule set with sorted, de-duplicated lists and without empty entries (for diffs)."""
    out = {}
    for key, value in rules.items():
        if isinstance(value, list):
            if value:
                out[key] = sorted(set(v if isinstance(v, str) else repr(v) for v in value))
        elif value:
            out[key] = value
    return out


def comparable_policy(policy, default_session="24h"):
    """A policy (``validate_policy`` or ``policy_from_api`` shape) reduced to what Cloudflare stores.

    Both the desired and the current policy go through this, so equal dicts mean "no change" and
    their difference is the diff shown to the user. Identity-provider MFA is shown as the
    ``auth_methods: [mfa]`` require rule it becomes.
    """
    require = idp_mfa_require(policy)
    mfa = _cloudflare_mfa(policy)
    if mfa:
        mfa_out = {"required": True, "allowed_authenticators": sorted(mfa.get("allowed_authenticators") or [])}
        if mfa.get("session_duration"):
            mfa_out["session_duration"] = canonical_duration(mfa["session_duration"])
    else:
        mfa_out = {"required": False}
    out = {
        "name": policy["name"],
        "decision": policy["decision"],
        "include": comparable_rules(_cloudflare_only(policy["include"])),
        "require": comparable_rules(_cloudflare_only(require)),
        "exclude": comparable_rules(_cloudflare_only(policy["exclude"])),
        "session_duration": canonical_duration(policy.get("session_duration") or default_session),
        "purpose_justification_required": bool(policy["purpose_justification"]["required"]),
        "purpose_justification_prompt": policy["purpose_justification"]["prompt"] or None,
        "approval_required": bool(policy["approval"]["required"]),
        "approval_groups": sorted(
            ({"approvals_needed": g["approvals_needed"], "emails": sorted(g["emails"])}
             for g in policy["approval"]["groups"]),
            key=lambda g: (g["emails"], g["approvals_needed"])),
        "mfa": mfa_out,
        "isolation_required": bool(policy.get("isolation_required", False)),
    }
    return out


def _cloudflare_only(rules):
    return dict((k, v) for k, v in rules.items() if k not in GATEWAY_ONLY_SELECTORS)


def policy_to_api(policy, resolve, path="policy"):
    """A validated policy (``validate_policy`` output, names already final) -> API request body."""
    require = idp_mfa_require(policy)
    body = {
        "name": policy["name"],
        "decision": _API_DECISION[policy["decision"]],
        "include": rules_to_api(policy["include"], resolve, path + ".include"),
        "require": rules_to_api(require, resolve, path + ".require"),
        "exclude": rules_to_api(policy["exclude"], resolve, path + ".exclude"),
        "approval_required": policy["approval"]["required"],
        "approval_groups": [
            {"approvals_needed": g["approvals_needed"], "email_addresses": list(g["emails"])}
            for g in policy["approval"]["groups"]
        ],
        "purpose_justification_required": policy["purpose_justification"]["required"],
        "isolation_required": policy.get("isolation_required", False),
    }
    if policy["purpose_justification"]["prompt"]:
        body["purpose_justification_prompt"] = policy["purpose_justification"]["prompt"]
    if policy.get("session_duration"):
        body["session_duration"] = policy["session_duration"]
    config = cloudflare_mfa_config(policy.get("mfa"))
    if config is not None:
        body["mfa_config"] = config
    return body


def cloudflare_mfa_config(mfa):
    """The model's ``mfa`` (of a policy or an application) -> Cloudflare's ``mfa_config``, or None.

    Only MFA that Cloudflare Access enforces itself becomes an ``mfa_config`` (allowed authenticators, session
    length); MFA enforced by the identity provider is a ``require`` rule instead (``auth_methods: [mfa]``), and no
    MFA leaves the organisation's default in force.
    """
    mfa = mfa or {}
    if not mfa.get("required") or mfa.get("enforced_by", "cloudflare") != "cloudflare":
        return None
    config = {"mfa_disabled": False, "allowed_authenticators": list(mfa.get("allowed_authenticators") or [])}
    if mfa.get("session_duration"):
        config["session_duration"] = mfa["session_duration"]
    return config


def policy_from_api(obj, reverse=None):
    """A Cloudflare policy object -> the same shape ``policy_to_api`` reads (for comparison and diffs)."""
    require = rules_from_api(obj.get("require"), reverse)
    mfa_config = obj.get("mfa_config") or {}
    mfa = {"required": False, "enforced_by": "cloudflare", "allowed_authenticators": [], "session_duration": None}
    if mfa_config and not mfa_config.get("mfa_disabled", False):
        mfa.update(required=True, allowed_authenticators=list(mfa_config.get("allowed_authenticators") or []),
                   session_duration=mfa_config.get("session_duration"))
    return {
        "name": obj.get("name"),
        "decision": _MODEL_DECISION.get(obj.get("decision"), obj.get("decision")),
        "include": rules_from_api(obj.get("include"), reverse),
        "require": require,
        "exclude": rules_from_api(obj.get("exclude"), reverse),
        "session_duration": obj.get("session_duration"),
        "purpose_justification": {
            "required": bool(obj.get("purpose_justification_required", False)),
            "prompt": obj.get("purpose_justification_prompt") or None,
        },
        "approval": {
            "required": bool(obj.get("approval_required", False)),
            "groups": [
                {"name": None, "emails": [e.lower() for e in (g.get("email_addresses") or [])],
                 "approvals_needed": int(g.get("approvals_needed", 0))}
                for g in (obj.get("approval_groups") or [])
            ],
        },
        "mfa": mfa,
        "isolation_required": bool(obj.get("isolation_required", False)),
    }


def _prefixed(model, name):
    return "%s%s" % (model["name_prefix"], name)


def _module_rules(model, rules):
    out = {}
    for key in _CLOUDFLARE_SELECTORS:
        value = rules[key]
        if key in ("groups", "service_tokens"):
            value = [_prefixed(model, v) for v in value]
        if value:
            out[key] = value
    return out


def _module_policy(model, policy):
    require = idp_mfa_require(policy)
    mfa = _cloudflare_mfa(policy)
    args = {
        "name": _prefixed(model, policy["name"]),
        "decision": _API_DECISION[policy["decision"]],
        "include": _module_rules(model, policy["include"]),
        "require": _module_rules(model, require),
        "exclude": _module_rules(model, policy["exclude"]),
        "purpose_justification_required": policy["purpose_justification"]["required"],
        "purpose_justification_prompt": policy["purpose_justification"]["prompt"],
        "approval_required": policy["approval"]["required"],
        "approval_groups": [
            {"emails": g["emails"], "approvals_needed": g["approvals_needed"]} for g in policy["approval"]["groups"]
        ],
        "session_duration": policy["session_duration"],
        "isolation_required": policy["isolation_required"],
        "mfa": None,
    }
    if mfa:
        args["mfa"] = {"required": True, "allowed_authenticators": mfa["allowed_authenticators"],
                       "session_duration": mfa["session_duration"]}
    else:
        args["mfa"] = {"required": False}
    return args


def cloudflare_plan(model):
    """Arguments for this collection's Cloudflare modules, built from a validated model.

    Path prefixes become Access applications: the root application (``domain``) carries the
    policies that apply to ``/``; each other prefix P gets its own application on ``domain/P``
    carrying every policy that governs P (its own and those of enclosing prefixes), because
    Cloudflare applies the most specific application to a request.
    """
    app = model["application"]
    cloudflare_policies = [p for p in model["policies"] if "cloudflare" in p["targets"]]
    if app["policies"]:
        order = app["policies"] + [p["name"] for p in cloudflare_policies if p["name"] not in app["policies"]]
        by_name = dict((p["name"], p) for p in cloudflare_policies)
        cloudflare_policies = [by_name[n] for n in order]

    ssh = model.get("management_ssh")
    used_groups = set()
    used_tokens = set([ssh["service_token"]]) if ssh else set()
    for policy in cloudflare_policies:
        for clause in ("include", "require", "exclude"):
            used_groups.update(policy[clause]["groups"])
            used_tokens.update(policy[clause]["service_tokens"])

    plan = {
        "identity_providers": [
            {"name": m["name"], "type": m["type"], "config": copy.deepcopy(m["config"])} for m in model["login_methods"]
        ],
        "groups": [
            {"name": _prefixed(model, g["name"]),
             "include": dict((k, g[k]) for k in ("emails", "email_domains") if g[k])}
            for g in model["groups"] if (g["emails"] or g["email_domains"])
        ],
        "service_tokens": [
            {"name": _prefixed(model, t["name"]), "duration": t["duration"], "model_name": t["name"]}
            for t in model["service_tokens"]
        ],
        "policies": [_module_policy(model, p) for p in cloudflare_policies + ([ssh["policy"]] if ssh else [])],
        "applications": [],
        "management_ssh": None,
        "unused": {
            "groups": sorted(set(g["name"] for g in model["groups"]) - used_groups),
            "service_tokens": sorted(set(t["name"] for t in model["service_tokens"]) - used_tokens),
        },
    }

    prefixes = ["/"]
    for policy in cloudflare_policies:
        for prefix in policy["paths"]:
            if prefix not in prefixes:
                prefixes.append(prefix)
    for prefix in prefixes:
        governing = [p for p in cloudflare_policies if any(path_matches(own, prefix) for own in p["paths"])]
        if prefix != "/" and not governing:
            continue
        domain = app["domain"] if prefix == "/" else app["domain"] + prefix
        plan["applications"].append({
            "name": app["name"] if prefix == "/" else "%s (%s)" % (app["name"], prefix),
            "path": prefix,
            "domain": domain,
            "destinations": [domain],
            "session_duration": app["session_duration"],
            "allowed_identity_providers": list(app["login_methods"]),
            "auto_redirect_to_identity": app["auto_redirect"],
            "app_launcher_visible": app["app_launcher_visible"] if prefix == "/" else False,
            "skip_interstitial": app["skip_interstitial"],
            "service_auth_401_redirect": app["service_auth_401_redirect"],
            "custom_deny_message": app["custom_deny_message"],
            "same_site_cookie_attribute": app["cookies"]["same_site"],
            "http_only_cookie_attribute": app["cookies"]["http_only"],
            "enable_binding_cookie": app["cookies"]["binding"],
            "path_cookie_attribute": app["cookies"]["path"],
            "policies": [_prefixed(model, p["name"]) for p in governing],
            # Cloudflare's own MFA for every application of the clinic; None follows the organisation's default.
            "mfa": copy.deepcopy(app["mfa"]),
            "management_ssh": False,
        })
    if ssh:
        plan["applications"].append(_management_ssh_application(model, ssh))
        plan["management_ssh"] = {"domain": ssh["domain"], "service_token": _prefixed(model, ssh["service_token"]),
                                  "service_token_model_name": ssh["service_token"]}
    return plan


def management_ssh_application_name(application_name):
    """The name of the SSH application of the clinic whose OSCAR application is ``application_name``."""
    return "%s (SSH)" % application_name


def _management_ssh_application(model, ssh):
    """The Access application in front of the provider's SSH host name: machines only (its one policy admits the
    provider's service token, which takes no seat), refused requests get 401, not a login page, and no launcher tile.
    A person who signs in matches no policy and is refused."""
    return {
        "name": management_ssh_application_name(model["application"]["name"]),
        "path": None,
        "domain": ssh["domain"],
        "destinations": [ssh["domain"]],
        "session_duration": ssh["session_duration"],
        "allowed_identity_providers": [],
        "auto_redirect_to_identity": False,
        "app_launcher_visible": False,
        "skip_interstitial": False,
        "service_auth_401_redirect": True,
        "custom_deny_message": None,
        "same_site_cookie_attribute": "lax",
        "http_only_cookie_attribute": True,
        "enable_binding_cookie": False,
        "path_cookie_attribute": False,
        "policies": [_prefixed(model, ssh["policy"]["name"])],
        # Explicitly off, whatever the organisation's default: a service token has no second factor to give.
        "mfa": {"required": False, "allowed_authenticators": [], "session_duration": None},
        "management_ssh": True,
    }
