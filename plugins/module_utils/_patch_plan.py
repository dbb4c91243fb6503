# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a patch run may do, decided in one place: which pending updates it installs (scope, hold list,
cloudflared's pin policy), whether the clinic's maintenance window is open, and what needrestart asks for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _expiry

SCOPES = ("security", "all", "none")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
CLOUDFLARED = "cloudflared"


# A hold pattern: a Debian package name, or a shell-style pattern of one.
HOLD_PATTERN = re.compile(r"^[A-Za-z0-9.+*?\[\]-]+$")


def patch_input_errors(values):
    """The patch role's rules beyond its argument spec (run by the patch_validate action, roles/patch/tasks/
    validate.yml): every problem in the role variables ``values``, each naming the variable and the value."""
    errors = window_errors(values.get("patch_maintenance_window"))
    holds = values.get("patch_hold_packages", [])
    if not isinstance(holds, list):
        errors.append("patch_hold_packages: %r is not a list of package-name patterns" % (holds,))
    else:
        for index, pattern in enumerate(holds):
            if not isinstance(pattern, str) or not HOLD_PATTERN.match(pattern):
                errors.append("patch_hold_packages[%d]: %r is not a package-name pattern (letters, digits, . + - and "
                              "* ? [ ])" % (index, pattern))
    for name, least, what in (("patch_reboot_timeout", 60, "at least 60 seconds"),
                              ("patch_health_settle_seconds", 0, "0 or more seconds")):
        value = values.get(name, least)
        try:
            number = int(str(value).strip())
        except ValueError:
            number = None
        if isinstance(value, bool) or number is None or number < least:
            errors.append("%s: %r is not %s" % (name, value, what))
    return errors


def plan(pending, scope, hold, cloudflared_version):
    """Split pending updates (from _clinic_health.parse_apt_simulation) into what to install and what to leave.

    cloudflared follows its role's pin policy, not the scope: with cloudflared_version "latest" a newer release is
    installed, a pinned release is left for site.yml (the pin is the inventory's decision). Packages matching a
    hold pattern are never installed. Returns {"install": [...], "held": [...], "skipped": [...]}.
    """
    install, held, skipped = [], [], []
    for pkg in pending:
        name = pkg["name"]
        if pkg.get("current") is None and name != CLOUDFLARED:
            # A new dependency of an upgrade: apt installs it with the package that needs it.
            continue
        if name == CLOUDFLARED:
            (install if cloudflared_version == "latest" else held).append(pkg)
        elif any(fnmatch.fnmatchcase(name, pattern) for pattern in hold):
            held.append(pkg)
        elif scope == "all" or (scope == "security" and pkg.get("security")):
            install.append(pkg)
        else:
            skipped.append(pkg)
    return {"install": install, "held": held, "skipped": skipped}


def window_errors(window, name="patch_maintenance_window"):
    """Problems with a maintenance window, each naming the variable and the value."""
    errors = []
    if not isinstance(window, dict):
        return ["%s: %r is not a mapping with timezone and windows" % (name, window)]
    unknown = sorted(set(window) - {"timezone", "windows"})
    if unknown:
        errors.append("%s: unknown keys %s (allowed: timezone, windows)" % (name, ", ".join(unknown)))
    tz = window.get("timezone", "")
    if tz:
        try:
            _zone(tz)
        except Exception:  # noqa: BLE001  (zoneinfo raises several kinds for a bad name)  # pylint: disable=broad-except
            errors.append("%s.timezone: %r is not an IANA time zone (such as America/Toronto)" % (name, tz))
    windows = window.get("windows", [])
    if not isinstance(windows, list):
        return [*errors, "%s.windows: %r is not a list" % (name, windows)]
    for index, item in enumerate(windows):
        where = "%s.windows[%d]" % (name, index)
        if not isinstance(item, dict):
            errors.append("%s: %r is not a mapping with days, start and end" % (where, item))
            continue
        extra = sorted(set(item) - {"days", "start", "end"})
        if extra:
            errors.append("%s: unknown keys %s (allowed: days, start, end)" % (where, ", ".join(extra)))
        days = item.get("days")
        if not isinstance(days, list) or not days or any(day not in DAYS for day in days):
            errors.append("%s.days: %r must be a non-empty list of %s" % (where, days, ", ".join(DAYS)))
        for key in ("start", "end"):
            if not CLOCK.match(str(item.get(key, ""))):
                errors.append("%s.%s: %r is not a time HH:MM (00:00 to 24:00)" % (where, key, item.get(key)))
    return errors


def _zone(name):
    from zoneinfo import ZoneInfo  # Python 3.9+, on the controller

    return ZoneInfo(name)


def _minutes(clock):
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def window_open(window, host_timezone, now=None):
    """Whether a window is open now in the clinic's time zone (the window's, else the host's, else UTC).

    A window whose end is before its start runs past midnight into the next day; ``days`` names the day it starts.
    ``now`` (an aware datetime or ISO 8601 string with offset) is for tests."""
    zone = _zone(window.get("timezone") or host_timezone or "UTC")
    if now is None:
        now = datetime.datetime.now(zone)
    elif isinstance(now, str):
        now = datetime.datetime.fromisoformat(now)
    now = now.astimezone(zone)
    minute = now.hour * 60 + now.minute
    today = DAYS[now.weekday()]
    yesterday = DAYS[(now.weekday() - 1) % 7]
    for item in window.get("windows", []):
        start, end = _minutes(item["start"]), _minutes(item["end"])
        if start < end:
            if today in item["days"] and start <= minute < end:
                return True
        else:
            if today in item["days"] and minute >= start:
                return True
            if yesterday in item["days"] and minute < end:
                return True
    return False


def parse_needrestart(output):
    """needrestart -b (batch) output: services to restart and whether the kernel needs a reboot.

    NEEDRESTART-KSTA: 0 unknown, 1 current, 2 ABI-compatible upgrade pending, 3 version upgrade pending."""
    services, kernel_status = [], 0
    for line in output.splitlines():
        key, _sep, value = line.partition(":")
        value = value.strip()
        if key == "NEEDRESTART-SVC" and value:
            services.append(value)
        elif key == "NEEDRESTART-KSTA" and value.isdigit():
            kernel_status = int(value)
    return {"services": services, "kernel_reboot": kernel_status >= 2}


def expiring(accounts, days=14, today=None, name_key="name"):
    """Enabled WireGuard peers (or gateway accounts, name_key "username") whose ``expires`` date falls within ``days``
    from today (or passed): the rule is _expiry.py's, shared with the WireGuard model and the gateway."""
    return _expiry.expiring(accounts, days, today, name_key)
