# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decision: which policies govern a request path, who is a member of what, whether a policy admits a subject and
what a request gets; the gateway (``Evaluator.decide`` for every request) and the gateway role's warnings
(``gateway_allow_policies_for``) use the same evaluator.

Order and matching: ``policies_for_path`` gives the policies that govern the path (bypass and service_auth first,
then deny and allow in inventory order) and the first one that matches decides. Default deny. ``include`` matches
if any of its selectors matches, ``require`` if every selector it uses matches, ``exclude`` if any matches. For a
visitor who has not signed in yet, identity selectors are *unknown* (three-valued logic): an allow or deny policy
that could match once the visitor is known sends them to sign in; one that cannot match is skipped.

IP ranges never match a loopback client address: behind cloudflared or any local proxy every request comes from
127.0.0.1, so such a match would admit everybody.

PRIVATE to this collection: it may change without notice. Standard library only: clinic hosts receive it.
"""

from __future__ import annotations

import functools
import ipaddress

from .._oscar_paths import rule_form
from .model import (
    MFA_AUTHENTICATORS,
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
# Who is who, and which policies govern a path
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


def _covers(allow, deny):
    """Whether every person ``deny``'s include matches is matched by ``allow``, which nothing narrows (no require,
    no exclude). Include is an OR of selectors: each of the deny's must be among the allow's, or the allow takes
    everyone. Conservative: a False here may still be a shadow, a True always is one."""
    if any(allow["require"][key] for key in allow["require"]) or any(allow["exclude"][key] for key in allow["exclude"]):
        return False
    if allow["include"]["everyone"]:
        return True
    for key, value in deny["include"].items():
        if isinstance(value, bool):
            if value and not allow["include"][key]:
                return False
        elif not set(value) <= set(allow["include"][key]):
            return False
    return True


def shadowed_deny_warnings(model, name="access_policy"):
    """Deny policies that can never apply: an earlier allow policy (deny and allow are applied in model order, the
    first that matches wins, ``policies_for_path``) already governs all of their paths for the same targets and
    matches everyone they match. Each warning names both policies."""
    warnings = []
    policies = model["policies"]
    for index, deny in enumerate(policies):
        if deny["decision"] != "deny":
            continue
        for earlier, allow in enumerate(policies[:index]):
            if allow["decision"] != "allow" or not set(deny["targets"]) <= set(allow["targets"]):
                continue
            if all(any(path_matches(a, d) for a in allow["paths"]) for d in deny["paths"]) and _covers(allow, deny):
                warnings.append("%s.policies[%d]: deny policy '%s' can never apply: allow policy '%s' "
                                "(policies[%d]) comes first and already admits everyone it matches on all its paths; "
                                "move the deny before the allow, or narrow the allow"
                                % (name, index, deny["name"], allow["name"], earlier))
                break
    return warnings


def gateway_allow_policies_for(model, mode, username, email, role=""):
    """Names of the allow policies the gateway applies whose ``include`` can admit this gateway account.

    ``require`` and ``exclude`` only narrow, and network rules depend on where a person is, so this answers
    "could this person get anywhere at all"; an empty answer means an account that can sign in and reach nothing.
    The person is who the gateway takes them for (``Membership``): the account's name in standalone mode, the
    model's user of that email first in cloudflare mode. The selectors are matched by the gateway's own
    ``Evaluator``, so the warning and the request decision cannot disagree about who a policy names.
    """
    evaluator = Evaluator(model)
    email = (email or "").lower()
    if mode == "cloudflare":
        username = evaluator.model_username(email) or username
    subject = Subject("user", None, username=username, email=email,
                      roles=evaluator.roles_for(username, email, [role]), groups=evaluator.groups_for(username, email))
    return [policy["name"] for policy in model["policies"]
            if policy["decision"] == "allow" and "gateway" in policy["targets"] and evaluator.includes(policy, subject)]


# ---------------------------------------------------------------------------------------------
# The request evaluator (the gateway asks it on every request)
# ---------------------------------------------------------------------------------------------

ALLOW, BYPASS, SERVICE, DENY, LOGIN = "allow", "bypass", "service", "deny", "login"

# The model's MFA authenticators (``mfa.allowed_authenticators``) as RFC 8176 methods in a session's ``amr``: a
# one-time code is TOTP ("otp"), a passkey or security key a proof of possession of a key ("hwk", "swk"). A
# recovery code ("kba") and a fingerprint alone are none of them.
AUTHENTICATOR_AMR = {"totp": ("otp",), "security_key": ("hwk", "swk"), "biometrics": ("fpt", "face")}


def authenticator_allowed(allowed_authenticators, amr):
    """Whether a session whose sign-in used the methods ``amr`` satisfies a policy's ``mfa.allowed_authenticators``.

    All of the model's authenticators (its default) is no restriction: any second factor does, a recovery code too.
    A narrower list admits a session only if its second factor was one of those named.
    """
    allowed = set(allowed_authenticators or ())
    if allowed >= set(MFA_AUTHENTICATORS):
        return True
    return any(method in amr for name in allowed for method in AUTHENTICATOR_AMR.get(name, ()))


@functools.lru_cache(maxsize=4096)
def _address(ip):
    """The parsed client address, or None; parsed once per address (the same clients ask on every request)."""
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


class Subject:
    """Who is asking. ``kind`` is anonymous, user or service; ``ip`` may be None (not known, as for the role's
    warnings), which no IP range matches."""

    __slots__ = (
        "address",
        "amr",
        "country",
        "display_name",
        "email",
        "groups",
        "ip",
        "kind",
        "login_method",
        "roles",
        "service_tokens",
        "username",
    )

    def __init__(self, kind, ip, username="", email="", display_name="", roles=(), groups=(), amr=(),
                 country="", service_tokens=(), login_method=""):
        self.kind = kind
        self.ip = ip
        self.username = username
        self.email = (email or "").lower()
        self.display_name = display_name
        self.roles = frozenset(roles)
        self.groups = frozenset(groups)
        self.amr = frozenset(amr)
        self.country = country
        self.service_tokens = frozenset(service_tokens)
        self.login_method = login_method
        self.address = _address(ip) if ip else None


class Evaluator:
    """Evaluates one normalised model (``validate_access_policy``'s result) for subjects and paths."""

    def __init__(self, model):
        self.model = model
        self._networks = {}
        self._members = Membership(model)
        self._path_cache = {}

    # -- identity enrichment ------------------------------------------------------------------

    def roles_for(self, username, email, extra=()):
        return self._members.roles_for(username, email, extra)

    def model_username(self, email):
        return self._members.model_username(email)

    def groups_for(self, username, email):
        return self._members.groups_for(username, email)

    # -- matching -----------------------------------------------------------------------------

    def _in_ranges(self, address, ranges):
        if address is None or address.is_loopback or (
                getattr(address, "ipv4_mapped", None) is not None and address.ipv4_mapped.is_loopback):
            return False
        for cidr in ranges:
            network = self._networks.get(cidr)
            if network is None:
                network = self._networks[cidr] = ipaddress.ip_network(cidr, strict=False)
            if address.version == network.version and address in network:
                return True
            mapped = getattr(address, "ipv4_mapped", None)
            if mapped is not None and network.version == 4 and mapped in network:
                return True
        return False

    def _selector(self, key, values, subject):
        """True, False, or None when it depends on an identity not known yet."""
        if key == "everyone":
            return bool(values)
        if key == "ip_ranges":
            return self._in_ranges(subject.address, values)
        if key == "countries":
            return bool(subject.country) and subject.country in values
        if key == "any_service_token":
            return bool(values) and subject.kind == "service"
        if key == "service_tokens":
            return subject.kind == "service" and any(v in subject.service_tokens for v in values)
        if subject.kind == "anonymous":
            return None
        if subject.kind == "service":
            return False
        if key == "emails":
            return bool(subject.email) and subject.email in values
        if key == "email_domains":
            return "@" in subject.email and subject.email.rsplit("@", 1)[1] in values
        if key == "groups":
            return any(v in subject.groups for v in values)
        if key == "users":
            return bool(subject.username) and subject.username in values
        if key == "roles":
            return any(v in subject.roles for v in values)
        if key == "auth_methods":
            return any(v in subject.amr for v in values)
        if key == "login_methods":
            return bool(subject.login_method) and subject.login_method in values
        return False

    @staticmethod
    def _used(rules):
        return [(k, v) for k, v in rules.items() if v and k != "other"]

    def includes(self, policy, subject):
        """True when some selector of the policy's ``include`` matches the subject (``require`` and ``exclude``
        not considered)."""
        return any(self._selector(k, v, subject) is True for k, v in self._used(policy["include"]))

    def matches(self, policy, subject):
        """Three-valued match of a policy's rules: True, False or None (unknown until login)."""
        include = [self._selector(k, v, subject) for k, v in self._used(policy["include"])]
        if not include or all(r is False for r in include):
            return False
        result = True if any(r is True for r in include) else None
        # A require rule refuses when it does not match, an exclude rule when it does; either unknown makes it unknown.
        for clause, refusing in (("require", False), ("exclude", True)):
            for key, values in self._used(policy[clause]):
                r = self._selector(key, values, subject)
                if r is refusing:
                    return False
                if r is None:
                    result = None
        return result

    def policies_for(self, path):
        cached = self._path_cache.get(path)
        if cached is None:
            cached = policies_for_path(self.model, path, target="gateway")
            if len(self._path_cache) < 4096:
                self._path_cache[path] = cached
        return cached

    def decide(self, path, subject):
        """Return (outcome, policy or None). Outcomes: allow, bypass, service, deny, login."""
        for policy in self.policies_for(path):
            decision = policy["decision"]
            if decision == "bypass":
                if self.matches(policy, subject) is True:
                    return BYPASS, policy
            elif decision == "service_auth":
                if subject.kind == "service" and self.matches(policy, subject) is True:
                    return SERVICE, policy
            elif decision == "deny":
                result = self.matches(policy, subject)
                if result is True:
                    return DENY, policy
                if result is None:
                    return LOGIN, policy
            elif decision == "allow":
                if subject.kind == "service":
                    continue
                result = self.matches(policy, subject)
                if result is False:
                    continue
                if subject.kind == "anonymous":
                    return LOGIN, policy
                if result is True:
                    return ALLOW, policy
        return DENY, None
