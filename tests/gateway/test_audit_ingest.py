"""Cloudflare Access logs and WireGuard handshakes appended to the gateway's audit chain (issue 16: keep
everything, in one place per clinic), through the admin command and the store, on a real SQLite file."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from gwtest import GATEWAY_FILES, run_admin
from oscar_gateway import ingest, store

KEY_A = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_B = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="


def _cloudflare(ray_id, when="2026-11-30T08:00:00Z", allowed=True, email="Dr.Lee@clinic.example"):
    return {"ray_id": ray_id, "created_at": when, "user_email": email, "ip_address": "198.51.100.7",
            "allowed": allowed, "action": "login", "app_domain": "oscar.clinic.example", "app_uid": "u1",
            "connection": "onetimepin"}


def _ingest_cloudflare(gateway, tmp_path, records):
    code, out = run_admin(gateway, tmp_path, "ingest", "cloudflare", stdin=json.dumps(records))
    return code, json.loads(out)


def test_cloudflare_records_join_the_chain_once_each(gateway, tmp_path):
    gateway.store.audit("login", username="drsmith")
    first = [_cloudflare("8a1b2c3d4e5f0001"), _cloudflare("8a1b2c3d4e5f0002", "2026-11-30T08:05:00Z", False)]
    assert _ingest_cloudflare(gateway, tmp_path, first) == (0, {"added": 2, "duplicates": 0, "refused": []})
    gateway.store.audit("logout", username="drsmith")
    # The next pull overlaps the previous one: what is already held is skipped.
    again = [*first, _cloudflare("8a1b2c3d4e5f0003", "2026-11-30T09:00:00Z")]
    assert _ingest_cloudflare(gateway, tmp_path, again) == (0, {"added": 1, "duplicates": 2, "refused": []})

    rows = gateway.store.all("SELECT * FROM audit WHERE source_key IS NOT NULL ORDER BY id")
    assert [r["source_key"] for r in rows] == ["cloudflare:8a1b2c3d4e5f0001", "cloudflare:8a1b2c3d4e5f0002",
                                               "cloudflare:8a1b2c3d4e5f0003"]
    assert [r["event"] for r in rows] == ["cloudflare_login", "cloudflare_login_denied", "cloudflare_login"]
    assert rows[0]["username"] == "dr.lee@clinic.example" and rows[0]["ip"] == "198.51.100.7"
    assert rows[1]["time"] == 1796025900.0  # when it happened at Cloudflare, not when it was pulled
    assert json.loads(rows[1]["detail"])["ray_id"] == "8a1b2c3d4e5f0002"
    assert gateway.store.verify_audit_chain() == (gateway.store.one("SELECT COUNT(*) FROM audit")[0], None)
    code, out = run_admin(gateway, tmp_path, "audit", "--verify")
    assert code == 0 and "intact" in out
    # Each record went to the JSON-lines file too (what the off-box copy reads), with its place in the chain.
    lines = [json.loads(line) for line in open(gateway.cfg["audit_jsonl"])]
    assert [line["detail"].get("ray_id") for line in lines if line["event"].startswith("cloudflare")] == [
        "8a1b2c3d4e5f0001", "8a1b2c3d4e5f0002", "8a1b2c3d4e5f0003"]
    assert [line["chain"] for line in lines] == [r["chain"] for r in gateway.store.audit_rows()]
    # The next pull starts from the newest record held.
    code, out = run_admin(gateway, tmp_path, "ingest", "cloudflare", "--cursor")
    assert json.loads(out) == {"latest": "2026-11-30T09:00:00+00:00", "next_since": "2026-11-30T08:00:00+00:00"}


def test_cursor_without_records_and_refused_records(gateway, tmp_path):
    code, out = run_admin(gateway, tmp_path, "ingest", "cloudflare", "--cursor")
    assert (code, json.loads(out)) == (0, {"latest": None, "next_since": None})
    code, report = _ingest_cloudflare(gateway, tmp_path, [
        _cloudflare("ok01"), _cloudflare("bad ray id"), _cloudflare("ok02", when="2026-11-30T08:00:00"), "x"])
    assert code == 1 and report["added"] == 1
    assert [r["index"] for r in report["refused"]] == [1, 2, 3]
    with pytest.raises(SystemExit, match="expected a JSON list"):
        run_admin(gateway, tmp_path, "ingest", "cloudflare", stdin='{"records": []}')


def test_a_tampered_external_record_is_found(gateway, tmp_path):
    _ingest_cloudflare(gateway, tmp_path, [_cloudflare("aa01"), _cloudflare("aa02"), _cloudflare("aa03")])
    gateway.store.audit("login", username="drsmith")
    conn = sqlite3.connect(gateway.cfg["database"])
    conn.execute("DROP TRIGGER audit_no_update")  # what someone with the file could do
    conn.execute("UPDATE audit SET username = 'someone.else@clinic.example' WHERE source_key = 'cloudflare:aa02'")
    conn.commit()
    bad_id = conn.execute("SELECT id FROM audit WHERE source_key = 'cloudflare:aa02'").fetchone()[0]
    assert gateway.store.verify_audit_chain()[1] == bad_id
    code, out = run_admin(gateway, tmp_path, "audit", "--verify")
    assert code == 1 and "BROKEN at row %d" % bad_id in out


def test_an_edited_source_key_is_found_even_with_the_chained_fields_untouched(gateway, tmp_path):
    _ingest_cloudflare(gateway, tmp_path, [_cloudflare("bb01"), _cloudflare("bb02")])
    conn = sqlite3.connect(gateway.cfg["database"])
    conn.execute("DROP TRIGGER audit_no_update")
    # Re-keying a record would let the real one be ingested "again" beside it.
    conn.execute("UPDATE audit SET source_key = 'cloudflare:bb99' WHERE source_key = 'cloudflare:bb01'")
    conn.commit()
    bad_id = conn.execute("SELECT id FROM audit WHERE source_key = 'cloudflare:bb99'").fetchone()[0]
    assert gateway.store.verify_audit_chain()[1] == bad_id


def test_migration_adding_source_keys_keeps_the_chain(tmp_path):
    """From schema v2 (before account expiry, v3, and the source keys, v4) to today's: the old chain still verifies
    and an external record joins it."""
    path = str(tmp_path / "old.db")
    store.migrate(path, target=2)
    conn = sqlite3.connect(path)
    previous = ""
    for n in range(3):
        record = {"time": 1.0 + n, "event": "e%d" % n, "username": "u", "ip": "", "method": "", "path": "",
                  "policy": "", "detail": "{}"}
        previous = store._chain(previous, record)
        conn.execute("INSERT INTO audit (time, event, username, ip, method, path, policy, detail, chain)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (*record.values(), previous))
    conn.commit()
    conn.close()
    upgraded = store.Store(path)
    assert upgraded.schema_version() == store.SCHEMA_VERSION >= 4
    assert upgraded.append_external([{"source_key": "cloudflare:cc01", "time": 5.0, "event": "cloudflare_login"}]) \
        == (1, 0)
    assert upgraded.verify_audit_chain() == (4, None)
    assert list((tmp_path).glob("old.db.bak-v2-*"))


# -- WireGuard ---------------------------------------------------------------------------------------------------

PEERS = json.dumps([{"name": "dr-lee-laptop", "owner": "dr.lee", "public_key": KEY_A, "preshared_key": True},
                    {"name": "front-desk", "owner": "", "public_key": KEY_B, "preshared_key": True}])


def _wg(handshake_a, endpoint_a, handshake_b=0, endpoint_b="(none)"):
    return ("[latest-handshakes]\n%s\t%d\n%s\t%d\n[endpoints]\n%s\t%s\n%s\t%s\n[peers]\n%s\n"
            % (KEY_A, handshake_a, KEY_B, handshake_b, KEY_A, endpoint_a, KEY_B, endpoint_b, PEERS))


def test_parser_reads_wg_show_output_and_the_peer_list():
    peers = ingest.parse_wireguard(_wg(1796025600, "203.0.113.9:51820", 0, "(none)"))
    assert peers == {
        KEY_A: {"handshake": 1796025600, "endpoint": "203.0.113.9:51820", "name": "dr-lee-laptop", "owner": "dr.lee"},
        KEY_B: {"handshake": 0, "endpoint": "", "name": "front-desk", "owner": ""}}
    assert ingest.endpoint_address("[2001:db8::7]:40000") == "2001:db8::7"
    # The dump (with the private and preshared keys) is refused, not parsed.
    dump = "[latest-handshakes]\nPRIVATEKEYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\t%s\t51820\toff\n" % KEY_A
    with pytest.raises(ingest.IngestError, match="latest-handshakes"):
        ingest.parse_wireguard(dump)
    with pytest.raises(ingest.IngestError, match="first section"):
        ingest.parse_wireguard("%s\t1\n" % KEY_A)


def test_a_handshake_that_starts_a_connection_is_recorded_once(gateway, tmp_path):
    def look(text):
        code, out = run_admin(gateway, tmp_path, "ingest", "wireguard", "--interface", "wg0", stdin=text)
        assert code == 0
        return json.loads(out)["added"]

    t0 = 1796025600
    assert look(_wg(t0, "203.0.113.9:51820")) == 1        # the first handshake: connected
    assert look(_wg(t0, "203.0.113.9:51820")) == 0        # nothing new
    assert look(_wg(t0 + 120, "203.0.113.9:51820")) == 0  # a rekey of the same connection
    assert look(_wg(t0 + 240, "198.51.100.20:4444")) == 1  # roamed to another address
    assert look(_wg(t0 + 3600, "198.51.100.20:4444", t0 + 3500, "192.0.2.5:51820")) == 2  # back after a pause; B

    rows = gateway.store.all("SELECT * FROM audit WHERE event = 'wireguard_handshake' ORDER BY id")
    assert [(r["username"], r["ip"], r["time"]) for r in rows] == [
        ("dr-lee-laptop", "203.0.113.9", t0), ("dr-lee-laptop", "198.51.100.20", t0 + 240),
        ("front-desk", "192.0.2.5", t0 + 3500), ("dr-lee-laptop", "198.51.100.20", t0 + 3600)]
    assert [json.loads(r["detail"])["reason"] for r in rows] == ["first", "new address", "first", "after a pause"]
    assert gateway.store.verify_audit_chain()[1] is None
    assert sorted(json.loads(rows[0]["detail"])) == [
        "endpoint", "interface", "owner", "peer", "public_key", "reason", "source", "source_key"]
    # Forgetting what was seen (a lost state row) cannot store a handshake twice.
    gateway.store.execute("DELETE FROM wireguard_peers_seen")
    assert look(_wg(t0 + 3600, "198.51.100.20:4444", t0 + 3500, "192.0.2.5:51820")) == 0


def _timer_script_setup(tmp_path):
    """The wireguard role's timer script with a stand-in for `wg` (no WireGuard interface here; the parser is held to
    real `wg show` output above) whose handshake time comes from $FAKE_HANDSHAKE, and the real admin command."""
    conf = tmp_path / "wireguard"
    conf.mkdir()
    (conf / "wg0.peers.json").write_text(PEERS)
    (conf / "wg9.peers.json").write_text("[]")  # an interface that is down: skipped
    wg = tmp_path / "wg"
    wg.write_text("#!/bin/sh\n# stand-in for wg(8): canned `wg show wg0 ...` output\n"
                  "[ \"$2\" = wg0 ] || { echo 'Unable to access interface: No such device' >&2; exit 1; }\n"
                  "case \"$3\" in\n"
                  "latest-handshakes) printf '%s\\t%s\\n%s\\t0\\n' {a} \"$FAKE_HANDSHAKE\" {b} ;;\n"
                  "endpoints) printf '%s\\t203.0.113.9:51820\\n%s\\t(none)\\n' {a} {b} ;;\n"
                  "*) echo \"refused: $3\" >&2; exit 2 ;;\n"
                  "esac\n".replace("{a}", KEY_A).replace("{b}", KEY_B))
    admin = tmp_path / "admin"
    admin.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m oscar_gateway.admin --config %s \"$@\"\n"
                     % (GATEWAY_FILES, sys.executable, tmp_path / "config.json"))
    for path in (wg, admin):
        path.chmod(0o700)
    env = dict(os.environ, OSCAR_WG=str(wg), OSCAR_GATEWAY_ADMIN=str(admin), OSCAR_WG_CONF_DIR=str(conf),
               OSCAR_WG_SPOOL_DIR=str(tmp_path / "spool"))
    return env, admin


def _timer_script(env, handshake):
    script = GATEWAY_FILES.parent.parent / "wireguard" / "files" / "oscar-wireguard-handshakes"
    proc = subprocess.run(["/bin/sh", str(script)], env=dict(env, FAKE_HANDSHAKE=str(handshake)), capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_timer_script_feeds_wg_show_and_the_peer_list_to_the_store(gateway, tmp_path):
    env, _admin = _timer_script_setup(tmp_path)
    assert '"added": 1' in _timer_script(env, 1796025600)
    assert '"added": 0' in _timer_script(env, 1796025600)
    rows = gateway.store.all("SELECT * FROM audit WHERE event = 'wireguard_handshake'")
    assert [(r["username"], r["ip"], r["time"]) for r in rows] == [("dr-lee-laptop", "203.0.113.9", 1796025600)]


def test_a_server_without_the_gateway_spools_its_looks_and_the_gateway_replays_them(gateway, tmp_path):
    env, admin = _timer_script_setup(tmp_path)
    env["OSCAR_GATEWAY_ADMIN"] = str(tmp_path / "no-gateway-here")
    t0 = 1796025600
    for handshake in (t0, t0, t0 + 120, t0 + 3600):  # a look, the same again (not spooled), a rekey, a return
        assert _timer_script(env, handshake) == ""
    spool = (tmp_path / "spool" / "wg0.spool").read_text()
    assert spool.count("[look]") == 3 and oct((tmp_path / "spool" / "wg0.spool").stat().st_mode & 0o777) == "0o600"
    proc = subprocess.run([str(admin), "ingest", "wireguard", "--interface", "wg0"], input=spool, text=True,
                          capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["looks"] == 3, proc.stdout + proc.stderr
    rows = gateway.store.all("SELECT * FROM audit WHERE event = 'wireguard_handshake' ORDER BY id")
    assert [(r["time"], json.loads(r["detail"])["reason"]) for r in rows] == [
        (t0, "first"), (t0 + 3600, "after a pause")]


# -- the copy shipped off the host ---------------------------------------------------------------------------------


def test_the_shipped_lines_carry_no_typed_text_and_verify_against_the_chain(gateway, tmp_path):
    gateway.store.audit("justification", username="drsmith", path="/oscar/demographic/x.jsp?demographic_no=4711",
                        policy="charts", text="Follow-up for Jane Doe, DOB 1970-01-01")
    gateway.store.audit("approval_requested", username="drsmith", policy="charts", request_id=1,
                        reason="Jane Doe's lab results")
    _ingest_cloudflare(gateway, tmp_path, [_cloudflare("dd01")])
    shipped = open(gateway.cfg["audit_jsonl"]).read()
    assert "Jane Doe" not in shipped and "4711" not in shipped and "?" not in shipped
    lines = [json.loads(line) for line in shipped.splitlines()]
    assert "text_sha256" in lines[0]["detail"] and "reason_sha256" in lines[1]["detail"]
    copy = tmp_path / "received.log"
    # As the receiver writes them: RFC 5424 syslog lines whose message is the JSON line.
    copy.write_text("".join("<86>1 2026-11-30T08:00:00Z oscar oscar-audit - - - %s\n" % json.dumps(line)
                            for line in lines))
    code, out = run_admin(gateway, tmp_path, "audit", "--verify-copy", str(copy))
    assert code == 0 and "copy matches the audit chain (3 records)" in out

    # A record missing from the copy, and a store rewritten after the copy left the host, are both found.
    copy.write_text("\n".join(json.dumps(line) for line in (lines[0], lines[2])) + "\n")
    code, out = run_admin(gateway, tmp_path, "audit", "--verify-copy", str(copy))
    assert code == 1 and "lacks 1 record(s) of its range: %d" % lines[1]["id"] in out
    conn = sqlite3.connect(gateway.cfg["database"])
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET ip = '192.0.2.66' WHERE id = ?", (lines[2]["id"],))
    conn.commit()
    code, out = run_admin(gateway, tmp_path, "audit", "--verify-copy", str(copy))
    assert code == 1 and "record %d: differs in ip" % lines[2]["id"] in out


# -- retention and the disk guard -----------------------------------------------------------------------------------

GB = 1024 ** 3


def test_the_guard_warns_long_before_the_disk_fills():
    from oscar_gateway import audit_guard

    # 300 MB holding 1,000,000 records, 30,000 written in the last 30 days: 1000 a day, about 0.3 MB a day.
    quiet, figures = audit_guard.assess(300 * 1024 ** 2, 1_000_000, 30_000, 50 * GB, 100 * GB, 2557, 180)
    assert quiet == [] and figures["days_until_full"] > 100_000
    # The same store on a nearly full disk: the days left, the retention period and the free share all say so.
    loud, figures = audit_guard.assess(300 * 1024 ** 2, 1_000_000, 30_000, 40 * 1024 ** 2, 100 * GB, 2557, 180)
    assert figures["days_until_full"] == 133
    assert any("fills in 133 days" in w for w in loud)
    assert any("keeping 2557 days of audit records" in w for w in loud)
    assert any("only 0% of the disk" in w for w in loud)
    # A new, empty store: nothing to project, no warning.
    assert audit_guard.assess(0, 0, 0, 50 * GB, 100 * GB, 2557, 180)[0] == []


def test_the_guard_through_the_admin_command_audits_its_warning(gateway, tmp_path):
    for n in range(50):
        gateway.store.audit("access", username="drsmith", path="/oscar/p%d" % n)
    code, out = run_admin(gateway, tmp_path, "audit-guard")
    report = json.loads(out)
    assert report["records"] == 50 and report["retention_days"] == 2557
    # The test machine's disk is what it is: either way the outcome and the audit trail must agree.
    warned = gateway.store.audit_count() == 51
    assert (code, report["status"], warned) in ((0, "ok", False), (1, "warning", True))
    # With a retention the disk cannot hold at this rate, it must warn, and the warning joins the chain.
    cfg_path = tmp_path / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["audit"] = {"retention_days": 36525, "disk_warn_days": 3650}
    cfg_path.write_text(json.dumps(cfg))
    before = gateway.store.audit_count()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "statvfs", lambda _path: os.statvfs_result((4096, 4096, 1000, 10, 10, 0, 0, 0, 0, 255)))
        code, out = run_admin(gateway, tmp_path, "audit-guard")
    assert code == 1 and json.loads(out)["status"] == "warning"
    row = gateway.store.all("SELECT * FROM audit ORDER BY id DESC LIMIT 1")[0]
    assert row["event"] == "audit_disk_warning" and gateway.store.audit_count() == before + 1
    assert gateway.store.verify_audit_chain()[1] is None
