# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the cloudflared role's settings (documentation: plugins/modules/cloudflared_validate.py;
rules: plugins/module_utils/_cloudflared_ingress.py, ``settings_problems``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.filter.cloudflared_config import cloudflared_problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction


class ActionModule(RoleValidateAction):
    ROLE = "cloudflared"
    ARGUMENT_SPEC = {"settings": {"type": "dict", "required": True}}

    def check(self, args, problems, result):
        problems.errors.extend(cloudflared_problems(args["settings"]))
