"""Evaluate the inventory's access-policy model (``_access_policy``) for one request.

Order and matching come from the model: ``policies_for_path`` gives the policies that govern the
path (bypass and service_auth first, then deny and allow in inventory order) and the first one
that matches decides. Default deny.

Rules: ``include`` matches if any of its selectors matches, ``require`` if every selector it uses
matches, ``exclude`` if any matches. For a visitor who has not logged in yet, identity selectors
are *unknown* (three-valued logic): an allow or deny policy that could match once the visitor is
known sends them to the login page; one that cannot match is skipped.

IP ranges never match a loopback client address: behind cloudflared or any local proxy every
request comes from 127.0.0.1, so such a match would admit everybody.
"""

import ipaddress

from . import _shared

ALLOW, BYPASS, SERVICE, DENY, LOGIN = "allow", "bypass", "service", "deny", "login"
IDENTITY_KEYS = ("emails", "email_domains", "groups", "login_methods", "auth_methods", "users", "roles")


class Subject:
    """Who is asking. ``kind`` is anonymous, user or service."""

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
        try:
            self.address = ipaddress.ip_address(ip) if ip else None
        except ValueError:
            self.address = None


class Evaluator:
    def __init__(self, model):
        self.model = model
        self._ap = _shared.access_policy_module()
        self._networks = {}
        self._members = self._ap.Membership(model)
        self._path_cache = {}

    # -- identity enrichment (the shared model's Membership, as the role's check uses it) ------

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

    def _used(self, rules):
        return [(k, v) for k, v in rules.items() if v and k != "other"]

    def matches(self, policy, subject):
        """Three-valued match of a policy's rules: True, False or None (unknown until login)."""
        include = [self._selector(k, v, subject) for k, v in self._used(policy["include"])]
        if not include or all(r is False for r in include):
            return False
        result = True if any(r is True for r in include) else None
        for key, values in self._used(policy["require"]):
            r = self._selector(key, values, subject)
            if r is False:
                return False
            if r is None:
                result = None
        for key, values in self._used(policy["exclude"]):
            r = self._selector(key, values, subject)
            if r is True:
                return False
            if r is None:
                result = None
        return result

    def policies_for(self, path):
        cached = self._path_cache.get(path)
        if cached is None:
            cached = self._ap.policies_for_path(self.model, path, target="gateway")
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
