# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the nginx role's variables (documentation: plugins/modules/nginx_validate.py; rules:
plugins/module_utils/_nginx.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._nginx import nginx_input_errors
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction


class ActionModule(RoleValidateAction):
    ROLE = "nginx"
    ARGUMENT_SPEC = {"values": {"type": "dict", "required": True}}

    # The group playbooks/site.yml runs the cloudflared role on.
    CONNECTORS_GROUP = "cloudflared_connectors"

    def connector_addresses(self):
        """The addresses the clinic's connectors reach this nginx from, or None when any is unknown (no such group,
        a connector named by a DNS name): loopback for a connector on this host, else its inventory address."""
        groups = self.task_vars.get("groups") or {}
        connectors = groups.get(self.CONNECTORS_GROUP)
        if not connectors:
            return None
        addresses = []
        for host in connectors:
            if host == self.task_vars.get("inventory_hostname"):
                addresses += [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
                continue
            try:
                addresses.append(ipaddress.ip_address(str(self._templar.template(
                    (self.task_vars.get("hostvars") or {}).get(host, {}).get("ansible_host", host)))))
            except ValueError:
                return None
        return addresses

    def check(self, args, problems, result):
        problems.errors.extend(nginx_input_errors(args["values"], self.connector_addresses()))
