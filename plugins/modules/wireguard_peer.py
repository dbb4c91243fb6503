#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wireguard_peer
short_description: Add, change, revoke or remove one WireGuard peer in a clinic inventory's peer list
version_added: 0.1.0
description:
  - Edits the YAML vars file that holds a clinic's C(wireguard_peers) (by default
    C(group_vars/wireguard_servers/wireguard_peers.yml) of the inventory), on the controller, for
    C(playbooks/wireguard_peers.yml). Other variables in the file are kept; comments are not, except the header the
    module writes.
  - O(state=present) adds the peer or changes the given fields of an existing one (a new peer without O(address)
    gets the first free address of its interface's subnet). O(state=revoked) keeps the entry with C(enabled=false).
    O(state=absent) removes the entry.
  - A revoked key never comes back. O(enabled=true) on a revoked peer whose keys the role generates enables it, and
    the P(oscar_emr.remote_access.wireguard#role) role then issues it a new key pair (RV(new_key)). A revoked peer with
    its own key is only enabled with a new O(public_key); with its old one the module fails and writes nothing.
  - The resulting list is checked as the P(oscar_emr.remote_access.wireguard#role) role checks it (addresses inside
    the subnet and unique, key format, unique names) before the file is written.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check mode and report the change without writing the file.
    support: full
  diff_mode:
    description: Shows the peer's entry before and after.
    support: full
  platform:
    description: Runs on the controller.
    platforms: posix
    support: full
requirements:
  - PyYAML (ansible-core depends on it)
options:
  path:
    description: The vars file; created (mode C(0644), directory C(0755)) when missing.
    type: path
    required: true
  variable:
    description: The name of the list variable in the file.
    type: str
    default: wireguard_peers
  name:
    description: The peer's name.
    type: str
    required: true
  state:
    description: V(present), V(revoked) (kept with C(enabled=false)) or V(absent).
    type: str
    choices: [present, revoked, absent]
    default: present
  interfaces:
    description: The server's C(wireguard_interfaces), to check addresses and to pick a free one.
    type: list
    elements: raw
    required: true
  owner:
    description: Who holds the device.
    type: str
  interface:
    description: The peer's interface; needed for a new peer when there are several.
    type: str
  address:
    description: The peer's tunnel address; a new peer without one gets the first free address.
    type: str
  public_key:
    description: The device's own public key; leave out to have the role generate the keys.
    type: str
  expires:
    description: Expiry date C(YYYY-MM-DD); an empty string removes the expiry.
    type: str
  enabled:
    description:
      - Set the peer's C(enabled) flag (O(state=present)); V(true) re-enables a revoked peer, with a new key (see
        above).
    type: bool
  destinations:
    description: Extra destinations (replaces the list), each with C(address), C(port) and C(protocol).
    type: list
    elements: dict
  kind:
    description:
      - V(staff) (the default when the entry has none) reaches the front door; V(management), the IT provider's control
        node, reaches SSH of the clinic's hosts and nothing else (see the role's README).
    type: str
    choices: [staff, management]
"""

EXAMPLES = r"""
- name: Add a locum's phone until the end of August
  oscar_emr.remote_access.wireguard_peer:
    path: inventories/lakeside_clinic/group_vars/wireguard_servers/wireguard_peers.yml
    name: locum-phone
    owner: Dr. Lee (locum)
    expires: "2026-08-31"
    interfaces: "{{ wireguard_interfaces }}"
  delegate_to: localhost
  run_once: true

- name: Revoke it
  oscar_emr.remote_access.wireguard_peer:
    path: inventories/lakeside_clinic/group_vars/wireguard_servers/wireguard_peers.yml
    name: locum-phone
    state: revoked
    interfaces: "{{ wireguard_interfaces }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
peers:
  description: The whole peer list after the change, as written.
  returned: always
  type: list
  elements: dict
peer:
  description: The peer's entry after the change (null when removed).
  returned: always
  type: dict
new_key:
  description: Whether a revoked peer with generated keys was enabled, so that the role issues it a new key pair.
  returned: always
  type: bool
