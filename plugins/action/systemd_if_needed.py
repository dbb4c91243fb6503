# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible.builtin.systemd_service, run only when it would do something (documentation:
plugins/modules/systemd_if_needed.py; rules: plugins/module_utils/_unit_state.py).

One shell command reads the unit's state (no Python started on the host); a unit to be started and enabled that is
already running and enabled leaves the task ok without the module run. Otherwise the module runs with the same
arguments, so starting, enabling, check mode and its failures are its own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._unit_state import (
    nothing_to_do,
    parse,
    plan,
    read_command,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        unit = plan(args)
        if unit is not None:
            read = self._low_level_execute_command(read_command(unit), sudoable=True)
            state = parse(to_text(read.get("stdout", ""), errors="surrogate_or_replace"))
            reason = nothing_to_do(args, state)
            if reason:
                result.update(changed=False, msg=reason, name=unit, status=state, module_run=False)
                if args.get("state"):
                    result["state"] = args["state"]
                if args.get("enabled") is not None:
                    result["enabled"] = True
                return result
        try:
            result.update(self._execute_module(module_name="ansible.legacy.systemd_service", module_args=args,
                                               task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result["module_run"] = True
        return result
