# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-side check of the nginx role's variables (documentation: plugins/modules/nginx_validate.py; rules:
plugins/module_utils/_nginx.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._nginx import (
    connector_interface,
    nginx_input_errors,
)
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import RoleValidateAction


def fact_networks(facts):
    """{address: network} of every address of a host's gathered network facts (``ansible_facts[<interface>]``'s
    ipv4, ipv4_secondaries and ipv6 entries); {} without facts. Link-local IPv6 addresses are left out."""
    networks = {}
    for name in facts.get("interfaces") or []:
        interface = facts.get(str(name).replace("-", "_").replace(".", "_")) or {}
        if not isinstance(interface, dict):
            continue
        entries = interface.get("ipv4")
        entries = [entries] if isinstance(entries, dict) else []
        entries += list(interface.get("ipv4_secondaries") or []) + list(interface.get("ipv6") or [])
        for entry in entries:
            try:
                found = ipaddress.ip_interface("%s/%s" % (entry["address"], entry.get("prefix") or entry["netmask"]))
            except (KeyError, TypeError, ValueError):
                continue
            if not found.ip.is_link_local:
                networks[found.ip] = found.network
    return networks


class ActionModule(RoleValidateAction):
    ROLE = "nginx"
    ARGUMENT_SPEC = {"values": {"type": "dict", "required": True}}

    # The group playbooks/site.yml runs the cloudflared role on.
    CONNECTORS_GROUP = "cloudflared_connectors"

    def connector_addresses(self):
        """The clinic's connectors as the addresses they reach this nginx from, each on its network where the facts
        tell it (``connector_interface``); None when any is unknown (no such group, a connector named by a DNS name).
        A connector on this host is loopback (it enters by nginx_tunnel_socket); another host is its inventory
        address, on the network of its own interface with that address or, failing its facts, of this host's
        interface whose network holds it (the LAN both share)."""
        groups = self.task_vars.get("groups") or {}
        connectors = groups.get(self.CONNECTORS_GROUP)
        if not connectors:
            return None
        hostvars = self.task_vars.get("hostvars") or {}
        own_networks = fact_networks(self.task_vars.get("ansible_facts") or {})
        addresses = []
        for host in connectors:
            if host == self.task_vars.get("inventory_hostname"):
                addresses += [connector_interface("127.0.0.1"), connector_interface("::1")]
                continue
            try:
                address = ipaddress.ip_address(str(self._templar.template(hostvars.get(host, {}).get("ansible_host",
                                                                                                     host))))
            except ValueError:
                return None
            networks = fact_networks(hostvars.get(host, {}).get("ansible_facts") or {})
            network = networks.get(address) or next(
                (net for net in own_networks.values() if net.version == address.version and address in net), None)
            addresses.append(connector_interface(address, network))
        return addresses

    def check(self, args, problems, result):
        problems.errors.extend(nginx_input_errors(args["values"], self.connector_addresses()))
