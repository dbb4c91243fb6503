# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decision: which policies govern a request path, who is a member of what, and which allow policies admit an
account; the gateway's evaluator and the role's warnings use the same code.

PRIVATE to this collection: it may change without notice. Standard library only: clinic hosts receive it.
"""

from __future__ import annotations

from .._oscar_paths import rule_form
from .model import (
    _selectors_used,
    path_matches,
)

# Selectors the self-hosted gateway cannot evaluate, by gateway mode. It never learns which Cloudflare login method
# a person used; without Cloudflare in front it also learns no country and sees no service token.
GATEWAY_BLIND_SELECTORS = {
    "standalone": ("login_methods", "countries", "service_tokens", "any_service_token"),
    "cloudflare": ("login_methods",),
}
_BLIND_EFFECT = {
    "include": "matches nobody there",
    "require": "admits nobody there",
    "exclude": "excludes nobody there, which widens access",
}
_BLIND_REASON = {
    "login_methods": "it never learns which Cloudflare login method was used",
    "countries": "without Cloudflare in front it learns no country",
    "service_tokens": "without Cloudflare in front no service token reaches it",
    "any_service_token": "without Cloudflare in front no service token reaches it",
}


def gateway_mode_errors(model, mode, name="access_policy"):
    """Messages for policies the gateway applies that use selectors it cannot evaluate in ``mode``.

    Such a policy would not do at the gateway what it says: the gateway fails closed on an unknown selector, so
    it matches nobody in include, admits nobody in require and excludes nobody in exclude. Better refused with
    the way out named than found by a locked-out physician or, worse, a privacy officer.
    """
    errors = []
    for index, policy in enumerate(model["policies"]):
        if "gateway" not in policy["targets"]:
            continue
        for clause in ("include", "require", "exclude"):
            for key in _selectors_used(policy[clause], GATEWAY_BLIND_SELECTORS.get(mode, ())):
                errors.append(
                    "%s.policies[%d].%s.%s: the gateway (gateway_mode: %s) cannot evaluate %s: %s, so this %s %s. "
                    "Set targets: [cloudflare] on policy %r (Cloudflare enforces it) and give the gateway a policy "
                    "of its own, or drop the selector"
                    % (name, index, clause, key, mode, key, _BLIND_REASON[key], clause, _BLIND_EFFECT[clause],
                       policy["name"]))
    return errors


# ---------------------------------------------------------------------------------------------
# Evaluation helpers for the gateway
# ---------------------------------------------------------------------------------------------


class Membership:
    """Who a person is in the model: their groups and roles. Built once per model; the gateway asks it on every
    request, and the role's check asks it which accounts a policy admits, so both answer the same way."""

    def __init__(self, model):
        self._groups = dict((g["name"], (set(g["emails"]), set(g["email_domains"]), set(g["users"])))
                            for g in model.get("groups", []))
        self._users = dict((u["name"], u) for u in model.get("users", []))
        self._users_by_email = dict((u["email"], u) for u in model.get("users", []) if u.get("email"))

    def roles_for(self, username, email, extra=()):
        roles = set(r for r in extra if r)
        user = self._users.get(username) or self._users_by_email.get(email)
        if user:
            roles.update(user["roles"])
        return roles

    def model_username(self, email):
        user = self._users_by_email.get((email or "").lower())
        return user["name"] if user else ""

    def groups_for(self, username, email):
        email = (email or "").lower()
        domain = email.rsplit("@", 1)[1] if "@" in email else ""
        out = set()
        for name, (emails, domains, users) in self._groups.items():
            if (email and email in emails) or (domain and domain in domains) or (username and username in users):
                out.add(name)
        return out


def gateway_allow_policies_for(model, mode, username, email, role=""):
    """Names of the allow policies the gateway applies whose ``include`` can admit this gateway account.

    ``require`` and ``exclude`` only narrow, and network rules depend on where a person is, so this answers
    "could this person get anywhere at all"; an empty answer means an account that can sign in and reach nothing.
    The person is who the gateway takes them for (``Membership``): the account's name in standalone mode, the
    model's user of that email first in cloudflare mode.
    """
    members = Membership(model)
    email = (email or "").lower()
    domain = email.rsplit("@", 1)[1] if "@" in email else ""
    if mode == "cloudflare":
        username = members.model_username(email) or username
    roles = members.roles_for(username, email, [role])
    groups = members.groups_for(username, email)
    admitted = []
    for policy in model["policies"]:
        if policy["decision"] != "allow" or "gateway" not in policy["targets"]:
            continue
        rules = policy["include"]
        if (rules["everyone"] or email in rules["emails"] or domain in rules["email_domains"]
                or groups & set(rules["groups"]) or username in rules["users"] or roles & set(rules["roles"])):
            admitted.append(policy["name"])
    return admitted


def policies_for_path(model, request_path, target="gateway"):
    """The policies of ``model`` that govern ``request_path`` for ``target``, in model order.

    Order of evaluation (as Cloudflare does): bypass and service_auth first, then deny and allow,
    each group in model order; the caller applies the first that matches. Paths compare in ``rule_form`` (the one
    spelling nginx's blocked list uses too): ``/oscar/ADMIN``, ``/oscar/%41dmin`` and ``/oscar/admin.`` are governed
    by the policies of ``/oscar/admin``.
    """
    request_path = rule_form(request_path)
    chosen = [p for p in model["policies"]
              if target in p["targets"] and any(path_matches(rule_form(prefix), request_path) for prefix in p["paths"])]
    first = [p for p in chosen if p["decision"] in ("bypass", "service_auth")]
    return first + [p for p in chosen if p["decision"] not in ("bypass", "service_auth")]