"""

import copy  # noqa: E402
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._files import atomic_write  # noqa: E402
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard import check_peers, free_address  # noqa: E402

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

HEADER = (
    "---\n"
    "# WireGuard peers of this clinic, for the role oscar_emr.remote_access.wireguard (see its README).\n"
    "# Edit by hand or with playbooks/wireguard_peers.yml, which rewrites this file and keeps no other comments.\n"
)
FIELDS = ("owner", "interface", "address", "public_key", "expires", "enabled", "destinations", "kind")


if HAS_YAML:
    class IndentedDumper(yaml.SafeDumper):
        """Indents lists under their key, as yamllint and ansible-lint expect of inventory files."""

        def increase_indent(self, flow=False, indentless=False):
            return super(IndentedDumper, self).increase_indent(flow, False)


def _yaml(data, **options):
    return yaml.dump(data, Dumper=IndentedDumper, default_flow_style=False, sort_keys=False, **options)


def dump(data):
    return HEADER + _yaml(data, allow_unicode=True, width=120)


def entry_text(entry):
    return _yaml(entry) if entry else ""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            variable=dict(type="str", default="wireguard_peers"),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "revoked", "absent"], default="present"),
            interfaces=dict(type="list", elements="raw", required=True),
            owner=dict(type="str"),
            interface=dict(type="str"),
            address=dict(type="str"),
            public_key=dict(type="str", no_log=False),
            expires=dict(type="str"),
            enabled=dict(type="bool"),
            destinations=dict(type="list", elements="dict"),
            kind=dict(type="str", choices=["staff", "management"]),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    p = module.params
    path = p["path"]
    data = {}
    if os.path.exists(path):
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw.lstrip().startswith(b"$ANSIBLE_VAULT"):
            module.fail_json(msg="%s is Vault-encrypted; keep wireguard_peers in a file of its own, in the clear"
                             " (it holds no secrets)" % path)
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as error:
            module.fail_json(msg="%s is not valid YAML: %s" % (path, error))
        if not isinstance(data, dict):
            module.fail_json(msg="%s does not hold a mapping of variables" % path)
    peers = data.get(p["variable"]) or []
    if not isinstance(peers, list):
        module.fail_json(msg="%s in %s is not a list" % (p["variable"], path))
    before_peers = copy.deepcopy(peers)
    index = next((i for i, peer in enumerate(peers) if isinstance(peer, dict) and peer.get("name") == p["name"]), None)
    before = copy.deepcopy(peers[index]) if index is not None else None
    result_note = None

    if p["state"] == "absent":
        if index is not None:
            peers.pop(index)
        after = None
    else:
        entry = dict(before) if before else {"name": p["name"]}
        for field in FIELDS:
            value = p[field]
            if value is None:
                continue
            if field == "expires" and value == "":
                entry.pop("expires", None)
                continue
            if field == "enabled" and value is True and entry.get("enabled", True) is True:
                continue  # enabled is the default: an entry without the key stays without it
            entry[field] = value
        renewed = before is not None and before.get("enabled", True) is False and entry.get("enabled", True) is True
        if renewed and before.get("public_key"):
            # A revoked key never comes back (the role refuses it too, from the server's record of revoked keys).
            if entry.get("public_key") == before["public_key"]:
                module.fail_json(msg="%s was revoked and has its own key: that key must never come back, so it cannot"
                                 " be enabled with it. Have the device make a new key pair and give its new public"
                                 " key (public_key; -e peer_public_key=... with playbooks/wireguard_peers.yml)"
                                 % p["name"])
        elif renewed:
            # A generated peer: the role sees its recorded key among the revoked ones and issues a new key pair.
            result_note = ("%s was revoked: enabling it issues a new key pair and configuration (its old key stays"
                           " revoked)" % p["name"])
        if p["state"] == "revoked":
            entry["enabled"] = False
        if before is None:
            if p["state"] == "revoked":
                module.fail_json(msg="there is no peer named %s to revoke" % p["name"])
            if "address" not in entry:
                address = free_address(p["interfaces"], peers, entry.get("interface"))
                if address is None:
                    module.fail_json(msg="no free address for %s: give address (and interface when the server has"
                                     " several)" % p["name"])
                entry["address"] = address
            peers.append(entry)
        else:
            peers[index] = entry
        after = entry
    errors = check_peers(p["interfaces"], peers)
    if errors:
        module.fail_json(msg="the peer list would be invalid, nothing was written: %s" % "; ".join(errors),
                         errors=errors)

    changed = peers != before_peers
    data[p["variable"]] = peers
    result = dict(changed=changed, peers=peers, peer=after, new_key=bool(result_note))
    if result_note:
        result["msg"] = result_note
    if changed:
        result["diff"] = dict(before=entry_text(before), after=entry_text(after),
                              before_header="%s: %s" % (path, p["name"]), after_header="%s: %s" % (path, p["name"]))
        if not module.check_mode:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            atomic_write(path, dump(data).encode("utf-8"), None, module, prefix=".wgpeers-")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
