#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/management_ssh_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: management_ssh_validate
short_description: Check the management_ssh role's variables and build its sshd drop-in
version_added: 0.1.0
description:
  - Checks the variables of the P(oscar_emr.remote_access.management_ssh#role) role before anything changes and
    returns the sshd drop-in's text. Each problem names the variable and the value.
  - Refuses the wildcard listen addresses C(0.0.0.0) and C(::), C(root) in O(allow_users), and, when Ansible is
    connected over SSH, listen addresses without the one it is connected to (read from E(SSH_CONNECTION) on the host,
    without become), unless O(allow_lockout=true).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Changes nothing; runs in check mode.
    support: full
  diff_mode:
    description: Not applicable.
    support: none
  platform:
    description: Runs on the controller (reads E(SSH_CONNECTION) on the host).
    platforms: posix
    support: full
options:
  listen_addresses:
    description: IP addresses sshd listens on.
    type: list
    elements: raw
    default: []
  port:
    description: sshd's TCP port.
    type: raw
    default: 22
  allow_users:
    description: Users who may log in.
    type: list
    elements: raw
    default: []
  after_units:
    description: systemd units sshd starts after.
    type: list
    elements: raw
    default: []
  allow_lockout:
    description: Consent to listen addresses without the one Ansible is connected to now.
    type: bool
    default: false
  variable_names:
    description: Every variable named C(management_ssh_*), to catch misspelt ones.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Check where sshd will listen
  oscar_emr.remote_access.management_ssh_validate:
    listen_addresses: [10.90.2.1]
  register: management_ssh_check
"""

RETURN = r"""
model:
  description: C(listen) (address:port), C(text) (the drop-in) and C(after_units).
  returned: success
  type: dict
errors:
  description: Every problem, each naming its variable.
  returned: failure
  type: list
  elements: str
"""
