# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible.builtin.apt, run only when it would do something (documentation: plugins/modules/apt_if_needed.py; rules:
plugins/module_utils/_package_state.py).

One shell command reads dpkg's database and the age of apt's lists (no Python started on the host); when every
package asked for is installed (the package file's version, for deb=) and the lists are younger than
cache_valid_time, the task is ok without the apt module run. Otherwise the apt module runs with the same arguments,
so installing, check mode and --diff are apt's own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._package_state import (
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
        wanted = plan(args)
        if wanted is not None:
            read = self._low_level_execute_command(read_command(wanted), sudoable=True)
            reason = nothing_to_do(wanted, parse(to_text(read.get("stdout", ""), errors="surrogate_or_replace"))) \
                if read.get("rc") == 0 else None
            if reason:
                result.update(changed=False, msg=reason, apt_run=False)
                return result
        try:
            result.update(self._execute_module(module_name="ansible.legacy.apt", module_args=args,
                                               task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result["apt_run"] = True
        return result
