# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the fleet_controller role's variables (documentation:
plugins/modules/fleet_controller_validate.py; rules: plugins/module_utils/_fleet_controller.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._fleet_controller import jobs_problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction


class ActionModule(RoleValidateAction):
    ROLE = "fleet_controller"
    ARGUMENT_SPEC = {"jobs": {"type": "raw", "required": True}}

    def check(self, args, problems, result):
        jobs_problems(args["jobs"], problems)
