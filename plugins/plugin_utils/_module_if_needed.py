# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one shape of apt_if_needed and systemd_if_needed: a builtin module, run only when one shell read of the host
says it would do something. The read starts no Python on the host (a module run costs 0.3 s to 2 s even when it changes
nothing); when it cannot tell, the module runs with the task's arguments, so what it changes, its check mode, its
--diff and its failures are the module's own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ModuleIfNeededAction(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    MODULE = None  # the builtin module that runs when the read says it must ("ansible.legacy.apt")
    RAN = None  # the result's key that says whether it ran

    def left_out(self, args):
        """The result of a task the module would leave as it is (a ``msg`` saying why), or None when it must run.
        Reads the host with ``self.read``."""
        raise NotImplementedError

    def read(self, command):
        """``command`` run by /bin/sh on the host (with the task's become): its exit status and output."""
        done = self._low_level_execute_command(command, sudoable=True)
        return done.get("rc"), to_text(done.get("stdout", ""), errors="surrogate_or_replace")

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ModuleIfNeededAction, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        kept = self.left_out(args)
        if kept is not None:
            result.update(kept)
            result.update({"changed": False, self.RAN: False})
            return result
        try:
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result[self.RAN] = True
        return result
