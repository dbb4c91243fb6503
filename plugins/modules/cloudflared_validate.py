#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/cloudflared_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cloudflared_validate
short_description: Check the cloudflared role's settings on the controller
version_added: 0.1.0
description:
  - Checks the settings of the P(oscar_emr.remote_access.cloudflared#role) role (token, install method, ingress rules
    the way C(cloudflared tunnel ingress validate) checks them) and refuses misspelt C(cloudflared_) variables.
  - Every error names the role variable; secrets are never echoed. All errors are reported at once, before anything
    changes on the host. The rules are in C(plugins/module_utils/_cloudflared_ingress.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  settings:
    description: The role's settings as its C(__cloudflared_settings) collects them.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the settings before anything changes
  oscar_emr.remote_access.cloudflared_validate:
    settings: "{{ __cloudflared_settings }}"
    variable_names: "{{ query('ansible.builtin.varnames', '^cloudflared_') }}"
  no_log: true
"""

RETURN = r"""
errors:
  description: Every problem found, each naming the variable; secrets are not shown.
  returned: failure
  type: list
  elements: str
  sample: ["cloudflared_tunnel_token: is not a tunnel token"]
"""
