# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The access-policy model and its validation (one validator for Cloudflare and the gateway).

PRIVATE to this collection: it may change without notice. Standard library only: clinic hosts receive this file
(with ``decision.py``) next to the gateway.
"""

from __future__ import annotations

import ipaddress
import re

try:
    from .. import _problems
except ImportError:  # loaded outside module_utils (a test): the shared checks are in the parent folder
    import importlib.util
    import os
    _SPEC = importlib.util.spec_from_file_location(
        "_oscar_problems", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_problems.py"))
    _problems = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(_problems)

IDENTIFIER_RE = _problems.IDENTIFIER_RE
did_you_mean = _problems.did_you_mean
duration_ns = _problems.duration_ns
parse_cidr = _problems.parse_cidr
parse_email = _problems.parse_email
parse_go_duration = _problems.parse_go_duration
parse_hostname = _problems.parse_hostname
_show = _problems.show


class AccessPolicyError(ValueError):
    """A value of the access-policy model (or of a module argument) is invalid.

    ``path`` is where the value sits (``access_policy.policies[0].include.emails[1]``), ``value``
    the offending value and ``reason`` the explanation; ``str()`` joins them.
    """

    def __init__(self, path, value, reason):
        self.path = path
        self.value = value
        self.reason = reason
        if value is _NO_VALUE:
            message = "%s: %s" % (path, reason)
        else:
            message = "%s: %s %s" % (path, _show(value), reason)
        super().__init__(message)

    @classmethod
    def at(cls, path, reason):
        """An error about a place rather than a value (``args.include: must contain at least one rule``)."""
        return cls(path, _NO_VALUE, reason)


class _NoValue:
    def __repr__(self):
        return "<no value>"


_NO_VALUE = _NoValue()


def _fail(path, reason, value=_NO_VALUE):
    raise AccessPolicyError(path, value, reason)


# ---------------------------------------------------------------------------------------------
# Primitive validators
# ---------------------------------------------------------------------------------------------

# Cloudflare's longest session ("1 month" in the dashboard) is 730h, for applications and policies.
MAX_SESSION_DURATION = "730h"
# Cloudflare Access's own MFA session: minutes or hours only, at most 720h (30 days) (SDK 5.9 mfa_config).
MAX_MFA_SESSION_DURATION = "720h"
_MFA_SESSION = re.compile(r"^(?=\d)(?:\d+h)?(?:\d+m)?$")


_duration_ns = duration_ns


def canonical_duration(text):
    """The shortest Go form of a duration (``"1440m"`` -> ``"24h"``, ``"90m"`` -> ``"1h30m"``)."""
    ns = _duration_ns(text.strip()) if isinstance(text, str) else None
    if ns is None:
        return text
    if ns == 0:
        return "0s"
    hour, minute, second = 3600 * 10 ** 9, 60 * 10 ** 9, 10 ** 9
    hours, rest = divmod(ns, hour)
    minutes, rest = divmod(rest, minute)
    seconds, rest = divmod(rest, second)
    out = ""
    if hours:
        out += "%dh" % hours
    if minutes:
        out += "%dm" % minutes
    if rest:
        out += ("%d.%09d" % (seconds, rest)).rstrip("0") + "s"
    elif seconds:
        out += "%ds" % seconds
    return out


def duration_seconds(text):
    """Seconds in a Go duration string (``"8h"`` -> 28800.0); ``None`` if it does not parse."""
    if not isinstance(text, str):
        return None
    ns = _duration_ns(text.strip())
    return None if ns is None else ns / 1e9


def durations_equal(left, right):
    """True when two duration strings mean the same time (``"24h"`` == ``"1440m"``)."""
    if left == right:
        return True
    a, b = duration_seconds(left), duration_seconds(right)
    return a is not None and a == b


def validate_duration(value, path, minimum="0", maximum=None, allow_zero=True):
    """Check a Go duration string as Cloudflare accepts it and return it stripped."""
    try:
        return parse_go_duration(value, minimum, maximum, allow_zero, maximum_label="Cloudflare's maximum")
    except ValueError as exc:
        _fail(path, str(exc), value)


def validate_mfa_session(value, path):
    """An Access MFA session length as Cloudflare takes it: minutes or hours ('30m', '12h', '1h30m'), 0m to 720h."""
    text = validate_duration(value, path, maximum=MAX_MFA_SESSION_DURATION)
    if not _MFA_SESSION.match(text):
        _fail(path, "must be in minutes or hours, such as '30m', '12h' or '720h' (Cloudflare's MFA sessions take "
              "no other unit)", value)
    return text


def validate_cidr(value, path):
    """An IPv4/IPv6 address or network; returns the canonical network (``"203.0.113.7/32"``)."""
    try:
        return str(parse_cidr(value))
    except ValueError as exc:
        _fail(path, str(exc), value)


_LOOPBACK_NETWORKS = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("::ffff:127.0.0.0/104"),
)


def contains_loopback(cidr):
    """True when the network overlaps 127.0.0.0/8, ::1 or IPv4-mapped loopback."""
    network = ipaddress.ip_network(cidr, strict=False)
    return any(network.version == lo.version and network.overlaps(lo) for lo in _LOOPBACK_NETWORKS)


def validate_hostname(value, path, allow_wildcard=False, what="hostname"):
    """A DNS name such as ``emr.clinic.example`` (lower-cased, no scheme, port or path)."""
    try:
        return parse_hostname(value, allow_wildcard=allow_wildcard, what=what)
    except ValueError as exc:
        _fail(path, str(exc), value)


def validate_email(value, path):
    """An email address, returned lower-cased."""
    try:
        return parse_email(value)
    except ValueError as exc:
        _fail(path, str(exc), value)


def validate_email_domain(value, path):
    """An email domain (``clinic.example``; a leading ``@`` is dropped)."""
    if isinstance(value, str) and value.strip().startswith("@"):
        value = value.strip()[1:]
    return validate_hostname(value, path, what="email domain")


# ISO 3166-1 alpha-2 codes, plus Cloudflare's XX (unknown) and T1 (Tor).
_COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK XX T1
    """.split()
)


