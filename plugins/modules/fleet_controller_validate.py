#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/fleet_controller_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_controller_validate
short_description: Check the fleet_controller role's variables on the controller
version_added: 0.1.0
description:
  - Checks the variables of the P(oscar_emr.remote_access.fleet_controller#role) role for what argument specs cannot
    express (job names that become systemd unit names, playbooks of this collection only, calendar expressions,
    clinic directory names, job names listed twice), and refuses misspelt C(fleet_controller_) variables and booleans
    the roles would misread.
  - Every error names the role variable and the value; all errors are reported at once, before anything changes on
    the host. The rules are in C(plugins/module_utils/_fleet_controller.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  jobs:
    description: The scheduled jobs, O(oscar_emr.remote_access.fleet_controller#role:main:fleet_controller_jobs).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check the fleet_controller_ variables before anything changes
  oscar_emr.remote_access.fleet_controller_validate:
    jobs: "{{ fleet_controller_jobs }}"
    variable_names: "{{ query('ansible.builtin.varnames', '^fleet_controller_') }}"
"""

RETURN = r"""
errors:
  description: Every problem found, each naming the variable and the offending value.
  returned: failure
  type: list
  elements: str
  sample: ["fleet_controller_jobs[0].name: 'no good' is not a job name (letters, digits, - and _ only; ...)"]
"""
