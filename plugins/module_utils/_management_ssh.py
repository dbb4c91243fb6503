# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The management_ssh role's rules: where sshd listens (only where the management path arrives), key-only, no root
login; and the text of its sshd drop-in.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems

USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")
UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+\.(service|target|device|mount)$")
HEADER = "# Managed by Ansible (role oscar_emr.remote_access.management_ssh): edits are overwritten."


class ManagementSshError(Exception):
    def __init__(self, errors):
        self.errors = list(errors)
        super(ManagementSshError, self).__init__("; ".join(self.errors))


def connected_to(ssh_connection):
    """The address this host was reached on, from $SSH_CONNECTION ('client port server port'), else None."""
    fields = (ssh_connection or "").split()
    if len(fields) != 4:
        return None
    try:
        address = ipaddress.ip_address(fields[2].split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address


def build_model(params, server_address=None):
    """Check the role's variables (without the management_ssh_ prefix); return {"listen", "text", "after_units",
    "warnings"} or raise ManagementSshError naming each bad variable and value."""
    c = Problems()
    raw = params.get("listen_addresses")
    addresses = []
    if not isinstance(raw, list) or not raw:
        c.add("management_ssh_listen_addresses", "is empty: list where the management path arrives (the WireGuard "
              "server's tunnel address, 127.0.0.1 for a cloudflared tunnel, the LAN address for on-site work)")
        raw = []
    for index, value in enumerate(raw):
        where = "management_ssh_listen_addresses[%d]" % index
        try:
            address = ipaddress.ip_address(str(value).strip())
        except ValueError:
            c.add(where, "%r is not an IP address" % (value,))
            continue
        if address.is_unspecified:
            c.add(where, "%r listens on every address, so SSH would answer wherever the host is reachable: list the "
                  "management path's addresses only" % (value,))
        elif address in addresses:
            c.add(where, "%r is listed twice" % (value,))
        else:
            addresses.append(address)
    port = params.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        c.add("management_ssh_port", "%r is not a port (1-65535)" % (port,))
        port = 22
    users = params.get("allow_users") or []
    for index, user in enumerate(users if isinstance(users, list) else [users]):
        if not isinstance(user, str) or not USER.match(user) or user == "root":
            c.add("management_ssh_allow_users[%d]" % index, "%r is not a user name that may log in (never root)"
                  % (user,))
    units = params.get("after_units") or []
    for index, unit in enumerate(units if isinstance(units, list) else [units]):
        if not isinstance(unit, str) or not UNIT.match(unit):
            c.add("management_ssh_after_units[%d]" % index, "%r is not a systemd unit name" % (unit,))
    if server_address is not None and addresses and server_address not in addresses:
        message = ("Ansible is connected to %s, which is not listed, so its next connection would be refused"
                   % server_address)
        if params.get("allow_lockout") is True:
            c.warnings.append("management_ssh_listen_addresses: %s (allowed by management_ssh_allow_lockout)"
                              % message)
        else:
            c.add("management_ssh_listen_addresses", message + "; add it or set management_ssh_allow_lockout: true")
    if c.errors:
        raise ManagementSshError(c.errors)
    listen = ["%s:%d" % (a, port) if a.version == 4 else "[%s]:%d" % (a, port) for a in addresses]
    lines = [HEADER,
             "# Read before the other drop-ins and the rest of sshd_config: sshd takes the first value of a setting."]
    lines += ["ListenAddress %s" % item for item in listen]
    lines += ["PubkeyAuthentication yes", "AuthenticationMethods publickey", "PasswordAuthentication no",
              "KbdInteractiveAuthentication no", "PermitRootLogin no"]
    if users:
        lines.append("AllowUsers %s" % " ".join(users))
    return {"listen": listen, "text": "\n".join(lines) + "\n", "after_units": list(units), "warnings": c.warnings}
