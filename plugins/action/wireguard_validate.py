# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The wireguard role's check: misspelt wireguard_ variables, then the wireguard_validate module (documentation and
code: plugins/modules/wireguard_validate.py; rules: plugins/module_utils/_wireguard.py), which the role runs
delegated to the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction


class ActionModule(RoleValidateAction):
    ROLE = "wireguard"
    SUMMARY = "Invalid %s settings (nothing was changed on the host): "

    ARGUMENT_SPEC = None  # the module checks its own arguments

    def check(self, args, problems, result):
        if problems:
            return  # a misspelt variable first: the module's messages would only follow from it
        module_args = dict(self._task.args)
        module_args.pop("variable_names", None)
        module = self._execute_module(module_name="oscar_emr.remote_access.wireguard_validate",
                                      module_args=module_args, task_vars=self.task_vars)
        if module.get("failed"):
            problems.errors.extend(module.get("errors") or [module.get("msg", "the check failed")])
            return
        result.update((k, v) for k, v in module.items() if k not in ("changed", "invocation"))
