# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules of the systemd_if_needed action (plugins/action/systemd_if_needed.py): one shell read of a unit's state,
and whether ansible.builtin.systemd_service with the same arguments would do anything at all.

Only a strict subset is judged here (start it, enable it: what a run that changes nothing asks of a running service);
for anything else, or anything not read, the answer is "ask the module", so the action can only leave out a module
run that would have changed nothing.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from shlex import quote

from ansible.module_utils.parsing.convert_bool import boolean

# Arguments whose meaning for a unit already running and enabled this file knows; anything else goes to the module.
ARGUMENTS = frozenset(("name", "state", "enabled", "daemon_reload", "no_block", "scope"))
# ansible.builtin.systemd_service's is_running_service: a unit in these states is not started again.
RUNNING = ("active", "activating")


def plan(args):
    """The unit to read for ``args`` (systemd_service's arguments), or None when the module must run anyway: a
    daemon-reload, a stop, restart or reload, disabling, masking, a user scope, or an argument not known here."""
    if set(args) - ARGUMENTS or not isinstance(args.get("name"), str) or not args["name"]:
        return None
    try:
        daemon_reload = boolean(args.get("daemon_reload", False), strict=True)
        enabled = None if args.get("enabled") is None else boolean(args["enabled"], strict=True)
    except TypeError:
        return None
    if daemon_reload or args.get("scope", "system") not in (None, "system"):
        return None
    if args.get("state") not in (None, "started") or enabled is False:
        return None
    if args.get("state") is None and enabled is None:
        return None
    return args["name"]


def read_command(unit):
    """One shell command that prints the unit's LoadState and ActiveState (systemctl show, as the module reads them)
    and ``IsEnabled=`` what ``systemctl is-enabled`` says (as the module asks it)."""
    unit = quote(unit)
    return ("systemctl show -p LoadState -p ActiveState -- %s; "
            "printf 'IsEnabled=%%s\\n' \"$(systemctl is-enabled -- %s 2>/dev/null)\"" % (unit, unit))


def parse(output):
    """``systemctl show``'s KEY=value lines as a dictionary."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def nothing_to_do(args, read):
    """Why the module would change nothing (a sentence), or None when it must run: the unit not loaded, not running
    when it should be started, or anything but plainly ``enabled`` when it should be enabled (static, alias, indirect,
    enabled-runtime and the like are the module's to judge)."""
    if read.get("LoadState") != "loaded":
        return None
    said = []
    if args.get("state") == "started":
        if read.get("ActiveState") not in RUNNING:
            return None
        said.append(read["ActiveState"])
    if args.get("enabled") is not None:  # plan() let only an enabled that means true through
        if read.get("IsEnabled") != "enabled":
            return None
        said.append("enabled")
    return "%s is %s" % (args["name"], " and ".join(said))
