# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules of the apt_if_needed action (plugins/action/apt_if_needed.py): one shell read of dpkg's database (and
of the age of apt's lists), and whether ansible.builtin.apt with the same arguments would do anything at all.

Only a strict subset of apt's arguments is judged here; for anything else, or anything not read, the answer is "ask
apt", so the action can only leave out a module run that would have changed nothing.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from shlex import quote

# A plain package name (Debian policy 5.6.1): a version (name=1.2), a release (name/bookworm), an architecture
# (name:arm64) or a pattern goes to apt.
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# Arguments whose effect on a package that is installed this file knows (none): anything else goes to apt.
NAME_ARGUMENTS = frozenset(("name", "state", "install_recommends", "update_cache", "cache_valid_time",
                            "allow_downgrade", "lock_timeout"))
DEB_ARGUMENTS = frozenset(("deb", "state", "install_recommends", "allow_downgrade", "lock_timeout"))
INSTALLED = "install ok installed"
# apt's own record of its lists' age (ansible.builtin.apt's get_cache_mtime): the first of these that exists.
LISTS_STAMPS = ("/var/lib/apt/periodic/update-success-stamp", "/var/lib/apt/lists")


def _names(args):
    names = args.get("name")
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",")]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and PACKAGE_NAME.match(n) for n in names):
        return None
    return names


def plan(args):
    """What to read on the host to judge ``args`` (apt's arguments): ``{"names": [...], "deb": path or None,
    "lists_valid": seconds or None}``, or None when apt must run anyway (an argument or a value judged only by apt)."""
    if args.get("state", "present") not in ("present", "installed"):
        return None
    refresh = bool(args.get("update_cache")) or bool(args.get("cache_valid_time"))
    if args.get("deb") is not None:
        if set(args) - DEB_ARGUMENTS or not isinstance(args["deb"], str) or "," in args["deb"] or "://" in args["deb"]:
            return None
        return {"names": [], "deb": args["deb"], "lists_valid": None}
    if set(args) - NAME_ARGUMENTS:
        return None
    names = _names(args)
    if names is None:
        return None
    valid = None
    if refresh:
        try:
            valid = int(args.get("cache_valid_time") or 0)
        except (TypeError, ValueError):
            return None
        if valid <= 0:
            return None  # apt refreshes its lists on every run then
    return {"names": names, "deb": None, "lists_valid": valid}


def read_command(wanted):
    """One shell command (for /bin/sh) that prints, a line each: ``now``, the lists' ``lists`` time (when asked), the
    native ``arch``, a ``deb`` line (the package file's name, version and architecture) and a ``pkg`` line for each
    package dpkg knows of the names asked (or of the package file's name)."""
    fields = r"\t${binary:Package}\t${Status}\t${Version}\t${Architecture}\n"
    lines = ["printf 'now\\t%s\\n' \"$(date +%s)\"", "printf 'arch\\t%s\\n' \"$(dpkg --print-architecture)\""]
    if wanted["lists_valid"] is not None:
        lines.append("for f in %s; do if [ -e \"$f\" ]; then printf 'lists\\t%%s\\n' \"$(stat -c %%Y \"$f\")\"; "
                     "break; fi; done" % " ".join(quote(path) for path in LISTS_STAMPS))
    if wanted["deb"] is not None:
        deb = quote(wanted["deb"])
        lines.append("if [ -f %s ]; then p=$(dpkg-deb --showformat='${Package}' --show %s) && "
                     "dpkg-deb --showformat='deb\\t${Package}\\t${Version}\\t${Architecture}\\n' --show %s && "
                     "dpkg-query -W -f='pkg%s' -- \"$p\" 2>/dev/null; fi" % (deb, deb, deb, fields))
    if wanted["names"]:
        lines.append("dpkg-query -W -f='pkg%s' -- %s 2>/dev/null" % (fields, " ".join(wanted["names"])))
    return "; ".join(lines) + "; true"


def parse(output):
    """The read's lines as ``{"now": int, "lists": int, "arch": str, "deb": (name, version, arch), "packages":
    {name: [(status, version, arch), ...]}}`` (names with the native architecture's qualifier taken off)."""
    read = {"packages": {}}
    rows = [line.split("\t") for line in output.splitlines()]
    for row in rows:
        if row[0] in ("now", "lists") and len(row) == 2 and row[1].strip().isdigit():
            read[row[0]] = int(row[1])
        elif row[0] == "arch" and len(row) == 2:
            read["arch"] = row[1].strip()
        elif row[0] == "deb" and len(row) == 4:
            read["deb"] = tuple(row[1:])
    for row in rows:
        if row[0] == "pkg" and len(row) == 5:
            name, status, version, arch = row[1:]
            base, _sep, qualifier = name.partition(":")
            if qualifier in (read.get("arch"), "all"):
                name = base
            read["packages"].setdefault(name, []).append((status, version, arch))
    return read


def nothing_to_do(wanted, read):
    """Why apt with these arguments would change nothing and refresh nothing (a sentence), or None when apt must
    run: a package not installed (or half-installed, held in another state, of another architecture only), another
    version in the package file, lists older than cache_valid_time, or anything not read."""
    if "now" not in read or "arch" not in read:
        return None
    if wanted["lists_valid"] is not None:
        if "lists" not in read or read["now"] - read["lists"] >= wanted["lists_valid"]:
            return None
    if wanted["deb"] is not None:
        if "deb" not in read:
            return None
        name, version, arch = read["deb"]
        installed = [row for row in read["packages"].get(name, ()) if row[0] == INSTALLED]
        # Of the native architecture or "all" (another architecture's is listed with its qualifier, as another name).
        if not any(row[1] == version and row[2] == arch for row in installed):
            return None
        return "%s %s is installed (the version in %s)" % (name, version, wanted["deb"])
    for name in wanted["names"]:
        if not any(row[0] == INSTALLED for row in read["packages"].get(name, ())):
            return None
    return "installed: %s" % ", ".join(wanted["names"])
