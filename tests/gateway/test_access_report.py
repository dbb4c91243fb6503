"""The monthly access report (plugins/module_utils/_access_report) over a real audit store: the gateway's own code
signs people in, fails and locks them out, asks for a purpose and an approval; ``oscar-gateway-admin report-export``
exports the month; the report's tables, HTML and CSV must say what happened, and a broken hash chain must show."""

import contextlib
import csv
import datetime
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from gwtest import PASSWORD, Client, csrf_of, enroll_totp, login, make_gateway, set_password
from oscar_gateway import admin, ingest
from oscar_gateway.store import Store
from test_cloudflare import ask, cf, claims, jwks, service_claims, sign  # noqa: F401 pylint: disable=unused-import

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_report import model, render

WIREGUARD_ADDRESS = "10.90.1.10"  # inside the tunnel network given as a WireGuard source below
HOME_ADDRESS = "198.51.100.9"
PEERS = [
    {"name": "dr-smith-laptop", "owner": "Dr. Ann Smith", "address": "10.90.1.10"},
    {"name": "locum-laptop", "owner": "Dr. Locum", "address": "10.90.1.12", "expires": None},  # date set per test
    {"name": "lost-tablet", "owner": "Front desk", "address": "10.90.1.13", "enabled": False},
]

PURPOSE = "=cmd|'/c calc'!A1<script>x</script> following up a privacy complaint"  # CSV and HTML injection


def this_month():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")


