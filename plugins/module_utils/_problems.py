# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The problems collector every role's check uses, with the primitive checks they share.

A role's check (``module_utils/_<role>.py``, run by the ``<role>_validate`` action plugin) records every problem it
finds in one ``Problems`` and fails with all of them at once, each naming the variable and the value. The primitive
checks (CIDR, host name, port, email, Go duration, identifier, boolean) live here once; each is a ``parse_*``
function that returns the normal form or raises ``ValueError`` with the reason, and a ``Problems`` method that
records the reason under a variable's name instead of raising.

Self-contained (standard library only): the gateway role copies this file to the host next to the gateway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re
from fractions import Fraction

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
# Go's time.ParseDuration, which Cloudflare and cloudflared use: a sequence of decimal numbers with a unit each
# ("300ms", "2h45m", "1.5h"), units ns, us, µs, ms, s, m, h, or the bare "0". Go allows a sign; nothing here does.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_FULL = re.compile(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9,
            "h": 3600 * 10 ** 9}


def show(value):
    """A value as messages quote it: strings in single quotes, anything else as repr."""
    if isinstance(value, str):
        return "'%s'" % value.replace("'", "\\'")
    return repr(value)


def closest(name, known):
    """The known name a misspelt ``name`` most likely meant, or None."""
    matches = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name, known):
    suggestion = closest(name, known)
    return " (did you mean %s?)" % suggestion if suggestion else ""


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class CidrError(ValueError):
    """``parse_cidr``'s refusal; ``network`` is what a value with host bits set most likely meant, else None."""

    def __init__(self, message, network=None):
        super(CidrError, self).__init__(message)
        self.network = network


def parse_cidr(value):
    """An IPv4/IPv6 address or network without host bits; returns the ``ip_network``."""
    if not isinstance(value, str) or not value.strip():
        raise CidrError("is not a valid CIDR")
    text = value.strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise CidrError("is not a valid CIDR") from None
    raise CidrError("has host bits set; did you mean '%s'?" % loose, loose)


def parse_hostname(value, allow_wildcard=False, what="hostname", single_label=False):
    """A DNS name such as ``emr.clinic.example``, returned lower-cased (no scheme, port or path)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is not a valid %s" % what)
    text = value.strip().lower().rstrip(".")
    if "://" in text:
        bare = re.sub(r"^[a-z0-9+.-]*://", "", text).split("/")[0].split("@")[-1]
        bare = bare.rsplit(":", 1)[0] if bare.count(":") == 1 else bare
        raise ValueError("is a URL, not a %s; give the bare name ('%s')" % (what, bare))
    if "/" in text or ":" in text:
        raise ValueError("is not a valid %s (give the bare name: no scheme, port or path)" % what)
    labels = text.split(".")
    if allow_wildcard and labels[0] == "*":
        labels = labels[1:]
    if len(text) > 253 or len(labels) < (1 if single_label else 2) or not all(_LABEL.match(x) for x in labels):
        raise ValueError("is not a valid %s" % what)
    if labels[-1].isdigit():
        raise ValueError("is not a valid %s" % what)
    return text


def is_hostname(value, single_label=True):
    """Whether ``value`` is a DNS name (any case, an optional trailing dot); single labels such as ``localhost`` by
    default, since clinic networks use them."""
    try:
        parse_hostname(value, single_label=single_label)
    except ValueError:
        return False
    return True


def parse_email(value):
    """An email address, returned with its local part and domain lower-cased."""
    if not isinstance(value, str) or value.count("@") != 1:
        raise ValueError("is not a valid email address")
    local, domain = value.strip().split("@")
    if not _EMAIL_LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("is not a valid email address")
    try:
        domain = parse_hostname(domain)
    except ValueError:
        raise ValueError("is not a valid email address") from None
    return "%s@%s" % (local.lower(), domain)


def parse_port(value):
    """A TCP/UDP port number (an int or a string of digits), 1-65535."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not is_int(value) or not 1 <= value <= 65535:
        raise ValueError("is not a port (1-65535)")
    return value


def duration_ns(text):
    """Nanoseconds in a Go duration string (exact), or None when it is not one."""
    if text == "0":
        return 0
    if not _DURATION_FULL.match(text):
        return None
    total = Fraction(0)
    for number, unit in _DURATION_PART.findall(text):
        total += Fraction(number) * _UNIT_NS[unit]
    return int(total)


