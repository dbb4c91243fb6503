# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report's tables, from the gateway's export and the clinic's inventory. Pure functions: no I/O.

Every table is a list of rows with the columns of ``COLUMNS``; times are UTC (ISO 8601), durations in minutes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

EXPORT_FORMAT = 1

# Audit events as the gateway writes them (roles/gateway/files/oscar_gateway), by what the report does with them.
FAILED_SIGNIN_EVENTS = ("login_failed", "mfa_failed", "login_refused_locked", "mfa_replay_refused",
                        "mfa_enroll_failed", "lockout")
DENIAL_EVENTS = ("denied", "csrf_rejected", "approval_self_refused", "approval_not_approver", "session_too_old")
# Recorded by the gateway's WireGuard ingest (roles/gateway/files/oscar_gateway/ingest.py, the same name there):
# detail.peer (the peer's name) and detail.endpoint (its address).
WIREGUARD_HANDSHAKE_EVENT = "wireguard_handshake"

WAY_GATEWAY = "gateway login"
WAY_WIREGUARD = "WireGuard"
WAY_CLOUDFLARE = "Cloudflare"
WAY_BYPASS = "IP bypass"
WAY_SERVICE_TOKEN = "service token"  # noqa: S105 - a label, not a secret
# Requests let in without a person, recorded by the gateway once a window (roles/gateway/files/oscar_gateway/
# decision_endpoint.py, SERVICE_TOKEN_EVENT and BYPASS_EVENT there), by the way in the report names.
UNATTENDED_EVENTS = {"access_service_token": WAY_SERVICE_TOKEN, "access_bypass": WAY_BYPASS}

COLUMNS = {
    "sessions": ("person", "account", "start", "end", "minutes", "address", "way_in", "mfa", "requests", "ended"),
    "justifications": ("time", "account", "address", "policy", "path", "purpose"),
    "approvals": ("request", "requested", "account", "policy", "path", "reason", "status", "decided", "decided_by"),
    "denials": ("time", "event", "account", "address", "method", "path", "policy", "reason"),
    "failed_signins": ("time", "event", "account", "address", "reason"),
    "handshakes": ("time", "peer", "endpoint"),
    "dormant": ("kind", "name", "owner", "last_used", "days_unused"),
    "expiring": ("kind", "name", "owner", "expires"),
    "chain": ("records_checked", "intact", "first_broken_id", "first_broken_time", "first_broken_event"),
}

TITLES = {
    "sessions": "Remote sessions",
    "justifications": "Purpose justifications",
    "approvals": "Approval requests and who decided them",
    "denials": "Denials",
    "failed_signins": "Failed sign-ins and lockouts",
    "handshakes": "WireGuard handshakes",
    "dormant": "Dormant accounts and peers (to remove)",
    "expiring": "Accounts and WireGuard peers expiring next month",
    "chain": "Audit hash chain",
}


class ReportError(ValueError):
    pass


