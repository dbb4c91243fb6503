#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/apt_if_needed.py), which runs on the
# controller, reads dpkg's database on the host with one shell command and runs ansible.builtin.apt when needed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apt_if_needed
short_description: Install Debian packages with ansible.builtin.apt, asking apt only when something is missing
version_added: 0.1.0
description:
  - Takes P(ansible.builtin.apt#module)'s arguments. One shell command on the host reads dpkg's database (and, with
    O(update_cache) or O(cache_valid_time), the age of apt's lists as apt reads it); no Python runs on the host for it.
  - When every package in O(name) is installed (status C(install ok installed), of the host's architecture or
    C(all)), or the package file O(deb)'s version is installed, and the lists are younger than O(cache_valid_time),
    the task is ok and the apt module does not run. An apt run costs one to two seconds on a small host even when it
    changes nothing.
  - Otherwise, and for any argument or value not listed here (a version C(name=1.2), C(state=latest), a URL in
    O(deb), O(update_cache) without O(cache_valid_time)), the apt module runs with the same arguments, so what is
    installed, check mode and C(--diff) are apt's own.
  - The rules are in C(plugins/module_utils/_package_state.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: The read changes nothing; the apt module runs in check mode when it runs.
  diff_mode:
    support: full
    description: The apt module's diff when it runs; nothing to show otherwise.
  platform:
    support: full
    platforms: debian
    description: Debian-based hosts (dpkg and apt).
options:
  name:
    description: Packages to have installed, as for the apt module.
    type: list
    elements: str
  deb:
    description: A package file on the host whose version must be installed, as for the apt module.
    type: path
  state:
    description: Only C(present) is judged here; any other state goes to the apt module.
    type: str
    default: present
  update_cache:
    description: As for the apt module; apt refreshes the lists only when they are older than O(cache_valid_time).
    type: bool
    default: false
  cache_valid_time:
    description: As for the apt module.
    type: int
    default: 0
  install_recommends:
    description: As for the apt module (applies when it installs).
    type: bool
  allow_downgrade:
    description: As for the apt module (applies when it installs).
    type: bool
    default: false
  lock_timeout:
    description: As for the apt module.
    type: int
    default: 60
notes:
  - Any other argument of the apt module may be given; the apt module then always runs.
seealso:
  - module: ansible.builtin.apt
"""

EXAMPLES = r"""
- name: Install nftables from the distribution (apt runs only when it is missing or the lists are a day old)
  oscar_emr.remote_access.apt_if_needed:
    name: [nftables]
    state: present
    install_recommends: false
    update_cache: true
    cache_valid_time: 86400

- name: Install the pinned .deb (apt runs only when another version is installed)
  oscar_emr.remote_access.apt_if_needed:
    deb: /var/cache/cloudflared/cloudflared.deb
    allow_downgrade: true
"""

RETURN = r"""
apt_run:
  description: Whether the apt module ran (its own return values are there when it did).
  returned: always
  type: bool
  sample: false
msg:
  description: Why the apt module did not run, when it did not.
  returned: when apt did not run
  type: str
  sample: "installed: nftables"
"""