def parse_go_duration(value, minimum="0", maximum=None, allow_zero=True, maximum_label="the maximum"):
    """A Go duration string (``"24h"``, ``"1h30m"``, ``0``) within bounds, returned stripped."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be a duration string such as '30m', '8h' or '24h'")
    text = str(value).strip()
    if isinstance(value, int):
        if value != 0:
            raise ValueError("has no unit; write a duration such as '30m', '8h' or '24h'")
        text = "0"
    if text.startswith(("-", "+")):
        raise ValueError("must not carry a sign")
    ns = duration_ns(text)
    if ns is None:
        hint = ""
        match = re.match(r"^(\d+)\s*(d|w|day|days|week|weeks)$", text)
        if match:
            per = 24 if match.group(2).startswith("d") else 168
            hint = " (days and weeks are not Go duration units: write '%dh')" % (int(match.group(1)) * per)
        elif re.match(r"^\d+(\.\d+)?$", text):
            hint = " (add a unit: ns, us, ms, s, m or h)"
        raise ValueError("is not a valid duration; use Go duration syntax such as '30m', '8h' or '2h45m'%s" % hint)
    if ns == 0 and not allow_zero:
        raise ValueError("must be longer than zero")
    if minimum is not None and ns < duration_ns(minimum):
        raise ValueError("is shorter than the minimum of %s" % minimum)
    if maximum is not None and ns > duration_ns(maximum):
        raise ValueError("is longer than %s of %s" % (maximum_label, maximum))
    return text


def parse_identifier(value, pattern=IDENTIFIER_RE, what="a name of letters, digits, '.', '_', '@', '+' or '-'"):
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError("is not %s" % what)
    return value


def parse_boolean(value):
    if not isinstance(value, bool):
        raise ValueError("is not true or false")
    return value


# What Ansible's ``bool`` filter reads as true or false (any case), the filter through which every task and template
# of the collection reads a role's boolean variable. The role argument check also lets 'y', 'n', 't', 'f' and 1.0
# through, which the filter reads as false: ``nginx_oscar_upstream_tls_verify: y`` would turn checking off.
BOOLEAN_SPELLINGS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False,
                     "0": False}


def parse_boolean_spelling(value):
    """A role's top-level boolean variable: true/false or a spelling in BOOLEAN_SPELLINGS (a quoted ``'no'``, or
    ``-e name=false``, which always arrives as a string)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).lower() in BOOLEAN_SPELLINGS:
        return BOOLEAN_SPELLINGS[str(value).lower()]
    raise ValueError("is not read as true or false by the roles; write true or false")


class Problems(object):
    """Every problem found in a role's input, in the order found; each message starts with where it is."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def __len__(self):
        return len(self.errors)

    def __bool__(self):
        return bool(self.errors)

    __nonzero__ = __bool__

    def add(self, where, message):
        self.errors.append("%s: %s" % (where, message))

    def warn(self, where, message):
        self.warnings.append("%s: %s" % (where, message))

    def check(self, parse, where, value, *args, **kwargs):
        """``parse(value, ...)``; on ValueError, record the reason with the value and return None."""
        try:
            return parse(value, *args, **kwargs)
        except ValueError as exc:
            self.add(where, "%s %s" % (show(value), exc))
            return None

    def cidr(self, where, value):
        return self.check(parse_cidr, where, value)

    def hostname(self, where, value, **kwargs):
        return self.check(parse_hostname, where, value, **kwargs)

    def email(self, where, value):
        return self.check(parse_email, where, value)

    def port(self, where, value):
        return self.check(parse_port, where, value)

    def go_duration(self, where, value, **kwargs):
        return self.check(parse_go_duration, where, value, **kwargs)

    def identifier(self, where, value, **kwargs):
        return self.check(parse_identifier, where, value, **kwargs)

    def boolean(self, where, value):
        return self.check(parse_boolean, where, value)

    def unknown_keys(self, where, mapping, allowed, what="unknown keys"):
        """Keys of ``mapping`` that ``allowed`` does not name, each with the closest allowed key."""
        unknown = sorted(str(key) for key in mapping if key not in allowed)
        if unknown:
            self.add(where, "%s %s%s (allowed: %s)" % (
                what, ", ".join(unknown), "".join(did_you_mean(key, allowed) for key in unknown),
                ", ".join(sorted(allowed))))
        return unknown

    def entries(self, where, value, allowed, not_a_list="must be a list", not_a_mapping="must be a mapping"):
        """``[(index, path, entry)]`` of the mappings in a structured variable's list (peers, accounts,
        interfaces), each path ``where[index]``; records a value that is not a list, an entry that is not a mapping
        and each entry's unknown keys (with the closest allowed one)."""
        if not isinstance(value, list):
            self.add(where, not_a_list)
            return []
        found = []
        for index, entry in enumerate(value):
            path = "%s[%d]" % (where, index)
            if not isinstance(entry, dict):
                self.add(path, not_a_mapping)
                continue
            self.unknown_keys(path, entry, allowed)
            found.append((index, path, entry))
        return found

    def unknown_variables(self, names, known, prefix, role):
        """Variables named ``<prefix>...`` that the role does not know: a typo would otherwise be ignored silently.

        The value is not shown: a misspelt secret (a tunnel token, a password hash) must not end up in a log."""
        for name in sorted(set(names) - set(known)):
            if name.startswith(prefix):
                self.add(name, "is not a variable of the %s role%s; the role would ignore it (its variables are in "
                         "roles/%s/meta/argument_specs.yml)" % (role, did_you_mean(name, known), role))
