# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report as one self-contained HTML page (inline style, no script, no external asset) and one CSV per table.

Much of what the report shows was typed by strangers (a user name tried at the login page, a purpose text), so HTML is
escaped and CSV cells a spreadsheet would take for a formula are prefixed with an apostrophe.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import html
import io

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_report.model import COLUMNS, TITLES

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_STYLE = """
@page{size:A4 landscape;margin:12mm}
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:11px;color:#111;margin:24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin-bottom:8px}th,td{border:1px solid #bbb;padding:3px 5px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#e8e8e8}tr{page-break-inside:avoid}
.meta td{border:none;padding:1px 8px 1px 0}.bad{color:#fff;background:#b00020;padding:2px 6px;font-weight:bold}
.good{color:#fff;background:#1b5e20;padding:2px 6px;font-weight:bold}.none{color:#555;font-style:italic}
.note{color:#333;font-size:10px}
"""

NOTES = {
    "sessions": "Way in: gateway login (password and TOTP at the gateway), WireGuard (a gateway sign-in that came "
                "through the clinic's WireGuard server), Cloudflare (a person signed in at Cloudflare Access; a "
                "session is then a run of page loads with no pause longer than the gateway's inactivity timeout). "
                "IP bypass and service token: requests a bypass policy or a service token let in, which the gateway "
                "records once per window (see 'ended') for each account, address and policy, so their requests are "
                "a lower bound and the use may have gone on up to a window past the end.",
    "dormant": "Enabled accounts and peers with no recorded use in the last {dormant_days} days before the end of the "
               "period. A peer shows as never recorded until the gateway host records WireGuard handshakes.",
    "expiring": "Gateway accounts and WireGuard peers whose expires date in the inventory (the first day they no "
                "longer work) falls next month.",
}


def csv_cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(name, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[name])
    for row in rows:
        writer.writerow([csv_cell(row[c]) for c in COLUMNS[name]])
    return out.getvalue()


def _table(name, rows):
    if not rows:
        return '<p class="none">None in this period.</p>'
    head = "".join("<th>%s</th>" % html.escape(c.replace("_", " ")) for c in COLUMNS[name])
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % html.escape(str(row[c])) for c in COLUMNS[name])
                   for row in rows)
    return '<table id="table-%s"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (name, head, body)


def to_html(report):
    meta = report["meta"]
    title = "Remote access report %s - %s" % (meta["period"], meta["clinic"])
    verdict = ('<span class="good">intact</span>' if meta["chain_intact"]
               else '<span class="bad">BROKEN: the audit log was altered; see the chain table</span>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No script, no external asset: the page is evidence and must look the same offline in ten years.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>%s</title><style>%s</style></head><body>" % (html.escape(title), _STYLE),
        "<h1>%s</h1>" % html.escape(title),
        '<table class="meta">',
    ]
    for label, value in (("Clinic", meta["clinic"]), ("Period (UTC)", "%s to %s" % (meta["since"], meta["until"])),
                         ("Way in", "Cloudflare Access" if meta["mode"] == "cloudflare" else "gateway login"),
                         ("Audit records in period", meta["records_in_period"]),
                         ("Generated (UTC)", meta["generated"])):
        parts.append("<tr><td>%s</td><td>%s</td></tr>" % (html.escape(label), html.escape(str(value))))
    parts.append('<tr><td>Audit hash chain</td><td id="chain-verdict">%s</td></tr></table>' % verdict)
    for name in COLUMNS:
        rows = report["tables"][name]
        parts.append('<h2 id="%s">%s (%d)</h2>' % (name, html.escape(TITLES[name]), len(rows)))
        if name in NOTES:
            parts.append('<p class="note">%s</p>' % html.escape(NOTES[name].format(**meta)))
        parts.append(_table(name, rows))
    parts.append("</body></html>\n")
    return "\n".join(parts)
