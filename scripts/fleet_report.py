"""The fleet report: what scripts/fleet.py learnt from each clinic's run, as JSON, one static HTML page and a
terminal table, failed clinics first.

Per clinic: the result and duration, changed/failed task counts, and per host what the health snapshot (module
clinic_health) and the patch role's set_stats reported: versions (OS, nginx, cloudflared and its age against
Cloudflare's one-year support window, WireGuard tools, gateway), pending security updates, reboot pending, days to
TLS certificate expiry (and a failed ACME renewal, with its date), WireGuard peers and gateway accounts expiring
within 14 days (or expired), service restarts since the last run, the patch outcome; drift (what a check-mode
site.yml would change, with --drift) and the last successful patch (kept in the state file between runs).
"""

from __future__ import annotations

import datetime
import html
import json
import re
from pathlib import Path

# Cloudflare supports a cloudflared release for one year after it is published.
SUPPORT_DAYS = 365
VERSION = re.compile(r"^(\d{4})\.(\d{1,2})\.\d+")


def cloudflared_age(version: str | None, today: datetime.date | None = None) -> dict | None:
    """Age in days of a cloudflared release (YYYY.M.patch: published in that month; counted from its first day,
    so the age is at most a month too high) and whether Cloudflare still supports it."""
    match = VERSION.match(version or "")
    if not match:
        return None
    released = datetime.date(int(match.group(1)), int(match.group(2)), 1)
    days = ((today or datetime.date.today()) - released).days
    return {"days": days, "supported": days <= SUPPORT_DAYS}


def result_of(run: dict) -> str:
    outcomes = [h.get("outcome", "") for h in (run.get("artifact_data", {}).get("patch_hosts") or {}).values()]
    if run["status"] == "timeout":
        return "timeout"
    if any(o.startswith("left alone") for o in outcomes):
        return "unhealthy: left alone"
    if run.get("unreachable"):
        return "unreachable"
    if run["status"] != "successful":
        return "failed"
    return "ok"


def build(runs: list[dict], playbook: str, state_path: Path | None = None,
          now: datetime.datetime | None = None, check_mode: bool = False) -> dict:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    state = {}
    if state_path and state_path.exists():
        state = json.loads(state_path.read_text())
    clinics = []
    for run in runs:
        previous = state.get(run["clinic"], {})
        patch_hosts = (run.get("artifact_data") or {}).get("patch_hosts") or {}
        expiring = (run.get("artifact_data") or {}).get("patch_expiring") or {}
        accounts_expiring = (run.get("artifact_data") or {}).get("patch_gateway_expiring") or {}
        hosts = []
        restarts_now = {}
        for host in sorted(set(run.get("hosts", [])) | set(run.get("health", {}))):
            health = run.get("health", {}).get(host) or {}
            versions = health.get("versions") or {}
            units = health.get("units") or {}
            restarts_now[host] = {u: v.get("restarts") for u, v in units.items() if v.get("restarts") is not None}
            before = (previous.get("restarts") or {}).get(host, {})
            since = {}
            for unit, count in restarts_now[host].items():
                if unit in before:
                    # NRestarts counts from the unit's last (re)start by systemd; a lower count means it was reset.
                    since[unit] = count - before[unit] if count >= before[unit] else count
            outcome = patch_hosts.get(host, {})
            hosts.append({
                "host": host,
                "reachable": host not in run.get("unreachable", []),
                "healthy": health.get("healthy"),
                "failed_checks": health.get("failed_checks") or outcome.get("failed_checks") or [],
                "versions": versions,
                "cloudflared_age": cloudflared_age(versions.get("cloudflared"), now.date()),
                "pending_security_updates": health.get("pending_security_updates"),
                "pending_updates": len(health.get("pending_updates") or []),
                "security_source": health.get("security_source"),
                "reboot_pending": bool(health.get("reboot_required")) or outcome.get("reboot") == "pending",
                "tls_days_left": health.get("tls_days_left"),
                "tls_renewal": health.get("tls_renewal"),
                "wireguard_peers_expiring": expiring.get(host, []),
                "gateway_accounts_expiring": accounts_expiring.get(host, []),
                "restarts_since_last_run": since,
                "patch": outcome,
            })
        result = result_of(run)
        last_success = previous.get("last_successful_patch")
        if result == "ok" and "patch" in Path(playbook).name and not check_mode:
            last_success = run.get("started") or now.isoformat(timespec="seconds")
        clinics.append({
            "clinic": run["clinic"],
            "result": result,
            "status": run["status"],
            "seconds": run.get("seconds"),
            "changed": run.get("changed", 0),
            "failed": run.get("failed", 0),
            "unreachable": run.get("unreachable", []),
            "errors": run.get("errors", [])[:20],
            "drift": run.get("drift"),
            "last_successful_patch": last_success,
            "hosts": hosts,
        })
        state[run["clinic"]] = {"last_successful_patch": last_success,
                                "restarts": {**(previous.get("restarts") or {}), **restarts_now}}
    clinics.sort(key=lambda c: (c["result"] == "ok", c["clinic"]))
    if state_path:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps(state, indent=2, sort_keys=True))
    return {
        "generated": now.isoformat(timespec="seconds"),
        "playbook": playbook,
        "check_mode": check_mode,
        "summary": {"clinics": len(clinics), "failed": sum(c["result"] != "ok" for c in clinics)},
        "clinics": clinics,
    }


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    return str(value)


def _expiring(accounts: list[dict]) -> list[str]:
    """'name (date, N d)', 'name (date, EXPIRED)' once the date has come."""
    return [f"{a['name']} ({a['expires']}, {a['days_left']} d)" if a["days_left"] > 0 else
            f"{a['name']} ({a['expires']}, EXPIRED)" for a in accounts]


