#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/firewall_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: firewall_validate
short_description: Check the firewall role's allowlist and build its rule model
version_added: 0.1.0
description:
  - Checks the variables of the P(oscar_emr.remote_access.firewall#role) role for what argument specs cannot express
    (CIDRs for IPv4 and IPv6 without host bits, ports and port ranges within 1-65535 with the low end first, names,
    protocols, duplicate names, interface names), and returns the normalised rule model its ruleset template renders.
  - Refuses a ruleset that would cut off management access. Nobody could reach SSH when O(management_sources) is empty
    and no entry of O(services) opens a port of O(management_ports). When Ansible connects over SSH, the action reads
    E(SSH_CONNECTION) on the host, without become, and also refuses a ruleset that does not let that client
    address reach that SSH port. O(allow_management_lockout=true) turns both refusals into warnings.
  - Refuses SSH open to everyone, always, that is C(0.0.0.0/0) or C(::/0) in O(management_sources), or as a source
    of a TCP service whose ports cover one of O(management_ports).
  - Runs on the controller and changes nothing, so bad input fails before anything changes on the host.
  - "Every error names the role variable (C(firewall_) followed by the option name) and the offending value, for
    example C(firewall_services[1].sources[0]: '10.0.0.300/24' is not a valid CIDR). All errors are reported at once."
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  services:
    description:
      - Inbound services, as in C(firewall_services). Each is a mapping with C(name) (unique, 1-63 letters, digits,
        C(.), C(_) or C(-)), C(port) (a port or an inclusive range C(low-high)), C(protocol) (V(tcp), the default,
        or V(udp)) and C(sources) (a non-empty list of IPv4 and IPv6 CIDRs).
    type: list
    elements: raw
    default: []
  management_sources:
    description: IPv4 and IPv6 CIDRs allowed to reach SSH.
    type: list
    elements: raw
    default: []
  management_ports:
    description: The TCP ports SSH listens on.
    type: list
    elements: raw
    default: [22]
  allow_management_lockout:
    description: Accept a ruleset that would cut off management access (only warn).
    type: bool
    default: false
  trusted_interfaces:
    description: Interfaces whose traffic is accepted without filtering; a trailing C(*) is a wildcard.
    type: list
    elements: raw
    default: []
  allow_ping:
    description: Whether echo requests are answered.
    type: bool
    default: true
  allow_dhcpv6_client:
    description: Whether DHCPv6 server replies (link-local, UDP 547 to 546) are accepted.
    type: bool
    default: true
  rollback_timeout:
    description: Seconds before an unconfirmed change is rolled back, between 5 and 3600.
    type: int
    default: 90
  egress_enabled:
    description: Whether outbound traffic is filtered (default-deny).
    type: bool
    default: false
  egress_essentials:
    description: Named outbound needs to allow when O(egress_enabled=true).
    type: list
    elements: raw
    choices: [dns, ntp, apt, dhcp]
    default: [dns, ntp, apt, dhcp]
  egress_rules:
    description:
      - Outbound rules, each a mapping with C(name), C(port), C(protocol) and C(destinations) (a non-empty list of
        CIDRs).
    type: list
    elements: raw
    default: []
  forward_enabled:
    description: Whether the role manages a forward chain with policy drop.
    type: bool
    default: false
  forward_rules:
    description:
      - Forwarded traffic to accept, each a mapping with C(name) and any of C(iifname), C(oifname), C(sources),
        C(destinations), C(protocol) (V(tcp), V(udp) or V(any), the default) and C(port) (needs V(tcp) or V(udp)).
    type: list
    elements: raw
    default: []
  role_needs:
    description:
      - What other roles of this collection published for this host, keyed by the fact's name
        (C(<role>_firewall_needs), for example C(wireguard_firewall_needs)); each a mapping with any of C(services),
        C(egress_rules), C(forward_rules) and C(forward_enabled). Other keys are errors.
      - Their entries join O(services), O(forward_rules) and O(egress_rules); an entry the inventory already lists
        verbatim is taken once, the same name with other settings is an error. A true C(forward_enabled) turns
        O(forward_enabled) on.
    type: dict
    default: {}
notes:
  - The returned model holds only data the ruleset template needs; the template is the place that writes nftables syntax
    around it.
seealso:
  - name: nftables wiki
    description: Quick reference of the nftables syntax.
    link: https://wiki.nftables.org/wiki-nftables/index.php/Quick_reference-nftables_in_10_minutes
"""

EXAMPLES = r"""
- name: Check the allowlist before anything changes
  oscar_emr.remote_access.firewall_validate:
    services:
      - name: https
        port: 443
        sources: [0.0.0.0/0, "::/0"]
      - name: wireguard
        port: 51820
        protocol: udp
        sources: [0.0.0.0/0]
    management_sources: [192.0.2.10/32, "2001:db8::/64"]
  register: firewall_check

- name: Show the input rules it would generate
  ansible.builtin.debug:
    var: firewall_check.model.input_rules
"""

RETURN = r"""
model:
  description: The normalised rule model the ruleset template renders.
  returned: success
  type: dict
  contains:
    input_rules:
      description: Inbound accept rules; C(match) is an nftables match expression, C(comment) the rule's name.
      type: list
      elements: dict
      sample: [{"match": "tcp dport 443 ip saddr 0.0.0.0/0", "comment": "https"}]
    management:
      description: The SSH ports and the collapsed IPv4 and IPv6 source networks.
      type: dict
      sample: {"ports": [22], "ipv4": ["192.0.2.10/32"], "ipv6": ["2001:db8::/64"]}
    services:
      description: The services with their ports as nftables expressions and collapsed source networks.
      type: list
      elements: dict
      sample: [{"name": "https", "protocol": "tcp", "port": "443", "ipv4": ["0.0.0.0/0"], "ipv6": ["::/0"]}]
    trusted_interfaces:
      description: Interfaces accepted without filtering.
      type: list
      elements: str
      sample: []
    allow_ping:
      description: Whether echo requests are answered.
      type: bool
      sample: true
    allow_dhcpv6_client:
      description: Whether DHCPv6 server replies are accepted.
      type: bool
      sample: true
    egress:
      description: C(enabled) and the outbound C(rules) (C(match), C(comment)).
      type: dict
      sample: {"enabled": false, "rules": []}
    forward:
      description: C(enabled) and the forward C(rules) (C(match), C(comment)).
      type: dict
      sample: {"enabled": false, "rules": []}
controller:
  description: The address and SSH port Ansible connects from and to, as the host sees them; null when not over SSH.
  returned: always
  type: dict
  sample: {"address": "192.0.2.10", "ssh_port": 22}
controller_detection:
  description: How the controller address was found, or why it was not.
  returned: always
  type: str
  sample: from $SSH_CONNECTION on the host
errors:
  description: Every problem found, each naming the role variable and the offending value.
  returned: failure
  type: list
  elements: str
  sample: ["firewall_services[1].sources[0]: '10.0.0.300/24' is not a valid CIDR"]
"""
