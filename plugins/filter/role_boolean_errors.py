# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``role_boolean_errors``: the boolean check for a role without a <role>_validate action (the patch role), the same
rule the action runs (plugins/plugin_utils/_role_validate.py, ``boolean_problems``).

``{{ {'patch_reboot': 'y'} | oscar_emr.remote_access.role_boolean_errors('patch') }}`` gives one message per boolean
variable of the role (its meta/argument_specs.yml options of type bool) whose value the roles would not read as true
or false, naming the variable and the value."""

from __future__ import absolute_import, division, print_function

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import boolean_problems

__metaclass__ = type


def role_boolean_errors(values, role):
    return boolean_problems(role, values or {}, Problems()).errors


class FilterModule(object):
    def filters(self):
        return {"role_boolean_errors": role_boolean_errors}
