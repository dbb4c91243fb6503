#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/patch_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patch_validate
short_description: Check the patch role's variables on the controller
version_added: 0.1.0
description:
  - Checks the variables of the P(oscar_emr.remote_access.patch#role) role for what argument specs cannot express
    (the maintenance window, the hold list's patterns, the reboot and settle times), and refuses misspelt C(patch_)
    variables and booleans the roles would misread.
  - Every error names the role variable and the value; all errors are reported at once, before anything changes on
    the host. The rules are in C(plugins/module_utils/_patch_plan.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  values:
    description: Every C(patch_) variable and its value, as the role's C(tasks/validate.yml) collects them.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the patch_ variables before anything changes
  oscar_emr.remote_access.patch_validate:
    values: "{{ dict(__names | zip(query('ansible.builtin.vars', *__names))) }}"
    variable_names: "{{ __names }}"
  vars:
    __names: "{{ query('ansible.builtin.varnames', '^patch_') }}"
"""

RETURN = r"""
errors:
  description: Every problem found, each naming the variable and the offending value.
  returned: failure
  type: list
  elements: str
  sample: ["patch_reboot_timeout: 30 is not at least 60 seconds"]
"""
