# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boolean check of roles without a <role>_validate action (the patch role), the same rule the action runs:
plugins/plugin_utils/_role_validate.py, ``boolean_problems``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: role_boolean_errors
short_description: Messages for a role's boolean variables that the roles would not read as true or false
description:
  - Takes a mapping of variable name to value and the role's name; returns one message per boolean variable of the role
    (its C(meta/argument_specs.yml) options of type bool) whose value is not true, false or a spelling Ansible's
    C(bool) filter reads (yes/no, on/off, true/false, 1/0, any case).
positional: role
options:
  _input:
    description: Variable name to value.
    type: dict
    required: true
  role:
    description: The role's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- ansible.builtin.assert:
    that: errors | length == 0
  vars:
    errors: "{{ {'patch_reboot': 'y'} | oscar_emr.remote_access.role_boolean_errors('patch') }}"
"""

RETURN = r"""
_value:
  description: One message per problem, naming the variable and its value.
  type: list
  elements: str
"""

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import boolean_problems


def role_boolean_errors(values, role):
    return boolean_problems(role, values or {}, Problems()).errors


class FilterModule(object):
    def filters(self):
        return {"role_boolean_errors": role_boolean_errors}
