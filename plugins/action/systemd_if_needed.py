# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible.builtin.systemd_service, run only when it would do something (documentation:
plugins/modules/systemd_if_needed.py; rules: plugins/module_utils/_unit_state.py; the shape:
plugins/plugin_utils/_module_if_needed.py).

One shell command reads the unit's state; a unit to be started and enabled that is already running and enabled leaves
the task ok without the module run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._unit_state import (
    nothing_to_do,
    parse,
    plan,
    read_command,
)
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._module_if_needed import ModuleIfNeededAction


class ActionModule(ModuleIfNeededAction):
    MODULE = "ansible.legacy.systemd_service"
    RAN = "module_run"

    def left_out(self, args):
        unit = plan(args)
        if unit is None:
            return None
        _rc, output = self.read(read_command(unit))
        state = parse(output)
        reason = nothing_to_do(args, state)
        if not reason:
            return None
        # As the module answers for a unit it left as it was
        kept = {"msg": reason, "name": unit, "status": state}
        if args.get("state"):
            kept["state"] = args["state"]
        if args.get("enabled") is not None:
            kept["enabled"] = True
        return kept