def iso(when):
    """A POSIX time as UTC ISO 8601 to the second; '' for none."""
    if when is None or when == "":
        return ""
    return datetime.datetime.fromtimestamp(float(when), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _minutes(start, end):
    return round(max(0.0, float(end) - float(start)) / 60.0, 1)


def _networks(sources):
    networks = []
    for source in sources or ():
        try:
            networks.append(ipaddress.ip_network(str(source), strict=False))
        except ValueError as exc:
            raise ReportError("wireguard_sources: %r is not an address or network" % (source,)) from exc
    return networks


def _in(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def _people(export):
    return {u["username"]: u["display_name"] for u in export.get("users", ())}


def _gateway_sessions(export, wireguard):
    """Standalone mode: the gateway's own sign-ins, each a session row; WireGuard when the sign-in came through it."""
    people = _people(export)
    rows = []
    for s in export["sessions"]:
        end = s["revoked_at"] if s["revoked_at"] is not None else min(s["last_activity"], s["expires"])
        way = WAY_WIREGUARD if _in(s["login_ip"], wireguard) else WAY_GATEWAY
        rows.append({"person": people.get(s["username"], ""), "account": s["username"], "start": iso(s["created"]),
                     "end": iso(end), "minutes": _minutes(s["created"], end), "address": s["login_ip"],
                     "way_in": way, "mfa": "yes" if s["mfa"] else "no", "requests": "",
                     "ended": s["revoked_reason"] or ("still open" if s["revoked_at"] is None
                                                      and s["expires"] > export["generated"] else "timed out"),
                     "_start": s["created"]})
    return rows


def _visits(export, events):
    """Runs of one account's requests from one address by one way in, with no gap longer than the session inactivity
    timeout (plus the recording window of the unattended ways, which record one request per window)."""
    people = _people(export)
    by_email = {u["email"]: u["display_name"] for u in export.get("users", ()) if u.get("email")}
    open_visits = {}
    rows = []
    for record in export["audit"]:
        way = events.get(record["event"])
        if way is None:
            continue
        if way == WAY_CLOUDFLARE and record["username"].startswith("service:"):
            way = WAY_SERVICE_TOKEN  # written before the gateway had its own event for service tokens
        window = record["detail"].get("window_seconds") or 0
        account = record["username"]
        key = (way, account, record["ip"])
        visit = open_visits.get(key)
        if visit is not None and record["time"] - visit["_last"] <= export["inactivity_seconds"] + window:
            visit["_last"] = record["time"]
            visit["requests"] += 1
            continue
        visit = {"person": people.get(account) or by_email.get(account, ""), "account": account or "(no identity)",
                 "address": record["ip"], "way_in": way, "mfa": "", "requests": 1, "ended": "",
                 "_start": record["time"], "_last": record["time"], "_window": window}
        open_visits[key] = visit
        rows.append(visit)
    for visit in rows:
        visit.update(start=iso(visit["_start"]), end=iso(visit["_last"]), minutes=_minutes(visit["_start"],
                                                                                           visit["_last"]))
        if visit["_window"]:
            # One record per window: at least that many requests, and the use may have gone on a window past the end.
            visit.update(requests="at least %d" % visit["requests"],
                         ended="recorded once per %s min" % round(visit["_window"] / 60.0, 1))
    return rows


def sessions(export, wireguard_sources=()):
    """Cloudflare mode: the gateway sees each page load Cloudflare let through for a person (``access``); standalone
    mode: the gateway's own sign-ins. In both, the requests a service token or a bypass policy let in."""
    if export["mode"] == "cloudflare":
        rows = _visits(export, dict(UNATTENDED_EVENTS, access=WAY_CLOUDFLARE))
    else:
        rows = _gateway_sessions(export, _networks(wireguard_sources)) + _visits(export, UNATTENDED_EVENTS)
    rows.sort(key=lambda r: (r["_start"], r["account"]))
    return rows


def justifications(export):
    return [{"time": iso(r["time"]), "account": r["username"], "address": r["ip"], "policy": r["policy"],
             "path": r["path"], "purpose": r["detail"].get("text", "")}
            for r in export["audit"] if r["event"] == "justification"]


def approvals(export):
    rows = []
    for req in export["approvals"]:
        votes = sorted(req["votes"], key=lambda v: v["time"])
        decided_by = "; ".join("%s %s (%s)" % (v["approver"], v["decision"], iso(v["time"])) for v in votes)
        rows.append({"request": req["id"], "requested": iso(req["created"]), "account": req["username"],
                     "policy": req["policy"], "path": req["path"], "reason": req["reason"], "status": req["status"],
                     "decided": iso(req["decided_at"]), "decided_by": decided_by})
    return rows


def denials(export):
    return [{"time": iso(r["time"]), "event": r["event"], "account": r["username"], "address": r["ip"],
             "method": r["method"], "path": r["path"], "policy": r["policy"], "reason": r["detail"].get("reason", "")}
            for r in export["audit"] if r["event"] in DENIAL_EVENTS]


def failed_signins(export):
    rows = []
    for r in export["audit"]:
        if r["event"] not in FAILED_SIGNIN_EVENTS:
            continue
        detail = r["detail"]
        if r["event"] == "lockout":
            reason = "%s banned for %s s" % ("account" if detail.get("key") == "user" else "address",
                                             detail.get("seconds", "?"))
        else:
            reason = detail.get("reason") or (("locked (%s)" % detail["key"]) if detail.get("key") else "")
        rows.append({"time": iso(r["time"]), "event": r["event"], "account": r["username"], "address": r["ip"],
                     "reason": reason})
    return rows


def handshakes(export):
    return [{"time": iso(r["time"]), "peer": r["detail"].get("peer", ""), "endpoint": r["detail"].get("endpoint", "")}
            for r in export["audit"] if r["event"] == WIREGUARD_HANDSHAKE_EVENT]


def _days(since, until):
    return int((until - since) // 86400)


def dormant(export, peers, dormant_days):
    """Enabled accounts and peers with no use in the last ``dormant_days`` days before the report period's end; one
    never used counts from when it was created (accounts) or is listed as never used (peers)."""
    horizon = export["until"] - dormant_days * 86400
    rows = []
    for user in export["users"]:
        if not user["enabled"]:
            continue
        last = export["last_activity"].get(user["username"])
        reference = last if last is not None else user["created"]
        if reference < horizon:
            rows.append({"kind": "gateway account", "name": user["username"], "owner": user["display_name"],
                         "last_used": iso(last) or "never", "days_unused": _days(reference, export["until"])})
    for peer in peers:
        if not peer.get("enabled", True):
            continue
        last = export["peer_last_handshake"].get(peer["name"])
        if last is None or last < horizon:
            rows.append({"kind": "WireGuard peer", "name": peer["name"], "owner": peer.get("owner", ""),
                         "last_used": iso(last) or "never recorded",
                         "days_unused": _days(last, export["until"]) if last is not None else ""})
    return rows


def _next_month(until):
    """[start, end) dates of the calendar month after the report period (which ends at ``until``)."""
    start = datetime.datetime.fromtimestamp(until, datetime.timezone.utc).date()
    end = (start.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    return start, end


def _expiry_day(kind, name, when):
    try:
        return datetime.date.fromisoformat(str(when))
    except ValueError as exc:
        raise ReportError("%s %s: expires %r is not a date like 2027-03-31" % (kind, name, when)) from exc


def expiring(export, peers):
    """Enabled gateway accounts and peers whose ``expires`` date (the first day they no longer work) falls in the
    month after the period."""
    start, end = _next_month(export["until"])
    rows = []
    for user in export["users"]:
        if user["enabled"] and user.get("expires"):
            day = _expiry_day("gateway account", user["username"], user["expires"])
            if start <= day < end:
                rows.append({"kind": "gateway account", "name": user["username"], "owner": user["display_name"],
                             "expires": day.isoformat()})
    for peer in peers:
        when = peer.get("expires")
        if not when or not peer.get("enabled", True):
            continue
        day = _expiry_day("WireGuard peer", peer["name"], when)
        if start <= day < end:
            rows.append({"kind": "WireGuard peer", "name": peer["name"], "owner": peer.get("owner", ""),
                         "expires": day.isoformat()})
    return rows


def chain(export):
    result = export["chain"]
    broken = result.get("first_broken") or {}
    return [{"records_checked": result["checked"], "intact": "yes" if result["first_broken_id"] is None else "NO",
             "first_broken_id": "" if result["first_broken_id"] is None else result["first_broken_id"],
             "first_broken_time": iso(broken.get("time")), "first_broken_event": broken.get("event", "")}]


def build(export, clinic, peers=(), wireguard_sources=(), dormant_days=90):
    """The whole report as {"meta": {...}, "tables": {name: rows}}; rows keep only the columns of ``COLUMNS``."""
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise ReportError("the gateway's export is not format %d (is the gateway role up to date on this host?)"
                          % EXPORT_FORMAT)
    if int(dormant_days) < 1:
        raise ReportError("dormant_days: %r must be at least 1" % (dormant_days,))
    tables = {
        "sessions": sessions(export, wireguard_sources),
        "justifications": justifications(export),
        "approvals": approvals(export),
        "denials": denials(export),
        "failed_signins": failed_signins(export),
        "handshakes": handshakes(export),
        "dormant": dormant(export, list(peers), int(dormant_days)),
        "expiring": expiring(export, list(peers)),
        "chain": chain(export),
    }
    tables = {name: [{c: row.get(c, "") for c in COLUMNS[name]} for row in rows] for name, rows in tables.items()}
    start = datetime.datetime.fromtimestamp(export["since"], datetime.timezone.utc)
    meta = {"clinic": clinic or export.get("clinic_name", ""), "period": start.strftime("%Y-%m"),
            "since": iso(export["since"]), "until": iso(export["until"]), "generated": iso(export["generated"]),
            "mode": export["mode"], "dormant_days": int(dormant_days),
            "chain_intact": export["chain"]["first_broken_id"] is None, "records_in_period": len(export["audit"])}
    return {"meta": meta, "tables": tables}
