# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the management_ssh role's variables (documentation:
plugins/modules/management_ssh_validate.py; rules: plugins/module_utils/_management_ssh.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._management_ssh import (
    ManagementSshError,
    build_model,
    connected_to,
)
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction

ARGUMENT_SPEC = {
    "listen_addresses": {"type": "list", "elements": "raw", "default": []},
    "port": {"type": "raw", "default": 22},
    "allow_users": {"type": "list", "elements": "raw", "default": []},
    "after_units": {"type": "list", "elements": "raw", "default": []},
    "allow_lockout": {"type": "bool", "default": False},
}


class ActionModule(RoleValidateAction):
    ROLE = "management_ssh"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check(self, args, problems, result):
        # The address Ansible reached the host on: sshd must keep listening there (or consent was given).
        try:
            model = build_model(args, connected_to(self.ssh_connection()))
        except ManagementSshError as exc:
            problems.errors.extend(exc.errors)
            return
        problems.warnings.extend(model.pop("warnings"))
        result["model"] = model
