#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: access_report
short_description: Write a clinic's monthly remote-access report (HTML, PDF, CSV) for its privacy officer
version_added: 0.1.0
description:
  - Turns the gateway's export (C(oscar-gateway-admin report-export), read-only, no secrets) and the clinic's
    inventory into the report C(playbooks/access_report.yml) delivers, run on the controller.
  - Writes into O(dest) C(access-report-<period>.html) (one self-contained page), C(access-report-<period>.pdf) (the
    same page printed by Chromium, when O(pdf) is true) and one C(<period>-<table>.csv) per table, CSV cells that a
    spreadsheet would read as a formula prefixed with an apostrophe.
  - Tables - remote sessions (person, account, when, how long, from which address, way in), purpose justifications,
    approval requests with who decided them, denials, failed sign-ins and lockouts, WireGuard handshakes, dormant
    accounts and peers, gateway accounts and WireGuard peers expiring next month, and the audit hash chain's
    verification with the first broken record.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: In check mode nothing is written; the module says which files it would write.
    support: full
  diff_mode:
    description: Reports no diff; the report is a new document.
    support: none
  platform:
    description: The controller (delegate to localhost).
    platforms: posix
    support: full
options:
  export:
    description: The JSON object C(oscar-gateway-admin report-export) printed on the gateway host.
    type: dict
    required: true
  dest:
    description: Directory for the report's files; created (mode 0700) when missing.
    type: path
    required: true
  clinic:
    description: The clinic's name for the title; the gateway's clinic name when empty.
    type: str
    default: ""
  peers:
    description: The clinic's WireGuard peers as in its inventory (C(name), C(owner), C(enabled), C(expires)).
    type: list
    elements: dict
    default: []
  wireguard_sources:
    description:
      - Addresses and networks a gateway sign-in comes from when it came through the clinic's WireGuard server (the
        tunnel networks, and the server's own address when it masquerades).
    type: list
    elements: str
    default: []
  dormant_days:
    description: An enabled account or peer unused for this many days before the period's end is listed as dormant.
    type: int
    default: 90
  pdf:
    description: Also print the HTML to PDF with Chromium.
    type: bool
    default: true
  chromium:
    description: The Chromium executable; found on the PATH when empty.
    type: path
notes:
  - Times are UTC. The files are written mode 0600, the directory 0700; they name staff and addresses.
"""

EXAMPLES = r"""
- name: Export the period's records on the gateway host
  ansible.builtin.command: oscar-gateway-admin report-export --period 2026-11
  register: export
  changed_when: false

- name: Write the report on the controller
  oscar_emr.remote_access.access_report:
    export: "{{ export.stdout | from_json }}"
    dest: reports/riverside/2026-11
    peers: "{{ wireguard_peers }}"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: The files written (or, in check mode, that would be), by kind (C(html), C(pdf), C(csv)).
  returned: always
  type: dict
summary:
  description: Row counts per table, and whether the audit chain is intact.
  returned: always
  type: dict
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_report import (  # noqa: E402
    model,
    pdf,
    render,
)


def _write(path, text):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            export=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
            clinic=dict(type="str", default=""),
            peers=dict(type="list", elements="dict", default=[]),
            wireguard_sources=dict(type="list", elements="str", default=[]),
            dormant_days=dict(type="int", default=90),
            pdf=dict(type="bool", default=True),
            chromium=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        report = model.build(p["export"], p["clinic"], p["peers"], p["wireguard_sources"],
                             p["dormant_days"])
    except (model.ReportError, KeyError, TypeError) as exc:
        module.fail_json(msg="access report: %s" % (exc,))
    period = report["meta"]["period"]
    dest = p["dest"]
    files = {"html": os.path.join(dest, "access-report-%s.html" % period),
             "csv": [os.path.join(dest, "%s-%s.csv" % (period, name)) for name in model.COLUMNS]}
    if p["pdf"]:
        files["pdf"] = os.path.join(dest, "access-report-%s.pdf" % period)
    summary = {name: len(rows) for name, rows in report["tables"].items()}
    summary["chain_intact"] = report["meta"]["chain_intact"]
    if module.check_mode:
        module.exit_json(changed=True, files=files, summary=summary)
    os.makedirs(dest, mode=0o700, exist_ok=True)
    _write(files["html"], render.to_html(report))
    for name, path in zip(model.COLUMNS, files["csv"]):
        _write(path, render.to_csv(name, report["tables"][name]))
    if p["pdf"]:
        try:
            pdf.print_pdf(files["html"], files["pdf"], p["chromium"])
            os.chmod(files["pdf"], 0o600)
        except pdf.PdfError as exc:
            module.fail_json(msg=str(exc), files=files, summary=summary)
    module.exit_json(changed=True, files=files, summary=summary)


if __name__ == "__main__":
    main()
