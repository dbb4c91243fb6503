#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/systemd_if_needed.py), which runs on
# the controller, reads the unit's state with one shell command and runs ansible.builtin.systemd_service when needed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: systemd_if_needed
short_description: Start and enable a systemd unit with ansible.builtin.systemd_service, only when it is not already
version_added: 0.1.0
description:
  - Takes P(ansible.builtin.systemd_service#module)'s arguments. One shell command on the host reads the unit's
    C(LoadState) and C(ActiveState) (C(systemctl show), as the module reads them) and what C(systemctl is-enabled)
    says; no Python runs on the host for it.
  - When the unit is loaded, running (C(active) or C(activating), as the module counts it) for O(state=started) and
    C(enabled) for O(enabled=true), the task is ok and the module does not run.
  - Otherwise, and for anything else (O(daemon_reload=true), another O(state), O(enabled=false), C(masked), a user
    O(scope), any other argument), the module runs with the same arguments, so check mode and its failures are its own.
  - The rules are in C(plugins/module_utils/_unit_state.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: The read changes nothing; the module runs in check mode when it runs.
  diff_mode:
    support: none
    description: The systemd_service module has no diff.
  platform:
    support: full
    platforms: posix
    description: Hosts run by systemd.
options:
  name:
    description: The unit, as for the systemd_service module.
    type: str
    required: true
  state:
    description: Only C(started) is judged here; any other state goes to the module.
    type: str
  enabled:
    description: Only C(true) is judged here.
    type: bool
  daemon_reload:
    description: When true the module always runs (it reloads systemd).
    type: bool
    default: false
  no_block:
    description: As for the systemd_service module.
    type: bool
    default: false
  scope:
    description: Only C(system) is judged here.
    type: str
    default: system
notes:
  - Any other argument of the systemd_service module may be given; the module then always runs.
seealso:
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Start nginx and enable it at boot (the module runs only when it is not running or not enabled)
  oscar_emr.remote_access.systemd_if_needed:
    name: nginx.service
    state: started
    enabled: true
"""

RETURN = r"""
module_run:
  description: Whether the systemd_service module ran (its own return values are there when it did).
  returned: always
  type: bool
  sample: false
status:
  description: The unit's properties read (C(LoadState), C(ActiveState), C(IsEnabled)) when the module did not run.
  returned: when the module did not run
  type: dict
"""