def first_of_next_month_plus(days):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return ((today.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
            + datetime.timedelta(days=days)).isoformat()


def export(gateway_dir, *args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert admin.main(["--config", str(gateway_dir / "config.json"), "report-export", *args]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """A month at a clinic, through the gateway's own front door and store."""
    tmp = tmp_path_factory.mktemp("report")
    gateway = make_gateway(tmp)
    for name in ("drsmith", "privacy", "reception"):
        set_password(gateway, name)
    # drsmith over WireGuard: signs in, gives a purpose, asks for the sensitive records and is approved by privacy.
    requester, approver = Client(gateway, ip=WIREGUARD_ADDRESS), Client(gateway, ip=HOME_ADDRESS)
    login(requester, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    login(approver, gateway, "privacy", enroll_totp(gateway, "privacy"))
    path = "/oscar/sensitive/chart.jsp"
    page = requester.get("/_gateway/justify", query="policy=sensitive&next=" + path)
    requester.post("/_gateway/justify", {"policy": "sensitive", "next": path, "csrf": csrf_of(page),
                                         "reason": PURPOSE})
    page = requester.get("/_gateway/approval", query="policy=sensitive&next=" + path)
    requester.post("/_gateway/approval", {"policy": "sensitive", "next": path, "csrf": csrf_of(page)})
    page = approver.get("/_gateway/approvals")
    request_id = gateway.store.one("SELECT id FROM approval_requests")[0]
    decision = {"request_id": request_id, "decision": "approve", "csrf": csrf_of(page)}
    assert "approved" in approver.post("/_gateway/approvals", decision).text
    assert requester.auth(path).status == 200
    # Reception is not an admin: OSCAR's administration pages are refused (a denial).
    reception = Client(gateway, ip="203.0.113.50")
    login(reception, gateway, "reception", enroll_totp(gateway, "reception"))
    assert reception.auth("/oscar/admin/users.jsp").status == 403
    # Someone guessing drsmith's password from abroad until the account is locked (3 failures in this config).
    for attempt in range(3):
        guesser = Client(gateway, ip="192.0.2.%d" % (77 + attempt))
        page = guesser.get("/_gateway/login", query="next=/oscar/")
        guesser.post("/_gateway/login", {"username": "drsmith", "password": "=HYPERLINK(\"x\")",
                                         "csrf": csrf_of(page)})
    # A typed-in user name no account has (a password typed in the wrong field, say): reported by its fingerprint.
    guesser = Client(gateway, ip="192.0.2.99")
    page = guesser.get("/_gateway/login", query="next=/oscar/")
    guesser.post("/_gateway/login", {"username": "Tulips-2026!", "password": PASSWORD,
                                     "csrf": csrf_of(page)})
    # A partner's system calls OSCAR's web services from its network, which a bypass policy lets in without a sign-in.
    for _call in range(2):
        assert Client(gateway, ip="203.0.113.20").auth("/oscar/ws/LoginService").status == 200
    # The locum's account was made long ago and never used.
    gateway.store.execute("UPDATE users SET created = ? WHERE username = 'locum'", (time.time() - 200 * 86400,))
    return gateway, tmp


def copy_of(clinic, dest):
    """The clinic's store and configuration copied (SQLite online backup) for a test that changes them."""
    gateway, tmp = clinic
    cfg = json.loads((tmp / "config.json").read_text())
    cfg["database"] = str(dest / "gateway.db")
    cfg["audit_jsonl"] = str(dest / "audit.jsonl")
    (dest / "config.json").write_text(json.dumps(cfg))
    source, target = sqlite3.connect(gateway.cfg["database"]), sqlite3.connect(cfg["database"])
    source.backup(target)
    source.close()
    target.close()
    return cfg["database"]


def build(data, peers=None, dormant_days=90):
    return model.build(data, "Lakeside Family Clinic", peers if peers is not None else PEERS, ["10.90.1.0/24"],
                       dormant_days)


def test_export_carries_no_secret(clinic):
    gateway, tmp = clinic
    text = json.dumps(export(tmp, "--period", this_month()))
    for column in ("password_hash", "totp_secret", "id_hash", "session_hash", "code_hash"):
        assert column not in text
    for secret in [r["password_hash"] for r in gateway.store.users() if r["password_hash"]] + \
            [r["id_hash"] for r in gateway.store.all("SELECT id_hash FROM sessions")]:
        assert secret not in text


def test_sessions_say_who_when_how_long_from_where_and_which_way(clinic):
    _gateway, tmp = clinic
    report = build(export(tmp, "--period", this_month()))
    sessions = {row["account"]: row for row in report["tables"]["sessions"]}
    assert set(sessions) == {"drsmith", "privacy", "reception", "(no identity)"}
    bypass = sessions["(no identity)"]
    assert (bypass["way_in"], bypass["address"], bypass["requests"]) == (
        model.WAY_BYPASS, "203.0.113.20", "at least 1")
    assert sessions["drsmith"]["way_in"] == model.WAY_WIREGUARD and sessions["drsmith"]["address"] == WIREGUARD_ADDRESS
    assert sessions["privacy"]["way_in"] == model.WAY_GATEWAY and sessions["privacy"]["address"] == HOME_ADDRESS
    assert sessions["drsmith"]["person"] == "Dr. Ann Smith" and sessions["drsmith"]["mfa"] == "yes"
    assert sessions["drsmith"]["start"].startswith(this_month()) and sessions["drsmith"]["minutes"] >= 0
    assert sessions["drsmith"]["ended"] == "still open"


def test_purposes_approvals_denials_and_failed_sign_ins(clinic):
    _gateway, tmp = clinic
    tables = build(export(tmp, "--period", this_month()))["tables"]
    assert [(r["account"], r["policy"], r["purpose"]) for r in tables["justifications"]] == [
        ("drsmith", "sensitive", PURPOSE)]
    (approval,) = tables["approvals"]
    assert approval["account"] == "drsmith" and approval["status"] == "approved"
    assert approval["decided_by"].startswith("privacy approve (")
    assert [(r["account"], r["path"], r["policy"]) for r in tables["denials"]] == [
        ("reception", "/oscar/admin/users.jsp", "admin-pages")]
    failed = tables["failed_signins"]
    assert [r["event"] for r in failed if r["account"] == "drsmith"] == ["login_failed"] * 3 + ["lockout"]
    assert {r["address"] for r in failed if r["account"] == "drsmith"} >= {"192.0.2.77", "192.0.2.79"}
    lockout = next(r for r in failed if r["event"] == "lockout")
    assert lockout["reason"].startswith("account banned for")


def test_dormant_and_expiring_accounts_and_peers(clinic):
    _gateway, tmp = clinic
    peers = [dict(p) for p in PEERS]
    peers[1]["expires"] = first_of_next_month_plus(3)
    peers.append({"name": "later-laptop", "owner": "X", "address": "10.90.1.14",
                  "expires": first_of_next_month_plus(40)})
    tables = build(export(tmp, "--period", this_month()), peers)["tables"]
    dormant = {(r["kind"], r["name"]): r for r in tables["dormant"]}
    assert ("gateway account", "locum") in dormant and dormant[("gateway account", "locum")]["last_used"] == "never"
    assert dormant[("gateway account", "locum")]["days_unused"] >= 200
    assert ("gateway account", "drsmith") not in dormant  # signed in this month
    assert ("gateway account", "gone") not in dormant  # disabled accounts are not dormant, they are off
    # No handshake recorded yet for any peer; the disabled one is not listed.
    assert {n for k, n in dormant if k == "WireGuard peer"} == {"dr-smith-laptop", "locum-laptop", "later-laptop"}
    assert [(r["name"], r["expires"]) for r in tables["expiring"]] == [("locum-laptop", first_of_next_month_plus(3))]


def test_gateway_accounts_expiring_next_month(clinic, tmp_path):
    """An account's expiry date (gateway_users[].expires, the first day it no longer works) next month is listed; a
    later one, or one of a disabled account, is not."""
    copy_of(clinic, tmp_path)
    conn = sqlite3.connect(str(tmp_path / "gateway.db"))
    for name, days in (("reception", 4), ("privacy", 40), ("gone", 2)):
        conn.execute("UPDATE users SET expires = ? WHERE username = ?", (first_of_next_month_plus(days), name))
    conn.commit()
    conn.close()
    tables = build(export(tmp_path, "--period", this_month()))["tables"]
    assert [(r["kind"], r["name"], r["expires"]) for r in tables["expiring"]] == [
        ("gateway account", "reception", first_of_next_month_plus(4))]


def test_a_recorded_handshake_makes_a_peer_active(clinic, tmp_path):
    """The handshake as the gateway's WireGuard ingest records it (the event name and detail the report reads)."""
    copy_of(clinic, tmp_path)
    copied = Store(str(tmp_path / "gateway.db"))
    key = "A" * 43 + "="
    look = ("[latest-handshakes]\n%s\t%d\n[endpoints]\n%s\t203.0.113.8:51820\n[peers]\n%s\n"
            % (key, int(time.time()) - 60, key, json.dumps([{"name": "dr-smith-laptop", "public_key": key}])))
    items, _seen = ingest.wireguard_items(ingest.parse_wireguard(look), {}, "wg0")
    assert copied.append_external(items) == (1, 0)
    tables = build(export(tmp_path, "--period", this_month()))["tables"]
    assert "dr-smith-laptop" not in {r["name"] for r in tables["dormant"]}
    assert [(r["peer"], r["endpoint"]) for r in tables["handshakes"]] == [("dr-smith-laptop", "203.0.113.8:51820")]


def test_another_month_is_empty_and_intact(clinic):
    _gateway, tmp = clinic
    report = build(export(tmp, "--period", "2020-02"))
    assert report["meta"]["since"] == "2020-02-01 00:00:00" and report["meta"]["until"] == "2020-03-01 00:00:00"
    assert all(not report["tables"][n] for n in ("sessions", "justifications", "approvals", "denials",
                                                 "failed_signins"))
    assert report["tables"]["chain"][0]["intact"] == "yes"


def test_html_and_csv_are_escaped_and_self_contained(clinic):
    _gateway, tmp = clinic
    report = build(export(tmp, "--period", this_month()))
    page = render.to_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page
    rows = list(csv.reader(io.StringIO(render.to_csv("justifications", report["tables"]["justifications"]))))
    assert rows[0] == list(model.COLUMNS["justifications"])
    typed = [r for r in rows if "cmd|" in r[5]]
    assert typed and all(r[5].startswith("'=") for r in typed)
    # The name typed by the guesser is in neither form, only its keyed fingerprint.
    rows = list(csv.reader(io.StringIO(render.to_csv("failed_signins", report["tables"]["failed_signins"]))))
    assert "tulips" not in page.lower() and not [r for r in rows if "tulips" in ",".join(r).lower()]
    assert [r[2] for r in rows if r[2].startswith("unknown:")]


def test_a_broken_chain_names_the_first_broken_record(clinic, tmp_path):
    # What someone with the file could do: drop the append-only trigger and rewrite who a record names.
    conn = sqlite3.connect(copy_of(clinic, tmp_path))
    target = conn.execute("SELECT id, time, event FROM audit WHERE event = 'approval_granted'").fetchone()
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET username = 'someone-else' WHERE id = ?", (target[0],))
    conn.commit()
    conn.close()
    report = build(export(tmp_path, "--period", this_month()))
    (chain,) = report["tables"]["chain"]
    assert chain["intact"] == "NO" and chain["first_broken_id"] == target[0]
    assert chain["first_broken_event"] == "approval_granted" and chain["first_broken_time"] == model.iso(target[1])
    assert not report["meta"]["chain_intact"] and "BROKEN" in render.to_html(report)


def test_bad_input_is_named():
    with pytest.raises(model.ReportError, match="format"):
        model.build({"format": 99}, "x")
    data = {"format": 1}
    with pytest.raises(model.ReportError, match="dormant_days"):
        model.build(data, "x", dormant_days=0)
    with pytest.raises(SystemExit, match="2026-13"):
        admin.month_bounds("2026-13")
    assert admin.month_bounds("2026-12") == (
        datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc).timestamp(),
        datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc).timestamp())


def test_cloudflare_mode_visits_by_way_in(cf):  # noqa: F811 - the fixture imported above
    """In Cloudflare mode the report's sessions are runs of page loads the gateway let through for a person signed in at
    Cloudflare Access, and the requests a service token or an IP-bypass policy let in (recorded once a window, so a
    polling integration is one row, its requests a lower bound)."""
    page = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    for _load in range(2):  # two page loads, one visit
        assert ask(cf, sign(claims()), ip="198.51.100.7", **page).status == 200
    for _poll in range(3):  # an integration polling: one record, one row
        assert ask(cf, sign(service_claims()), path="/oscar/lab/newLabUpload.do", ip="198.51.100.8").status == 200
    assert ask(cf, None, path="/oscar/ws/LoginService", ip="203.0.113.9", **page).status == 200
    data = export(Path(cf.cfg["database"]).parent, "--period", this_month())
    assert data["mode"] == "cloudflare"
    report = build(data)
    rows = {row["way_in"]: row for row in report["tables"]["sessions"]}
    assert sorted(rows) == sorted([model.WAY_CLOUDFLARE, model.WAY_SERVICE_TOKEN, model.WAY_BYPASS])
    person = rows[model.WAY_CLOUDFLARE]
    assert (person["account"], person["person"], person["address"], person["requests"]) == (
        "drsmith", "", "198.51.100.7", 2)
    service = rows[model.WAY_SERVICE_TOKEN]
    assert (service["account"], service["address"], service["requests"], service["ended"]) == (
        "service:abc123.access", "198.51.100.8", "at least 1", "recorded once per 5.0 min")
    bypass = rows[model.WAY_BYPASS]
    assert (bypass["account"], bypass["address"]) == ("(no identity)", "203.0.113.9")
    page_html = render.to_html(report)
    assert "service:abc123.access" in page_html and "IP bypass" in page_html
    assert "not recorded by the gateway" not in page_html
    assert "service token" in render.to_csv("sessions", report["tables"]["sessions"])