def validate_country(value, path):
    """An ISO 3166-1 alpha-2 country code, returned upper-case (``"ca"`` -> ``"CA"``)."""
    if not isinstance(value, str) or not re.match(r"^[A-Za-z][A-Za-z0-9]$", value.strip()):
        _fail(path, "is not a two-letter ISO 3166-1 country code", value)
    code = value.strip().upper()
    if code == "UK":
        _fail(path, "is not an ISO 3166-1 code; the United Kingdom is 'GB'", value)
    if code not in _COUNTRIES:
        _fail(path, "is not an assigned ISO 3166-1 country code", value)
    return code


_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=:@-]+$")


def validate_path_prefix(value, path):
    """A URL path prefix such as ``/oscar/ws``: absolute, no query, fragment, wildcard or dot segment.

    Prefixes match whole segments: ``/oscar/ws`` covers ``/oscar/ws`` and ``/oscar/ws/...`` but not
    ``/oscar/wsx``. A trailing slash is dropped (except for ``/`` itself).
    """
    if not isinstance(value, str) or not value.startswith("/"):
        _fail(path, "is not a path prefix (it must start with '/')", value)
    text = value
    if text != "/" and text.endswith("/"):
        text = text.rstrip("/") or "/"
    if text == "/":
        return text
    for segment in text[1:].split("/"):
        if segment in ("", ".", ".."):
            _fail(path, "must not contain empty, '.' or '..' segments", value)
        if "%" in segment:
            _fail(path, "must not contain percent-encoding; write the decoded path", value)
        if "*" in segment:
            _fail(path, "must not contain wildcards; a prefix already covers everything below it", value)
        if not _PATH_SEGMENT.match(segment):
            _fail(path, "contains characters not allowed in a path prefix (no spaces, '?' or '#')", value)
    return text


def path_matches(prefix, request_path):
    """Segment-wise prefix match: ``/oscar/ws`` matches ``/oscar/ws`` and ``/oscar/ws/x``, not ``/oscar/wsx``."""
    if prefix == "/":
        return request_path.startswith("/")
    return request_path == prefix or request_path.startswith(prefix + "/")


_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_IDENT = IDENTIFIER_RE


def _name(value, path, what="name"):
    if not isinstance(value, str) or not value.strip() or not _NAME.match(value):
        _fail(path, "is not a valid %s (a non-empty string of printable characters)" % what, value)
    return value.strip()


def _ident(value, path, what):
    if not isinstance(value, str) or not _IDENT.match(value.strip()):
        _fail(path, "is not a valid %s (letters, digits and . _ @ + -, starting with a letter or digit)" % what, value)
    return value.strip()


def _bool(value, path):
    if not isinstance(value, bool):
        _fail(path, "must be true or false", value)
    return value


