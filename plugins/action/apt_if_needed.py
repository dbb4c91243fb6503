# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible.builtin.apt, run only when it would do something (documentation: plugins/modules/apt_if_needed.py; rules:
plugins/module_utils/_package_state.py; the shape: plugins/plugin_utils/_module_if_needed.py).

One shell command reads dpkg's database and the age of apt's lists; when every package asked for is installed (the
package file's version, for deb=) and the lists are younger than cache_valid_time, the task is ok without the apt
module run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._package_state import (
    nothing_to_do,
    parse,
    plan,
    read_command,
)
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._module_if_needed import ModuleIfNeededAction


class ActionModule(ModuleIfNeededAction):
    MODULE = "ansible.legacy.apt"
    RAN = "apt_run"

    def left_out(self, args):
        wanted = plan(args)
        if wanted is None:
            return None
        rc, output = self.read(read_command(wanted))
        reason = nothing_to_do(wanted, parse(output)) if rc == 0 else None
        return {"msg": reason} if reason else None
