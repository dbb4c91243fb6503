"""Audit log (append-only, JSON lines, hash chain), schema migrations with backup, configuration
checks, and the admin command line."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from gwtest import (
    GATEWAY_FILES,
    PASSWORD,
    Client,
    base_config,
    enroll_totp,
    login,
    make_gateway,
    run_admin,
    set_password,
)
from oscar_gateway import config, store


def test_audit_is_append_only(gateway):
    gateway.store.audit("test_event", username="drsmith", ip="198.51.100.7", path="/oscar/x?secret=1")
    conn = sqlite3.connect(gateway.cfg["database"])
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET username = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    row = conn.execute("SELECT path FROM audit WHERE event = 'test_event'").fetchone()
    assert row[0] == "/oscar/x"  # never a query string


def test_audit_json_lines_mirror_sqlite(gateway):
    record_id = gateway.store.audit("test_event", username="drsmith", ip="198.51.100.7", path="/oscar/a", n=1)
    lines = [json.loads(line) for line in open(gateway.cfg["audit_jsonl"])]
    last = lines[-1]
    assert last["id"] == record_id and last["event"] == "test_event" and last["detail"] == {"n": 1}
    assert last["username"] == "drsmith" and last["ip"] == "198.51.100.7" and last["iso_time"].endswith("+00:00")
    assert len(lines) == gateway.store.one("SELECT COUNT(*) FROM audit")[0]


def test_audit_chain_detects_edits_outside_sqlite_triggers(gateway):
    for n in range(5):
        gateway.store.audit("e%d" % n, username="u")
    assert gateway.store.verify_audit_chain() == (gateway.store.one("SELECT COUNT(*) FROM audit")[0], None)
    conn = sqlite3.connect(gateway.cfg["database"])
    conn.execute("DROP TRIGGER audit_no_update")  # what someone with the file could do
    conn.execute("UPDATE audit SET username = 'x' WHERE event = 'e2'")
    conn.commit()
    _count, bad = gateway.store.verify_audit_chain()
    assert bad is not None


def test_migration_from_v1_keeps_everything_and_backs_up(tmp_path):
    path = str(tmp_path / "old.db")
    store.migrate(path, target=1)
    conn = sqlite3.connect(path)
    now = time.time()
    conn.execute("INSERT INTO users (username, created, updated, password_hash) VALUES ('drsmith', ?, ?, 'h')",
                 (now, now))
    conn.execute("INSERT INTO sessions (id_hash, username, created, last_activity, expires)"
                 " VALUES ('s1', 'drsmith', ?, ?, ?)", (now, now, now + 60))
    conn.execute("INSERT INTO audit (time, event, username) VALUES (?, 'login', 'drsmith')", (now,))
    conn.commit()
    conn.close()
    old, new, backup = store.migrate(path)
    assert (old, new) == (1, store.SCHEMA_VERSION)
    assert backup and os.path.exists(backup) and ".bak-v1-" in backup
    assert oct(os.stat(backup).st_mode & 0o777) == "0o600"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT password_hash FROM users").fetchone()[0] == "h"
    assert conn.execute("SELECT username FROM sessions").fetchone()[0] == "drsmith"
    assert conn.execute("SELECT event FROM audit").fetchone()[0] == "login"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM audit")
    old_conn = sqlite3.connect(backup)
    assert old_conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old_conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1
    # Running again is a no-op without another backup.
    assert store.migrate(path) == (store.SCHEMA_VERSION, store.SCHEMA_VERSION, None)


def test_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "future.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(store.StoreError):
        store.migrate(path)


def test_database_and_backup_are_private(tmp_path):
    gateway = make_gateway(tmp_path)
    assert oct(os.stat(gateway.cfg["database"]).st_mode & 0o077) == "0o0"


# -- configuration -------------------------------------------------------------------------------

def test_secrets_file_readable_by_others_is_refused(tmp_path):
    cfg = base_config(tmp_path)
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(config.generate_secrets()))
    os.chmod(path, 0o644)
    with pytest.raises(config.ConfigError, match="0600"):
        config.load_secrets(str(path))
    os.chmod(path, 0o600)
    assert len(config.load_secrets(str(path))["session_key"]) == 32
    path.write_text(json.dumps({"session_key": "c2hvcnQ=", "data_key": "c2hvcnQ="}))
    with pytest.raises(config.ConfigError, match="32"):
        config.load_secrets(str(path))
    assert cfg


@pytest.mark.parametrize("change, message", [
    ({"mode": "open"}, "mode"),
    ({"public_host": "https://emr.clinic.test"}, "public_host"),
    ({"surprise": 1}, "unknown"),
    ({"sessions": {"inactivity_seconds": 5}}, "inactivity"),
    ({"sessions": {"typo_seconds": 5}}, "unknown setting"),
    ({"login": {"argon2": {"time_cost": 2, "memory_cost": 262144, "parallelism": 1}}}, "80 MB"),
    ({"login": {"max_failures": 5, "max_failures_per_address": 4}}, r"max_failures_per_address: 4 is less than"),
    ({"login": {"max_failures_per_address": 0}}, "max_failures_per_address"),
    ({"users": [{"username": "Bad Name"}]}, "username"),
    ({"users": [{"username": "a", "password_hash": "plaintext"}]}, "argon2id"),
    ({"access_policy": {"application": {"name": "x", "domain": "emr.clinic.test"}, "policies": [
        {"name": "p", "decision": "bypass", "include": {"ip_ranges": ["127.0.0.0/8"]}, "paths": ["/oscar/ws"]}]}},
     "loopback"),
])
def test_bad_configuration_is_refused(tmp_path, change, message):
    cfg = base_config(tmp_path)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict) and key != "access_policy":
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    with pytest.raises(config.ConfigError, match=message):
        config.validate(cfg, {})


def test_cloudflare_mode_needs_team_and_aud(tmp_path):
    cfg = base_config(tmp_path, mode="cloudflare")
    cfg["cloudflare"]["team_domain"] = "clinic.example.com"
    with pytest.raises(config.ConfigError, match="team_domain"):
        config.validate(cfg, {})
    cfg = base_config(tmp_path, mode="cloudflare")
    cfg["cloudflare"]["aud"] = []
    with pytest.raises(config.ConfigError, match="aud"):
        config.validate(cfg, {})


# -- admin command line ------------------------------------------------------------------------

def test_admin_set_password_from_stdin_and_login(gateway, tmp_path):
    code, out = run_admin(gateway, tmp_path, "set-password", "drsmith", stdin=PASSWORD + "\n")
    assert code == 0 and "password set" in out
    secret = enroll_totp(gateway, "drsmith")
    login(Client(gateway), gateway, "drsmith", secret)
    row = gateway.store.one("SELECT * FROM audit WHERE event = 'password_set'")
    assert json.loads(row["detail"])["by"].startswith("admin:")
    assert PASSWORD not in open(gateway.cfg["audit_jsonl"]).read()
    with pytest.raises(SystemExit, match="too short"):
        run_admin(gateway, tmp_path, "set-password", "drsmith", stdin="short\n")


def test_admin_password_is_never_an_argument():
    parser_help = subprocess.run(
        [sys.executable, "-m", "oscar_gateway.admin", "set-password", "--help"], cwd=str(GATEWAY_FILES),
        capture_output=True, text=True, check=False).stdout
    assert "--password" not in parser_help


def test_admin_disable_enable_revoke_sessions_and_audit(gateway, tmp_path):
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    code, out = run_admin(gateway, tmp_path, "sessions", "--format", "json")
    sessions = json.loads(out)
    assert [s["username"] for s in sessions] == ["drsmith"] and sessions[0]["mfa"] is True
    code, out = run_admin(gateway, tmp_path, "user-disable", "drsmith")
    assert "1 session(s) revoked" in out
    assert client.auth("/oscar/").status == 401
    login_client = Client(gateway)
    page = login_client.get("/_gateway/login")
    from gwtest import csrf_of

    response = login_client.post("/_gateway/login", {"username": "drsmith", "password": PASSWORD,
                                                     "csrf": csrf_of(page)})
    assert "Sign-in failed" in response.text
    # An inventory sync does not undo an administrator's disable.
    gateway.sync_users()
    assert gateway.store.one("SELECT admin_disabled FROM users WHERE username='drsmith'")[0] == 1
    run_admin(gateway, tmp_path, "user-enable", "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    assert client.auth("/oscar/").status == 200
    code, out = run_admin(gateway, tmp_path, "revoke", "--all")
    assert "1 session(s) revoked" in out
    assert client.auth("/oscar/").status == 401
    code, out = run_admin(gateway, tmp_path, "audit", "--since", "1h", "--format", "json")
    names = [e["event"] for e in json.loads(out)]
    for event in ("login", "user_disabled", "user_enabled", "sessions_revoked"):
        assert event in names
    code, out = run_admin(gateway, tmp_path, "audit", "--since", "2000-01-01T00:00", "--until", "2000-01-02")
    assert out.splitlines()[0].startswith("TIME") and len(out.splitlines()) == 1
    code, out = run_admin(gateway, tmp_path, "audit", "--verify")
    assert code == 0 and "intact" in out


def test_admin_reset_totp_forces_enrolment(gateway, tmp_path):
    set_password(gateway, "drsmith")
    enroll_totp(gateway, "drsmith")
    code, _out = run_admin(gateway, tmp_path, "reset-totp", "drsmith")
    assert code == 0
    client = Client(gateway)
    from gwtest import csrf_of

    page = client.get("/_gateway/login")
    response = client.post("/_gateway/login", {"username": "drsmith", "password": PASSWORD, "csrf": csrf_of(page)})
    assert response.header("Location").endswith("/_gateway/enroll")


def test_admin_user_add_and_table_output(gateway, tmp_path):
    code, out = run_admin(gateway, tmp_path, "user-add", "temp.locum", "--name", "Temp", "--email", "t@clinic.test")
    assert code == 0
    code, out = run_admin(gateway, tmp_path, "users")
    assert "temp.locum" in out and out.splitlines()[0].startswith("USERNAME")
    code, out = run_admin(gateway, tmp_path, "unlock", "--username", "drsmith", "--ip", "198.51.100.7")
    assert code == 0


def test_admin_users_lists_account_expiry(gateway, tmp_path):
    """The listing shows each account's expiry date (users.expires, migration 3) and whether it has passed."""
    run_admin(gateway, tmp_path, "user-add", "temp.locum", "--name", "Temp")
    gateway.store.execute("UPDATE users SET expires = '2000-01-31' WHERE username = 'temp.locum'")
    gateway.store.execute("UPDATE users SET expires = '2999-12-31' WHERE username = 'drsmith'")
    _code, out = run_admin(gateway, tmp_path, "users", "--format", "json")
    listed = {u["username"]: (u["expires"], u["expired"]) for u in json.loads(out)}
    assert listed["temp.locum"] == ("2000-01-31", True) and listed["drsmith"] == ("2999-12-31", False)
    _code, out = run_admin(gateway, tmp_path, "users")
    header, *rows = out.splitlines()
    assert "EXPIRES" in header.split()
    locum = next(row for row in rows if row.startswith("temp.locum"))
    assert "2000-01-31" in locum.split()


def test_module_entry_points_run(tmp_path):
    gateway = make_gateway(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(GATEWAY_FILES))
    result = subprocess.run([sys.executable, "-m", "oscar_gateway", "--config", str(tmp_path / "config.json"),
                             "--check"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert gateway
