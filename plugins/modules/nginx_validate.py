#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/nginx_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nginx_validate
short_description: Check the nginx role's variables on the controller
version_added: 0.1.0
description:
  - Checks the variables of the P(oscar_emr.remote_access.nginx#role) role for what argument specs cannot express
    (host names, ports, CIDRs, paths under OSCAR's context path, nginx sizes, times and rates, header names, the
    C(auth_request) hook's paths), and refuses misspelt C(nginx_) variables.
  - Every error names the role variable and the value; all errors are reported at once, before anything changes on
    the host. The rules are in C(plugins/module_utils/_nginx.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  values:
    description: Every C(nginx_) variable and its value, as the role's C(tasks/validate.yml) collects them.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the nginx_ variables before anything changes
  oscar_emr.remote_access.nginx_validate:
    values: "{{ dict(__names | zip(query('ansible.builtin.vars', *__names))) }}"
    variable_names: "{{ __names }}"
  vars:
    __names: "{{ query('ansible.builtin.varnames', '^nginx_') }}"
"""

RETURN = r"""
errors:
  description: Every problem found, each naming the variable and the offending value.
  returned: failure
  type: list
  elements: str
  sample: ["nginx_https_port: 70000 must be a port number (1-65535)"]
"""
