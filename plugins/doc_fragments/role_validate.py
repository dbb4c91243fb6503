# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # What every role's <role>_validate action plugin shares (plugins/plugin_utils/_role_validate.py): its
    # attributes and the variable_names option.
    DOCUMENTATION = r"""
attributes:
  action:
    description: Runs as an action plugin on the controller.
    support: full
  check_mode:
    description: Can run in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Reports no diff, as it changes nothing.
    support: N/A
  platform:
    description: Target OS families the role it serves supports.
    platforms: debian
    support: full
options:
  variable_names:
    description:
      - The names of every variable in scope that starts with the role's prefix, as the role's C(tasks/validate.yml)
        finds them with P(ansible.builtin.varnames#lookup).
      - "A name the role does not know (not an option of its C(meta/argument_specs.yml), not a fact its own tasks
        publish) is an error naming the closest known one, for example
        C(nginx_gateway_enable: is not a variable of the nginx role (did you mean nginx_gateway_enabled?)), so that a
        typo fails before anything changes instead of being ignored. The value is not shown (it may be a secret)."
    type: list
    elements: str
    default: []
"""
