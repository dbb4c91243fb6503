# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the gateway role's inputs (documentation: plugins/modules/gateway_validate.py; rules:
plugins/module_utils/_gateway.py, with the gateway's configuration schema in _gateway_config.py and the access
policy's validator in _access_policy/)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._gateway import gateway_problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
    "policy_variable": {"type": "str", "default": "access_policy"},
    "users_variable": {"type": "str", "default": "gateway_users"},
    "current_users": {"type": "list", "elements": "dict", "default": None},
    "disable_max_share": {"type": "float", "default": 0.25},
    "allow_mass_disable": {"type": "bool", "default": False},
    "today": {"type": "str", "default": None},
    "audit_syslog": {"type": "dict", "default": {}},
    "mail_password_set": {"type": "bool", "default": False},
}


class ActionModule(RoleValidateAction):
    ROLE = "gateway"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check(self, args, problems, result):
        server_names = None
        if "nginx_server_names" in self.task_vars:
            server_names = self._templar.template(self.task_vars["nginx_server_names"])
        cfg, warnings = gateway_problems(args, problems, server_names)
        if warnings is not None:
            result["warnings"] = warnings
        if cfg is not None:
            result["config"] = cfg
            result["has_password_hashes"] = any("password_hash" in user for user in cfg.get("users", []))