def _int(value, path, minimum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            _fail(path, "must be a whole number", value)
    if minimum is not None and value < minimum:
        _fail(path, "must be at least %d" % minimum, value)
    return value


def _text(value, path, max_length=1024):
    if not isinstance(value, str):
        _fail(path, "must be a string", value)
    if len(value) > max_length:
        _fail(path, "is longer than %d characters" % max_length, value)
    return value


def _mapping(value, path, allowed, required=()):
    if not isinstance(value, dict):
        _fail(path, "must be a mapping", value)
    for key in value:
        if key not in allowed:
            _fail("%s.%s" % (path, key), "is not a known key; expected one of: %s%s"
                  % (", ".join(sorted(allowed)), did_you_mean(key, allowed)))
    for key in required:
        if value.get(key) is None:
            _fail("%s.%s" % (path, key), "is required")
    return value


def _list(value, path, allow_scalar=False):
    if value is None:
        return []
    if allow_scalar and isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        _fail(path, "must be a list", value)
    return list(value)


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# ---------------------------------------------------------------------------------------------
# Rules: include / require / exclude
# ---------------------------------------------------------------------------------------------

# Selector name -> (kind, where it is enforced). Lists unless the kind is "flag".
RULE_SELECTORS = {
    "emails": "list",
    "email_domains": "list",
    "ip_ranges": "list",
    "countries": "list",
    "groups": "list",
    "login_methods": "list",
    "service_tokens": "list",
    "auth_methods": "list",
    "any_service_token": "flag",
    "everyone": "flag",
    "users": "list",
    "roles": "list",
}
# Selectors only the self-hosted gateway understands; Cloudflare has no such users or roles.
GATEWAY_ONLY_SELECTORS = ("users", "roles")
IDENTITY_SELECTORS = ("emails", "email_domains", "groups", "login_methods", "auth_methods", "users", "roles")
SERVICE_TOKEN_SELECTORS = ("service_tokens", "any_service_token")
NETWORK_SELECTORS = ("ip_ranges", "countries")
# RFC 8176 authentication method reference values (what Cloudflare's auth_method rule matches).
AUTH_METHODS = frozenset(
    "face fpt geo hwk iris kba mca mfa otp pin pop pwd rba retina sc sms swk tel user vbm wia".split()
)

DECISIONS = ("allow", "deny", "bypass", "service_auth")
_DECISION_ALIASES = {
    "allow": "allow",
    "deny": "deny",
    "block": "deny",
    "bypass": "bypass",
    "service_auth": "service_auth",
    "non_identity": "service_auth",
}
_API_DECISION = {"allow": "allow", "deny": "deny", "bypass": "bypass", "service_auth": "non_identity"}
_MODEL_DECISION = {"allow": "allow", "deny": "deny", "bypass": "bypass", "non_identity": "service_auth"}


def normalize_decision(value, path):
    if not isinstance(value, str) or value.strip().lower() not in _DECISION_ALIASES:
        _fail(path, "is not a decision; expected one of: allow, deny, bypass, service_auth (non_identity)", value)
    return _DECISION_ALIASES[value.strip().lower()]


def empty_rules():
    """A rule set with every selector present and empty."""
    return dict((key, False if kind == "flag" else []) for key, kind in RULE_SELECTORS.items())


def validate_rules(data, path, context=None):
    """Validate one include/require/exclude block; returns a full, normalised rule set.

    ``context`` (optional) is a dict with sets of known ``groups``, ``login_methods``,
    ``service_tokens``, ``users`` and ``roles`` names; a reference to a name not in a given set
    is an error. Sets that are ``None`` are not checked.
    """
    context = context or {}
    result = empty_rules()
    if data is None:
        return result
    _mapping(data, path, RULE_SELECTORS)
    for key, kind in RULE_SELECTORS.items():
        value = data.get(key)
        where = "%s.%s" % (path, key)
        if kind == "flag":
            result[key] = False if value is None else _bool(value, where)
            continue
        items = _list(value, where, allow_scalar=True)
        clean = []
        for index, item in enumerate(items):
            item_path = "%s[%d]" % (where, index)
            if key == "emails":
                clean.append(validate_email(item, item_path))
            elif key == "email_domains":
                clean.append(validate_email_domain(item, item_path))
            elif key == "ip_ranges":
                clean.append(validate_cidr(item, item_path))
            elif key == "countries":
                clean.append(validate_country(item, item_path))
            elif key == "auth_methods":
                if not isinstance(item, str) or item.strip().lower() not in AUTH_METHODS:
                    _fail(item_path, "is not an RFC 8176 authentication method (e.g. 'mfa', 'hwk', 'otp')", item)
                clean.append(item.strip().lower())
            elif key in ("users", "roles"):
                clean.append(_ident(item, item_path, key[:-1] + " name"))
            else:
                clean.append(_name(item, item_path, "%s name" % key[:-1].replace("_", " ")))
            known = context.get(key)
            if known is not None and clean[-1] not in known:
                what = {"groups": "group", "login_methods": "login method", "service_tokens": "service token",
                        "users": "user", "roles": "role"}[key]
                choices = ", ".join(sorted(known)) or "none are defined"
                _fail(item_path, "is not a defined %s (defined: %s)" % (what, choices), item)
        result[key] = _unique(clean)
    return result


def rules_empty(rules, selectors=None):
    keys = selectors or RULE_SELECTORS
    return not any(rules.get(key) for key in keys)


def _selectors_used(rules, selectors):
    return [key for key in selectors if rules.get(key)]


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------

MFA_AUTHENTICATORS = ("totp", "biometrics", "security_key")
MFA_ENFORCERS = ("cloudflare", "identity_provider")
TARGETS = ("cloudflare", "gateway")
_POLICY_KEYS = (
    "name", "decision", "paths", "targets", "include", "require", "exclude", "mfa", "session_duration",
    "purpose_justification", "approval", "isolation_required", "description",
)


def _validate_mfa(value, path, decision):
    default_required = decision == "allow"
    result = {
        "required": default_required,
        "enforced_by": "cloudflare",
        "allowed_authenticators": list(MFA_AUTHENTICATORS),
        "session_duration": None,
    }
    if value is None:
        return result
    if isinstance(value, bool):
        result["required"] = value
    else:
        _mapping(value, path, ("required", "enforced_by", "allowed_authenticators", "session_duration"))
        if value.get("required") is not None:
            result["required"] = _bool(value["required"], path + ".required")
        else:
            result["required"] = True
        if value.get("enforced_by") is not None:
            if value["enforced_by"] not in MFA_ENFORCERS:
                _fail(path + ".enforced_by", "must be one of: %s" % ", ".join(MFA_ENFORCERS), value["enforced_by"])
            result["enforced_by"] = value["enforced_by"]
        if value.get("allowed_authenticators") is not None:
            items = _list(value["allowed_authenticators"], path + ".allowed_authenticators")
            if not items:
                _fail(path + ".allowed_authenticators", "must name at least one authenticator")
            for index, item in enumerate(items):
                if item not in MFA_AUTHENTICATORS:
                    _fail("%s.allowed_authenticators[%d]" % (path, index),
                          "must be one of: %s" % ", ".join(MFA_AUTHENTICATORS), item)
            result["allowed_authenticators"] = _unique(items)
        if value.get("session_duration") is not None:
            result["session_duration"] = validate_mfa_session(value["session_duration"], path + ".session_duration")
    if result["required"] and decision != "allow":
        _fail(path, "MFA applies only to allow policies (this one is %s); set mfa: false or drop it" % decision)
    return result


def validate_policy(data, path, context=None):
    """Validate one policy of the model (also used by the cloudflare_access_policy module)."""
    context = context or {}
    _mapping(data, path, _POLICY_KEYS, required=("name", "decision", "include"))
    policy = {"name": _name(data["name"], path + ".name", "policy name")}
    decision = policy["decision"] = normalize_decision(data["decision"], path + ".decision")
    policy["description"] = _text(data["description"], path + ".description") if data.get("description") else None

    paths = _list(data.get("paths"), path + ".paths", allow_scalar=True) or ["/"]
    policy["paths"] = _unique(validate_path_prefix(p, "%s.paths[%d]" % (path, i)) for i, p in enumerate(paths))

    targets = _list(data.get("targets"), path + ".targets", allow_scalar=True) or list(TARGETS)
    for index, target in enumerate(targets):
        if target not in TARGETS:
            _fail("%s.targets[%d]" % (path, index), "must be one of: %s" % ", ".join(TARGETS), target)
    policy["targets"] = [t for t in TARGETS if t in targets]

    for clause in ("include", "require", "exclude"):
        policy[clause] = validate_rules(data.get(clause), "%s.%s" % (path, clause), context)
    if rules_empty(policy["include"]):
        _fail(path + ".include", "must contain at least one rule (a policy with an empty include matches nobody)")

    # Which selectors make sense with which decision.
    for clause in ("include", "require"):
        rules = policy[clause]
        where = "%s.%s" % (path, clause)
        if decision == "bypass":
            used = _selectors_used(rules, IDENTITY_SELECTORS + SERVICE_TOKEN_SELECTORS)
            if used:
                _fail("%s.%s" % (where, used[0]), "cannot be used in a bypass policy: bypass never checks an "
                      "identity or a service token (use decision allow, or service_auth for service tokens)")
            if rules.get("everyone") and "/" in policy["paths"]:
                _fail(where + ".everyone", "would make the whole application public: a bypass for everyone is "
                      "only allowed on path prefixes below '/' (e.g. paths: ['/oscar/images'])")
        elif decision == "service_auth":
            used = _selectors_used(rules, IDENTITY_SELECTORS)
            if used:
                _fail("%s.%s" % (where, used[0]), "cannot be used in a service_auth policy: service_auth admits "
                      "machines by service token or network and never sees a user identity (use decision allow)")
            if rules.get("everyone"):
                _fail(where + ".everyone", "cannot be used in a service_auth policy; name the service tokens")
        elif decision == "allow":
            used = _selectors_used(rules, SERVICE_TOKEN_SELECTORS)
            if used:
                _fail("%s.%s" % (where, used[0]), "cannot be used in an allow policy: Cloudflare sends service "
                      "tokens on allow policies to a login page; use decision service_auth")
        if decision != "deny":
            for index, cidr in enumerate(rules["ip_ranges"]):
                if contains_loopback(cidr):
                    _fail("%s.ip_ranges[%d]" % (where, index),
                          "contains loopback addresses: behind cloudflared (and any local proxy) every request comes "
                          "from 127.0.0.1 or ::1, so this %s rule would admit the whole Internet; list the real "
                          "client networks instead" % decision, cidr)

    # A user has one email, one login method and one country per request: several in require
    # (where every entry must match) can never match together.
    for key in ("emails", "email_domains", "countries", "login_methods", "service_tokens", "users"):
        if len(policy["require"][key]) > 1:
            _fail("%s.require.%s" % (path, key), "lists %d values but every require entry must match at once, which "
                  "no single request can do; move them to include or put them in a group"
                  % len(policy["require"][key]))

    if "cloudflare" in policy["targets"]:
        for clause in ("require", "exclude"):
            used = _selectors_used(policy[clause], GATEWAY_ONLY_SELECTORS)
            if used:
                _fail("%s.%s.%s" % (path, clause, used[0]),
                      "is a gateway-only selector; Cloudflare would ignore it and so widen access. "
                      "Set targets: [gateway] on this policy or use emails/groups instead")
        cloudflare_include = [k for k in RULE_SELECTORS if k not in GATEWAY_ONLY_SELECTORS]
        if rules_empty(policy["include"], cloudflare_include):
            _fail(path + ".include", "has only gateway-only selectors (users, roles) but the policy also targets "
                  "Cloudflare, where it would match nobody; add emails/groups or set targets: [gateway]")

    policy["mfa"] = _validate_mfa(data.get("mfa"), path + ".mfa", decision)

    policy["session_duration"] = None
    if data.get("session_duration") is not None:
        if decision not in ("allow", "service_auth"):
            _fail(path + ".session_duration", "applies only to allow and service_auth policies (a %s creates no "
                  "session)" % decision)
        policy["session_duration"] = validate_duration(
            data["session_duration"], path + ".session_duration", maximum=MAX_SESSION_DURATION)

    justification = {"required": False, "prompt": None}
    raw = data.get("purpose_justification")
    if raw is not None:
        if isinstance(raw, bool):
            justification["required"] = raw
        else:
            _mapping(raw, path + ".purpose_justification", ("required", "prompt"))
            justification["required"] = _bool(raw.get("required", True), path + ".purpose_justification.required")
            if raw.get("prompt") is not None:
                justification["prompt"] = _text(raw["prompt"], path + ".purpose_justification.prompt").strip() or None
        if justification["prompt"] and not justification["required"]:
            _fail(path + ".purpose_justification.prompt", "is set but purpose_justification.required is false")
        if justification["required"] and decision != "allow":
            _fail(path + ".purpose_justification", "applies only to allow policies (this one is %s)" % decision)
    policy["purpose_justification"] = justification

    approval = {"required": False, "groups": []}
    raw = data.get("approval")
    if raw is not None:
        where = path + ".approval"
        _mapping(raw, where, ("required", "groups"))
        approval["required"] = _bool(raw.get("required", True), where + ".required")
        groups = _list(raw.get("groups"), where + ".groups")
        for index, group in enumerate(groups):
            gpath = "%s.groups[%d]" % (where, index)
            _mapping(group, gpath, ("name", "emails", "approvals_needed"), required=("emails",))
            emails = _list(group["emails"], gpath + ".emails", allow_scalar=True)
            if not emails:
                _fail(gpath + ".emails", "must list at least one approver")
            emails = _unique(validate_email(e, "%s.emails[%d]" % (gpath, i)) for i, e in enumerate(emails))
            needed = _int(group.get("approvals_needed", 1), gpath + ".approvals_needed", minimum=1)
            if needed > len(emails):
                _fail(gpath + ".approvals_needed", "asks for %d approvals but only %d approvers are listed"
                      % (needed, len(emails)), needed)
            name = _name(group["name"], gpath + ".name", "approval group name") if group.get("name") else None
            approval["groups"].append({"name": name, "emails": emails, "approvals_needed": needed})
        if approval["required"]:
            if decision != "allow":
                _fail(where, "applies only to allow policies (this one is %s)" % decision)
            if not approval["groups"]:
                _fail(where + ".groups", "must list at least one approval group when approval is required")
            if not justification["required"]:
                _fail(where, "requires purpose_justification.required: true (Cloudflare asks approvers to judge the "
                      "user's stated purpose)")
        elif approval["groups"]:
            _fail(where + ".groups", "are listed but approval.required is false")
    policy["approval"] = approval

    policy["isolation_required"] = (
        _bool(data["isolation_required"], path + ".isolation_required")
        if data.get("isolation_required") is not None else False
    )
    return policy


# ---------------------------------------------------------------------------------------------
# Login methods (identity providers)
# ---------------------------------------------------------------------------------------------

LOGIN_METHOD_TYPES = ("onetimepin", "saml", "azure_ad", "google_workspace", "okta", "oidc")
_API_IDP_TYPE = {
    "onetimepin": "onetimepin",
    "saml": "saml",
    "azure_ad": "azureAD",
    "google_workspace": "google-apps",
    "okta": "okta",
    "oidc": "oidc",
}
_TYPE_ALIASES = {
    "onetimepin": "onetimepin", "one_time_pin": "onetimepin", "otp": "onetimepin",
    "saml": "saml",
    "azure_ad": "azure_ad", "azuread": "azure_ad", "entra_id": "azure_ad",
    "google_workspace": "google_workspace", "google-apps": "google_workspace", "google_apps": "google_workspace",
    "okta": "okta",
    "oidc": "oidc",
}
# pkce_enabled exists only for generic OIDC (the SDK's AccessOIDCConfig); the other OAuth types have no such key.
_OAUTH_OPTIONAL = {"claims": "list", "email_claim_name": "str"}
# type -> (required config keys, optional config keys) with their kinds.
_IDP_CONFIG = {
    "onetimepin": ({}, {}),
    "saml": (
        {"issuer_url": "str", "sso_target_url": "url", "idp_public_certs": "list"},
        {"sign_request": "bool", "attributes": "list", "email_attribute_name": "str",
         "header_attributes": "list", "enable_encryption": "bool"},
    ),
    "azure_ad": (
        {"client_id": "str", "client_secret": "secret", "directory_id": "str"},
        dict(_OAUTH_OPTIONAL, support_groups="bool", conditional_access_enabled="bool", prompt="prompt"),
    ),
    "google_workspace": (
        {"client_id": "str", "client_secret": "secret", "apps_domain": "domain"},
        dict(_OAUTH_OPTIONAL),
    ),
    "okta": (
        {"client_id": "str", "client_secret": "secret", "okta_account": "url"},
        dict(_OAUTH_OPTIONAL, authorization_server_id="str"),
    ),
    "oidc": (
        {"client_id": "str", "client_secret": "secret", "auth_url": "url", "token_url": "url", "certs_url": "url"},
        dict(_OAUTH_OPTIONAL, scopes="list", pkce_enabled="bool"),
    ),
}
# Config keys Cloudflare never returns in clear text.
IDP_SECRET_KEYS = ("client_secret",)


def normalize_login_method_type(value, path):
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in _TYPE_ALIASES:
        _fail(path, "is not a supported login method type; expected one of: %s" % ", ".join(LOGIN_METHOD_TYPES), value)
    return _TYPE_ALIASES[key]


def api_idp_type(model_type):
    return _API_IDP_TYPE[model_type]


def model_idp_type(api_type):
    for model, api in _API_IDP_TYPE.items():
        if api == api_type:
            return model
    return api_type


def validate_idp_config(idp_type, config, path):
    """Check an identity provider's ``config`` for its type; returns a cleaned copy."""
    required, optional = _IDP_CONFIG[idp_type]
    config = {} if config is None else config
    _mapping(config, path, set(required) | set(optional))
    clean = {}
    for key, kind in list(required.items()) + list(optional.items()):
        where = "%s.%s" % (path, key)
        value = config.get(key)
        if value is None:
            if key in required:
                _fail(where, "is required for a %s login method" % idp_type)
            continue
        if kind in ("str", "secret", "prompt"):
            if not isinstance(value, str) or not value.strip():
                _fail(where, "must be a non-empty string", value if kind != "secret" else "<secret>")
            value = value.strip() if kind != "secret" else value
            if kind == "prompt" and value not in ("login", "select_account", "none"):
                _fail(where, "must be one of: login, select_account, none", value)
        elif kind == "url":
            if not isinstance(value, str) or not re.match(r"^https://[^\s/]+", value.strip()):
                _fail(where, "must be an https:// URL", value)
            value = value.strip()
        elif kind == "domain":
            value = validate_hostname(value, where, what="domain")
        elif kind == "bool":
            value = _bool(value, where)
        elif kind == "list":
            value = _list(value, where, allow_scalar=True)
            if key in ("idp_public_certs",) and not value:
                _fail(where, "must list at least one certificate")
        clean[key] = value
    return clean


def validate_login_method(data, path):
    _mapping(data, path, ("name", "type", "config"), required=("name", "type"))
    method = {"name": _name(data["name"], path + ".name", "login method name")}
    method["type"] = normalize_login_method_type(data["type"], path + ".type")
    method["config"] = validate_idp_config(method["type"], data.get("config"), path + ".config")
    return method


# ---------------------------------------------------------------------------------------------
# The whole model
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = ("version", "name_prefix", "application", "login_methods", "groups", "users", "service_tokens", "policies",
             "management_ssh")
_APP_KEYS = (
    "name", "domain", "session_duration", "login_methods", "auto_redirect", "app_launcher_visible", "cookies",
    "skip_interstitial", "custom_deny_message", "policies", "service_auth_401_redirect", "mfa",
)
_SAME_SITE = ("none", "lax", "strict")


def _named_list(value, path, validator):
    items = _list(value, path)
    result, names = [], {}
    for index, item in enumerate(items):
        where = "%s[%d]" % (path, index)
        clean = validator(item, where)
        if clean["name"] in names:
            _fail(where + ".name", "is defined twice (also at index %d)" % names[clean["name"]], clean["name"])
        names[clean["name"]] = index
        result.append(clean)
    return result


def _validate_group(data, path, users):
    _mapping(data, path, ("name", "emails", "email_domains", "users", "description"), required=("name",))
    group = {"name": _name(data["name"], path + ".name", "group name")}
    rules = validate_rules(
        {k: data.get(k) for k in ("emails", "email_domains", "users")}, path, {"users": users})
    group["emails"], group["email_domains"], group["users"] = rules["emails"], rules["email_domains"], rules["users"]
    if not (group["emails"] or group["email_domains"] or group["users"]):
        _fail(path, "has no members: list emails, email_domains or users")
    group["description"] = _text(data["description"], path + ".description") if data.get("description") else None
    return group


def _validate_user(data, path):
    _mapping(data, path, ("name", "email", "roles", "description"), required=("name",))
    user = {"name": _ident(data["name"], path + ".name", "user name")}
    user["email"] = validate_email(data["email"], path + ".email") if data.get("email") else None
    user["roles"] = _unique(
        _ident(r, "%s.roles[%d]" % (path, i), "role name")
        for i, r in enumerate(_list(data.get("roles"), path + ".roles", allow_scalar=True)))
    user["description"] = _text(data["description"], path + ".description") if data.get("description") else None
    return user


def _validate_service_token(data, path):
    _mapping(data, path, ("name", "duration", "description"), required=("name",))
    token = {"name": _name(data["name"], path + ".name", "service token name")}
    duration = data.get("duration", "8760h")
    if isinstance(duration, str) and duration.strip().lower() == "forever":
        token["duration"] = "forever"  # Cloudflare's special value for a token that never expires
    else:
        token["duration"] = validate_duration(duration, path + ".duration", allow_zero=False)
    token["description"] = _text(data["description"], path + ".description") if data.get("description") else None
    return token


def _validate_application_mfa(value, path):
    """The application's own Cloudflare MFA (its ``mfa_config``), or None to follow the organisation's default.

    Only Cloudflare enforces MFA at the application level; MFA that an identity provider enforces is a
    policy's ``require`` rule, so ``enforced_by: identity_provider`` belongs on a policy.
    """
    if value is None:
        return None
    if isinstance(value, dict) and value.get("enforced_by", "cloudflare") != "cloudflare":
        _fail(path + ".enforced_by", "an application's MFA is Cloudflare's own; MFA that the identity provider "
              "enforces goes on a policy (policies[].mfa.enforced_by)", value["enforced_by"])
    mfa = _validate_mfa(value, path, "allow")
    return {"required": mfa["required"], "allowed_authenticators": mfa["allowed_authenticators"],
            "session_duration": mfa["session_duration"]}


def _validate_application(data, path, login_methods, policies):
    _mapping(data, path, _APP_KEYS, required=("name", "domain"))
    app = {"name": _name(data["name"], path + ".name", "application name")}
    app["domain"] = validate_hostname(data["domain"], path + ".domain")
    app["session_duration"] = validate_duration(
        data.get("session_duration", "24h"), path + ".session_duration", maximum=MAX_SESSION_DURATION)
    names = _list(data.get("login_methods"), path + ".login_methods", allow_scalar=True)
    for index, name in enumerate(names):
        if name not in login_methods:
            _fail("%s.login_methods[%d]" % (path, index), "is not a defined login method (defined: %s)"
                  % (", ".join(sorted(login_methods)) or "none are defined"), name)
    app["login_methods"] = _unique(names) or list(login_methods)
    app["auto_redirect"] = _bool(data.get("auto_redirect", False), path + ".auto_redirect")
    if app["auto_redirect"] and len(app["login_methods"]) != 1:
        _fail(path + ".auto_redirect", "needs exactly one login method (this application allows %d)"
              % len(app["login_methods"]))
    app["app_launcher_visible"] = _bool(data.get("app_launcher_visible", True), path + ".app_launcher_visible")
    app["skip_interstitial"] = _bool(data.get("skip_interstitial", False), path + ".skip_interstitial")
    app["service_auth_401_redirect"] = _bool(
        data.get("service_auth_401_redirect", True), path + ".service_auth_401_redirect")
    app["custom_deny_message"] = (
        _text(data["custom_deny_message"], path + ".custom_deny_message") if data.get("custom_deny_message") else None)
    cookies = data.get("cookies") or {}
    _mapping(cookies, path + ".cookies", ("same_site", "http_only", "binding", "path"))
    same_site = cookies.get("same_site", "lax")
    if same_site not in _SAME_SITE:
        _fail(path + ".cookies.same_site", "must be one of: %s" % ", ".join(_SAME_SITE), same_site)
    app["cookies"] = {
        "same_site": same_site,
        "http_only": _bool(cookies.get("http_only", True), path + ".cookies.http_only"),
        "binding": _bool(cookies.get("binding", False), path + ".cookies.binding"),
        "path": _bool(cookies.get("path", False), path + ".cookies.path"),
    }
    app["mfa"] = _validate_application_mfa(data.get("mfa"), path + ".mfa")
    order = _list(data.get("policies"), path + ".policies", allow_scalar=True)
    for index, name in enumerate(order):
        if name not in policies:
            _fail("%s.policies[%d]" % (path, index), "is not a defined policy", name)
        if "cloudflare" not in policies[name]["targets"]:
            _fail("%s.policies[%d]" % (path, index), "is a gateway-only policy (targets: [gateway])", name)
    app["policies"] = _unique(order)
    return app


# The SSH application's one policy: a model policy like any other, named here so that no clinic policy takes the name.
MANAGEMENT_SSH_POLICY = "management-ssh"


def _validate_management_ssh(data, path, service_tokens, app_domain):
    """The IT provider's SSH host name through the tunnel (``management_ssh``), or None when the clinic has none.

    It becomes a second Cloudflare Access application whose only policy admits the provider's service token: that
    policy is built and checked by ``validate_policy``, as every policy of the model is.
    """
    if data is None:
        return None
    _mapping(data, path, ("domain", "service_token", "session_duration"), required=("domain",))
    ssh = {"domain": validate_hostname(data["domain"], path + ".domain")}
    if ssh["domain"] == app_domain:
        _fail(path + ".domain", "is also application.domain: SSH needs a host name of its own", data["domain"])
    token = data.get("service_token")
    if token is None or (isinstance(token, str) and not token.strip()):
        _fail(path + ".service_token", "is required: the SSH application admits only the IT provider's service token "
              "(define it in service_tokens and name it here); without one, nothing could reach SSH, or, with "
              "another policy, more than the provider would")
    token = _name(token, path + ".service_token", "service token name")
    if token not in service_tokens:
        _fail(path + ".service_token", "is not a defined service token (defined: %s)"
              % (", ".join(sorted(service_tokens)) or "none are defined"), token)
    ssh["service_token"] = token
    ssh["session_duration"] = validate_duration(
        data.get("session_duration", "24h"), path + ".session_duration", maximum=MAX_SESSION_DURATION)
    ssh["policy"] = validate_policy(
        {"name": MANAGEMENT_SSH_POLICY, "decision": "service_auth", "targets": ["cloudflare"],
         "include": {"service_tokens": [token]}, "session_duration": ssh["session_duration"],
         "description": "The IT provider's SSH to the clinic's hosts (access_policy.management_ssh)"},
        path, {"service_tokens": service_tokens})
    return ssh


def validate_access_policy(data, name="access_policy"):
    """Validate the whole ``access_policy`` inventory variable; return the normalised model."""
    _mapping(data, name, _TOP_KEYS, required=("application", "policies"))
    model = {"version": _int(data.get("version", 1), name + ".version", minimum=1)}
    if model["version"] != 1:
        _fail(name + ".version", "is not a model version this collection understands (1)", data.get("version"))
    prefix = data.get("name_prefix") or ""
    model["name_prefix"] = _text(prefix, name + ".name_prefix", max_length=64) if prefix else ""

    model["login_methods"] = _named_list(data.get("login_methods"), name + ".login_methods", validate_login_method)
    model["users"] = _named_list(data.get("users"), name + ".users", _validate_user)
    users_defined = data.get("users") is not None
    user_names = set(u["name"] for u in model["users"]) if users_defined else None
    role_names = set(r for u in model["users"] for r in u["roles"]) if users_defined else None
    model["groups"] = _named_list(
        data.get("groups"), name + ".groups", lambda item, where: _validate_group(item, where, user_names))
    model["service_tokens"] = _named_list(data.get("service_tokens"), name + ".service_tokens", _validate_service_token)

    context = {
        "groups": set(g["name"] for g in model["groups"]),
        "login_methods": set(m["name"] for m in model["login_methods"]),
        "service_tokens": set(t["name"] for t in model["service_tokens"]),
        "users": user_names,
        "roles": role_names,
    }
    model["policies"] = _named_list(
        data.get("policies"), name + ".policies", lambda item, where: validate_policy(item, where, context))
    if not model["policies"]:
        _fail(name + ".policies", "must define at least one policy (without one, nobody gets in)")

    groups = dict((g["name"], g) for g in model["groups"])
    for index, policy in enumerate(model["policies"]):
        if "cloudflare" not in policy["targets"]:
            continue
        for clause in ("include", "require", "exclude"):
            for gi, group_name in enumerate(policy[clause]["groups"]):
                group = groups[group_name]
                if not (group["emails"] or group["email_domains"]):
                    _fail("%s.policies[%d].%s.groups[%d]" % (name, index, clause, gi),
                          "has only gateway users, so Cloudflare cannot match it; add emails or email_domains to "
                          "the group or set targets: [gateway]", group_name)

    policies = dict((p["name"], p) for p in model["policies"])
    model["application"] = _validate_application(
        data["application"], name + ".application", [m["name"] for m in model["login_methods"]], policies)
    model["management_ssh"] = _validate_management_ssh(
        data.get("management_ssh"), name + ".management_ssh", context["service_tokens"], model["application"]["domain"])
    if model["management_ssh"] and MANAGEMENT_SSH_POLICY in policies:
        index = [p["name"] for p in model["policies"]].index(MANAGEMENT_SSH_POLICY)
        _fail("%s.policies[%d].name" % (name, index), "is the name of management_ssh's own policy; rename this one",
              MANAGEMENT_SSH_POLICY)
    return model
