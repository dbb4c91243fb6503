#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: clinic_health
short_description: Take a read-only health snapshot of a clinic host
version_added: 0.1.0
description:
  - Probes what the clinic's remote access needs and returns one snapshot, which C(playbooks/patch.yml) takes
    before and after patching (its gates) and the fleet report reads.
  - "Gates (decide RV(healthy)): the front door answers through nginx with the clinic's name as Host and TLS
    server name; OSCAR's Tomcat answers locally; the access gateway answers C(/healthz) on its unix socket; each
    cloudflared connector's C(/ready) and C(/metrics) answer 200; each WireGuard interface is up; each listed
    systemd unit that exists is active. An answer of 500 or more from nginx or Tomcat is a failure."
  - "Reported, not gating: installed versions (OS, nginx, cloudflared, WireGuard tools, gateway), each unit's
    restart count (C(NRestarts)), WireGuard peers' latest handshakes, days to the TLS certificate's expiry,
    whether a security package source is configured, the updates C(apt-get -s dist-upgrade) would install (and
    which come from a security source), and whether the system asks for a reboot (C(/run/reboot-required))."
  - Changes nothing; apt's lists are not refreshed here.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Runs in check mode; it only reads.
    support: full
  diff_mode:
    description: Reports no diff, as it changes nothing.
    support: none
  platform:
    description: Target OS families.
    platforms: posix
    support: full
options:
  front_door:
    description: The nginx front door to probe; omit on hosts that are not the front door.
    type: dict
    suboptions:
      url:
        description: Where to connect, such as C(https://127.0.0.1:443/oscar/).
        type: str
        required: true
      host:
        description: The clinic's name, sent as the Host header and TLS server name.
        type: str
      ca_file:
        description:
          - A CA file on the host to verify the certificate with (for O(front_door.host)); unverified when omitted.
        type: path
  tomcat_url:
    description: OSCAR's Tomcat, probed locally (such as C(https://127.0.0.1:8443/oscar/)); omit to skip.
    type: str
  gateway_socket:
    description: The access gateway's unix socket; omit on hosts without the gateway.
    type: path
  gateway_init:
    description: The gateway package's C(__init__.py), where its version is read.
    type: path
    default: /usr/lib/oscar-gateway/oscar_gateway/__init__.py
  cloudflared_metrics:
    description: Metrics addresses (C(host:port)) of the cloudflared connectors on this host.
    type: list
    elements: str
    default: []
  wireguard_interfaces:
    description: WireGuard interfaces served by this host.
    type: list
    elements: str
    default: []
  units:
    description: Systemd units to read (state and restart count); units not installed are reported, not gated.
    type: list
    elements: str
    default: []
  tls_certificate:
    description: The front door's certificate file, for days to expiry.
    type: path
  expiry_days:
    description: A certificate expiring within this many days is a warning.
    type: int
    default: 14
  acme_last_attempt:
    description:
      - The nginx role's record of its last attempt to get an ACME certificate (C(last-attempt.json) in
        C(nginx_acme_dir)).
      - A failed attempt is a warning with its date and the days the certificate in service has left.
    type: path
notes:
  - The HTTP probes go only to loopback addresses and unix sockets on the host itself.
"""

EXAMPLES = r"""
- name: Health snapshot of the OSCAR host
  oscar_emr.remote_access.clinic_health:
    front_door:
      url: https://127.0.0.1:443/oscar/
      host: emr.lakeside.example
    tomcat_url: https://127.0.0.1:8443/oscar/
    gateway_socket: /run/oscar-gateway/gateway.sock
    cloudflared_metrics: [127.0.0.1:20241]
    units: [nginx.service, oscar-gateway.service, cloudflared.service]
    tls_certificate: /etc/oscar-remote-access/ca/server.crt
  register: health
"""

RETURN = r"""
healthy:
  description: True when every gating check passed.
  returned: always
  type: bool
failed_checks:
  description: Names of the gating checks that failed.
  returned: always
  type: list
  elements: str
warnings_found:
  description: Reported problems that do not gate (certificate expiring, no security source).
  returned: always
  type: list
  elements: str
checks:
  description: Every check, as C(name), C(ok), C(detail) and C(gate).
  returned: always
  type: list
  elements: dict
versions:
  description: Installed versions (C(os), C(nginx), C(cloudflared), C(wireguard_tools), C(gateway)); null when absent.
  returned: always
  type: dict
units:
  description: Per unit, C(active), C(load) and C(restarts) (systemd's NRestarts).
  returned: always
  type: dict
wireguard:
  description: Per interface, C(peers) and C(latest_handshakes) (public key to unix time, 0 for never).
  returned: always
  type: dict
tls_days_left:
  description: Whole days until the certificate expires; null without a certificate.
  returned: always
  type: int
tls_renewal:
  description:
    - The last ACME attempt, C(result) (V(ok) or V(failed)), C(date), C(reason), C(message) and C(days_left);
      null without a record (not acme mode, or no attempt yet).
  returned: always
  type: dict
pending_updates:
  description: What C(apt-get -s dist-upgrade) would install, each with C(name), C(current), C(candidate), C(security).
  returned: always
  type: list
  elements: dict
pending_security_updates:
  description: How many of those come from a security source.
  returned: always
  type: int
reboot_required:
  description: Whether C(/run/reboot-required) exists.
  returned: always
  type: bool
security_source:
  description: Whether an apt source names a security suite.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._clinic_health import snapshot  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            front_door=dict(type="dict", options=dict(
                url=dict(type="str", required=True),
                host=dict(type="str"),
                ca_file=dict(type="path"),
            )),
            tomcat_url=dict(type="str"),
            gateway_socket=dict(type="path"),
            gateway_init=dict(type="path", default="/usr/lib/oscar-gateway/oscar_gateway/__init__.py"),
            cloudflared_metrics=dict(type="list", elements="str", default=[]),
            wireguard_interfaces=dict(type="list", elements="str", default=[]),
            units=dict(type="list", elements="str", default=[]),
            tls_certificate=dict(type="path"),
            expiry_days=dict(type="int", default=14),
            acme_last_attempt=dict(type="path"),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        if not module.get_bin_path(argv[0]):
            return 127, "", "%s is not installed" % argv[0]
        return module.run_command(argv, environ_update={"LC_ALL": "C"})

    result = snapshot(module.params, run)
    module.exit_json(
        changed=False,
        healthy=result["healthy"],
        failed_checks=result["failed"],
        warnings_found=result["warnings"],
        checks=result["checks"],
        versions=result["versions"],
        units=result["units"],
        wireguard=result["wireguard"],
        tls_days_left=result["tls_days_left"],
        tls_renewal=result["tls_renewal"],
        pending_updates=result["pending_updates"],
        pending_security_updates=result["pending_security_updates"],
        reboot_required=result["reboot_required"],
        security_source=result["security_source"],
    )


if __name__ == "__main__":
    main()