def tls_days(host: dict) -> str | None:
    """Days to the certificate's expiry, and a failed ACME renewal beside them (from its first failure on, while the
    days left still look comfortable)."""
    days, renewal = host["tls_days_left"], host.get("tls_renewal") or {}
    if renewal.get("result") == "failed":
        return f"{'-' if days is None else days}, RENEWAL FAILED {renewal.get('date') or '?'}"
    return None if days is None else str(days)


def host_line(host: dict) -> dict:
    versions = host["versions"]
    age = host["cloudflared_age"]
    cloudflared = versions.get("cloudflared")
    if cloudflared and age:
        cloudflared += f" ({age['days']} d{'' if age['supported'] else ', UNSUPPORTED'})"
    return {
        "host": host["host"],
        "health": ("unreachable" if not host["reachable"] else
                   "ok" if host["healthy"] else
                   "FAILED: " + _cell(host["failed_checks"]) if host["healthy"] is False else "-"),
        "patch": host["patch"].get("outcome", "-"),
        "os": versions.get("os"),
        "nginx": versions.get("nginx"),
        "cloudflared": cloudflared,
        "wg tools": versions.get("wireguard_tools"),
        "gateway": versions.get("gateway"),
        "security updates": host["pending_security_updates"],
        "reboot pending": host["reboot_pending"],
        "tls days": tls_days(host),
        "peers expiring": _expiring(host["wireguard_peers_expiring"]),
        "accounts expiring": _expiring(host.get("gateway_accounts_expiring") or []),
        "restarts since last run": host["restarts_since_last_run"],
    }


CLINIC_COLUMNS = ("clinic", "result", "seconds", "changed", "failed", "drift", "last_successful_patch")


def table(report: dict) -> str:
    rows = [("clinic", "result", "time", "changed", "failed", "host", "health", "patch", "cloudflared",
             "sec. upd.", "reboot", "tls days", "expiring (14 d)")]
    for clinic in report["clinics"]:
        for index, host in enumerate(clinic["hosts"] or [{"host": "-", "versions": {}, "cloudflared_age": None,
                                                          "reachable": True, "healthy": None, "failed_checks": [],
                                                          "patch": {}, "pending_security_updates": None,
                                                          "reboot_pending": None, "tls_days_left": None,
                                                          "wireguard_peers_expiring": [],
                                                          "gateway_accounts_expiring": [],
                                                          "restarts_since_last_run": {}}]):
            line = host_line(host)
            head = ((clinic["clinic"], clinic["result"], f"{clinic['seconds'] or 0:.0f}s", str(clinic["changed"]),
                     str(clinic["failed"])) if index == 0 else ("", "", "", "", ""))
            fields = ("host", "health", "patch", "cloudflared", "security updates", "reboot pending", "tls days")
            soon = [f"peer {n}" for n in line["peers expiring"]] + [f"account {n}" for n in line["accounts expiring"]]
            rows.append(head + tuple(_cell(line[k]) for k in fields) + (_cell(soon),))
    widths = [min(40, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        # The last column (what expires soon) is never cut: a name half shown is no use.
        cells = [cell[:40].ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1]]
        out.append("  ".join(cells).rstrip())
    summary = report["summary"]
    out.append(f"{summary['clinics']} clinics, {summary['failed']} failed")
    return "\n".join(out)


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin-bottom:1.5rem;width:100%}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f0f0f0}
section{margin-bottom:2rem}
.result-ok h2{color:#17662e}
.result-bad h2{color:#a11}
.result-bad{border-left:6px solid #a11;padding-left:.8rem}
.result-ok{border-left:6px solid #17662e;padding-left:.8rem}
"""


def html_page(report: dict) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Fleet report: {esc(report['playbook'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>Fleet report: {esc(report['playbook'])}</h1>",
             f"<p id=\"summary\">{report['summary']['clinics']} clinics, {report['summary']['failed']} failed;"
             f" generated {esc(report['generated'])}"
             f"{'; check mode: nothing was changed' if report.get('check_mode') else ''}</p>"]
    for clinic in report["clinics"]:
        good = clinic["result"] == "ok"
        parts.append(f'<section class="clinic {"result-ok" if good else "result-bad"}" '
                     f'data-clinic="{esc(clinic["clinic"])}" data-result="{esc(clinic["result"])}">')
        parts.append(f"<h2>{esc(clinic['clinic'])}: {esc(clinic['result'])}</h2><table><tr>")
        parts.append("".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in CLINIC_COLUMNS[2:]))
        drift = clinic["drift"]
        drift_text = "-" if not drift else f"{drift['changed']} changes: " + "; ".join(drift["tasks"][:10])
        parts.append("</tr><tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in (
            f"{clinic['seconds'] or 0:.0f} s", clinic["changed"], clinic["failed"], drift_text,
            clinic["last_successful_patch"])) + "</tr></table>")
        if clinic["errors"]:
            parts.append("<ul class=\"errors\">" + "".join(f"<li>{esc(e)}</li>" for e in clinic["errors"]) + "</ul>")
        lines = [host_line(h) for h in clinic["hosts"]]
        if lines:
            keys = list(lines[0])
            parts.append("<table class=\"hosts\"><tr>" + "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr>")
            for line in lines:
                parts.append(f'<tr data-host="{esc(line["host"])}">'
                             + "".join(f'<td data-field="{esc(k)}">{esc(_cell(line[k]))}</td>' for k in keys)
                             + "</tr>")
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet-report.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    (out / "fleet-report.html").write_text(html_page(report))
