#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wireguard_validate
short_description: Check the WireGuard role's interfaces and peers and build its model
version_added: 0.1.0
description:
  - Checks what argument specs cannot express about the variables of the P(oscar_emr.remote_access.wireguard#role)
    role, that is IPv4 addresses and subnets, overlaps between tunnel subnets, the OSCAR address and this host's
    addresses, peer addresses inside their interface's subnet and unique, public key format, duplicate peer names,
    interface names and listen ports, expiry dates and destinations.
  - Every error names the role variable, for example C(wireguard_peers[2].public_key), and all errors are reported
    at once. It changes nothing, so a bad inventory fails before anything changes.
  - Returns the normalised model the role uses, with each peer's status (V(active), V(disabled) or V(expired), judged
    against the host's local date) and the firewall role's variables that let active peers reach the OSCAR front
    door and their listed destinations, and nothing else.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Reports no diff, as it changes nothing.
    support: none
  platform:
    description: Target OS families.
    platforms: posix
    support: full
options:
  interfaces:
    description: The interfaces, as in C(wireguard_interfaces).
    type: list
    elements: raw
    required: true
  peers:
    description: The peers, as in C(wireguard_peers).
    type: list
    elements: raw
    default: []
  mode:
    description:
      - V(gateway) for a separate server that routes to the OSCAR host, V(local) for a server on the OSCAR host.
    type: str
    default: gateway
  oscar_address:
    description: The OSCAR front door's IPv4 address on the clinic network.
    type: str
    required: true
  oscar_port:
    description: The front door's HTTPS port.
    type: raw
    default: 443
  endpoint:
    description: The clinic's public name or address (with an optional port) that clients connect to.
    type: str
    default: ""
  lan_interface:
    description: The interface of this host that leads to the OSCAR host (gateway mode).
    type: str
    default: ""
  masquerade:
    description: Whether peers' traffic to the clinic network leaves with this host's address (gateway mode).
    type: bool
    default: true
  ssh_port:
    description:
      - The TCP port of sshd on the clinic's hosts, the one port management peers (C(kind=management)) reach; staff
        peers given it (or 22) as a destination are refused.
    type: raw
    default: 22
  allow_ping:
    description: Whether peers may ping this host's tunnel addresses; otherwise they reach only their services, no ICMP.
    type: bool
    default: false
  reissue:
    description: Names of peers whose generated keys are replaced on this run.
    type: list
    elements: raw
    default: []
  recorded_peers:
    description:
      - Names of the peers on record on the server (M(oscar_emr.remote_access.wireguard_info)). A peer not among them
        whose C(expires) is already past is refused (it was never issued and would never work); unset, expiry
        dates are not judged this way.
    type: list
    elements: str
  revoked_keys:
    description:
      - Public keys the server recorded as revoked (M(oscar_emr.remote_access.wireguard_info)). An enabled peer with its
        own key that is one of them is refused; a generated peer whose recorded key is one of them is re-issued.
    type: list
    elements: str
    default: []
  recorded_keys:
    description: The recorded public key of each generated peer, by peer name.
    type: dict
    default: {}
  host_addresses:
    description: This host's IPv4 addresses, to catch overlaps and a wrong O(mode).
    type: list
    elements: str
    default: []
  today:
    description: The date (V(YYYY-MM-DD)) that expiry is judged against; the host's local date when empty.
    type: str
    default: ""
notes:
  - Peers expire at the start of their C(expires) date in the host's time zone; the next run of the role removes them.
"""

EXAMPLES = r"""
- name: Check the WireGuard inventory before anything changes
  oscar_emr.remote_access.wireguard_validate:
    interfaces:
      - name: wg0
        address: 10.90.1.1/24
        listen_port: 51820
    peers:
      - name: dr-smith-laptop
        owner: Dr. Jane Smith
        address: 10.90.1.10
    oscar_address: 192.168.1.20
    endpoint: vpn.lakeside-clinic.example
    lan_interface: eth0
  register: wireguard_check
"""

RETURN = r"""
model:
  description: The normalised interfaces and peers, and what the firewall role needs.
  returned: success
  type: dict
  contains:
    interfaces:
      description: Interfaces with their peers; each peer has C(status), C(allowed_ips) and C(client_allowed_ips).
      type: list
      elements: dict
    firewall:
      description:
        - C(services), C(forward_rules), C(forward_enabled) and C(confined_interfaces) (the tunnels, whose traffic to
          this host reaches only the listed services) in the firewall role's format, and C(masquerade).
      type: dict
    generated_peers:
      description: Names of peers whose keys the role generates.
      type: list
      elements: str
  sample:
    mode: gateway
    oscar_address: 192.168.1.20
    oscar_port: 443
    generated_peers: [dr-smith-laptop]
"""

import datetime  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard import ValidationError, build_model  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type="list", elements="raw", required=True),
            peers=dict(type="list", elements="raw", default=[]),
            mode=dict(type="str", default="gateway"),
            oscar_address=dict(type="str", required=True),
            oscar_port=dict(type="raw", default=443),
            endpoint=dict(type="str", default=""),
            lan_interface=dict(type="str", default=""),
            masquerade=dict(type="bool", default=True),
            allow_ping=dict(type="bool", default=False),
            ssh_port=dict(type="raw", default=22),
            reissue=dict(type="list", elements="raw", default=[]),
            host_addresses=dict(type="list", elements="str", default=[]),
            today=dict(type="str", default=""),
            recorded_peers=dict(type="list", elements="str"),
            revoked_keys=dict(type="list", elements="str", default=[], no_log=False),
            recorded_keys=dict(type="dict", default={}, no_log=False),
        ),
        supports_check_mode=True,
    )
    today = None
    if module.params["today"]:
        try:
            today = datetime.datetime.strptime(module.params["today"], "%Y-%m-%d").date()
        except ValueError:
            module.fail_json(msg="today: %r is not a date YYYY-MM-DD" % module.params["today"])
    try:
        model = build_model(dict(module.params), today=today)
    except ValidationError as error:
        module.fail_json(msg="The WireGuard variables have %d problem(s): %s"
                         % (len(error.errors), "; ".join(error.errors)), errors=error.errors)
    module.exit_json(changed=False, model=model)


if __name__ == "__main__":
    main()
