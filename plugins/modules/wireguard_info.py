#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wireguard_info
short_description: Report a WireGuard server's interfaces and peers, with their live state
version_added: 0.1.0
description:
  - Reads the peer lists that M(oscar_emr.remote_access.wireguard_interface) keeps (C(<conf_dir>/<name>.peers.json))
    and, for interfaces that are up, C(wg show <name> dump), and returns every peer with its name, owner, status,
    latest handshake and transfer counters. Keys other than public keys are never read or returned.
  - Also reports whether the running kernel has the WireGuard module, for choosing C(wireguard-go).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check mode; it only reads.
    support: full
  diff_mode:
    description: Reports no diff, as it changes nothing.
    support: none
  platform:
    description: Target OS families.
    platforms: posix
    support: full
options:
  names:
    description: Interfaces to report; all interfaces with a peer list in O(conf_dir) when empty.
    type: list
    elements: str
    default: []
  conf_dir:
    description: The directory of the configurations and peer lists.
    type: path
    default: /etc/wireguard
  preshared_keys:
    description:
      - Preshared keys to return in RV(preshared_keys), as C(<interface>/<peer>); read from
        C(<keys_dir>/<interface>/<peer>.psk). For writing client configurations on the controller.
      - A task that sets this must have C(no_log=true).
    type: list
    elements: str
    default: []
  keys_dir:
    description: The directory of the keys, as the role's C(wireguard_keys_dir).
    type: path
    default: /etc/wireguard/keys
  userspace:
    description:
      - The role's C(wireguard_userspace), to report RV(install_wireguard_go) and RV(supervise_wireguard_go) for this
        host. V(auto) installs wireguard-go only where the kernel lacks WireGuard; V(always) installs it; V(never)
        does not.
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - Private keys are never read.
"""

EXAMPLES = r"""
- name: Peers of every managed interface
  oscar_emr.remote_access.wireguard_info:
  register: wireguard

- name: Who connected in the last three minutes
  ansible.builtin.debug:
    msg: "{{ wireguard.interfaces.wg0.peers | selectattr('connected') | map(attribute='name') | list }}"
"""

RETURN = r"""
preshared_keys:
  description: The preshared keys asked for with O(preshared_keys), by C(<interface>/<peer>); missing ones are left out.
  returned: always
  type: dict
kernel_module:
  description: Whether the running kernel has WireGuard (loaded, built in, or as a module file).
  returned: always
  type: bool
install_wireguard_go:
  description: Whether the host needs wireguard-go installed, given O(userspace) and the kernel.
  returned: always
  type: bool
supervise_wireguard_go:
  description:
    - Whether C(wg-quick) will run wireguard-go here (no WireGuard in the kernel, wireguard-go installed), so that a
      process holds each tunnel and must be supervised. Never true where the kernel has WireGuard.
  returned: always
  type: bool
interfaces:
  description: Per interface name, its record and live state.
  returned: always
  type: dict
  contains:
    live:
      description: Whether the interface is up.
      type: bool
    public_key:
      description: The interface's public key.
      type: str
    listen_port:
      description: The listen port (live when up, else recorded).
      type: int
    revoked_keys:
      description: Public keys of peers revoked on this interface, kept for good so that none of them goes live again.
      type: list
      elements: str
    peers:
      description:
        - Recorded peers (name, owner, address, public_key, status, expires, generated, preshared_key) with live
          C(configured), C(endpoint), C(latest_handshake) (Unix time, 0 for never), C(transfer_rx), C(transfer_tx)
          and C(connected) (a handshake in the last 180 seconds). Live peers missing from the record are listed with
          the name C(unknown).
      type: list
      elements: dict
  sample:
    wg0:
      live: true
      public_key: Lh2P3SYr4dqxE8FVGo1cDtNGuvRyJ3aQpTjKCxY5Vmw=
      listen_port: 51820
      peers:
        - name: dr-smith-laptop
          status: active
          configured: true
          latest_handshake: 1767225600
          connected: true
"""

import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard import (  # noqa: E402
    IFNAME,
    PEER_NAME,
    kernel_has_wireguard,
    parse_dump,
    revoked_keys,
    userspace_plan,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard_crypto import is_key  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            conf_dir=dict(type="path", default="/etc/wireguard"),
            preshared_keys=dict(type="list", elements="str", default=[], no_log=False),
            keys_dir=dict(type="path", default="/etc/wireguard/keys", no_log=False),
            userspace=dict(type="str", default="auto", choices=["auto", "always", "never"]),
        ),
        supports_check_mode=True,
    )
    conf_dir = module.params["conf_dir"]
    names = module.params["names"] or sorted(
        os.path.basename(p)[:-len(".peers.json")] for p in glob.glob(os.path.join(conf_dir, "*.peers.json")))
    wg = module.get_bin_path("wg")
    now = int(time.time())
    interfaces = {}
    for name in names:
        record = {}
        try:
            with open(os.path.join(conf_dir, name + ".peers.json")) as handle:
                record = json.load(handle)
        except (OSError, IOError, ValueError):
            record = {}
        live = os.path.isdir("/sys/class/net/%s" % name)
        dump = None
        if live and wg:
            rc, out, _err = module.run_command([wg, "show", name, "dump"])
            if rc == 0:
                dump = parse_dump(out)
        live_peers = dict(dump["peers"]) if dump else {}
        peers = []
        for entry in record.get("peers", []):
            entry = dict(entry)
            state = live_peers.pop(entry.get("public_key"), None) if entry.get("public_key") else None
            entry["configured"] = state is not None
            entry["endpoint"] = state["endpoint"] if state else None
            entry["latest_handshake"] = state["latest_handshake"] if state else 0
            entry["transfer_rx"] = state["transfer_rx"] if state else 0
            entry["transfer_tx"] = state["transfer_tx"] if state else 0
            entry["connected"] = bool(state and state["latest_handshake"] and now - state["latest_handshake"] < 180)
            peers.append(entry)
        for key, state in sorted(live_peers.items()):
            peers.append({"name": "unknown", "public_key": key, "status": "unrecorded", "configured": True,
                          "endpoint": state["endpoint"], "latest_handshake": state["latest_handshake"],
                          "transfer_rx": state["transfer_rx"], "transfer_tx": state["transfer_tx"],
                          "connected": bool(state["latest_handshake"] and now - state["latest_handshake"] < 180)})
        interfaces[name] = {
            "live": live,
            "public_key": (dump or {}).get("public_key") or record.get("public_key"),
            "listen_port": (dump or {}).get("listen_port") or record.get("listen_port"),
            "address": record.get("address"),
            "peers": peers,
            "revoked_keys": revoked_keys(record, []),
        }
    secrets = {}
    for wanted in module.params["preshared_keys"]:
        interface, _sep, peer = wanted.partition("/")
        if not IFNAME.match(interface) or not PEER_NAME.match(peer) or interface in (".", ".."):
            module.fail_json(msg="preshared_keys: %r is not <interface>/<peer>" % wanted)
        try:
            with open(os.path.join(module.params["keys_dir"], interface, peer + ".psk")) as handle:
                value = handle.read().strip()
        except (OSError, IOError):
            continue
        if is_key(value):
            secrets[wanted] = value
    kernel = kernel_has_wireguard()
    plan = userspace_plan(module.params["userspace"], kernel)
    module.exit_json(changed=False, kernel_module=kernel, interfaces=interfaces, preshared_keys=secrets, **plan)


if __name__ == "__main__":
    main()
