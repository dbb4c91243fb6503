# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side validation of the firewall role's variables (documentation: plugins/modules/firewall_validate.py;
rules: plugins/module_utils/_firewall_model.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._firewall_model import (
    FirewallConfigError,
    build_model,
    parse_ssh_connection,
)
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import (
    SSH_CONNECTIONS,
    RoleValidateAction,
)

ARGUMENT_SPEC = {
    "services": {"type": "list", "elements": "raw", "default": []},
    "management_sources": {"type": "list", "elements": "raw", "default": []},
    "management_ports": {"type": "list", "elements": "raw", "default": [22]},
    "allow_management_lockout": {"type": "bool", "default": False},
    "trusted_interfaces": {"type": "list", "elements": "raw", "default": []},
    "allow_ping": {"type": "bool", "default": True},
    "allow_dhcpv6_client": {"type": "bool", "default": True},
    "rollback_timeout": {"type": "int", "default": 90},
    "egress_enabled": {"type": "bool", "default": False},
    "egress_essentials": {"type": "list", "elements": "raw", "default": ["dns", "ntp", "apt", "dhcp"]},
    "egress_rules": {"type": "list", "elements": "raw", "default": []},
    "forward_enabled": {"type": "bool", "default": False},
    "forward_rules": {"type": "list", "elements": "raw", "default": []},
    "role_needs": {"type": "dict", "default": {}},
}


class ActionModule(RoleValidateAction):
    ROLE = "firewall"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def _controller(self):
        """Return ((ip_address, ssh_port) or None, a sentence saying how it was found)."""
        raw = self.ssh_connection()
        if raw is None:
            return None, "the connection (%s) is not SSH, so no controller address applies" % (
                self.connection_name() or "unknown")
        parsed = parse_ssh_connection(raw)
        if parsed is None:
            return None, "connected over SSH but $SSH_CONNECTION on the host was %r" % raw
        return parsed, "from $SSH_CONNECTION on the host"

    def check(self, args, problems, result):
        controller, how = self._controller()
        result["controller"] = None
        if controller is not None:
            result["controller"] = {"address": str(controller[0]), "ssh_port": controller[1]}
        result["controller_detection"] = how
        try:
            model, warnings = build_model(args, controller)
        except FirewallConfigError as exc:
            problems.errors.extend(exc.errors)
            return
        if controller is None and self.connection_name() in SSH_CONNECTIONS:
            warnings.append("could not tell the controller's address (%s): only checked that someone can reach "
                            "SSH" % how)
        problems.warnings.extend(warnings)
        result["model"] = model
