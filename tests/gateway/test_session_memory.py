"""The decision remembers session rows per connection while the database is unchanged (store.Store.session): any change,
by this connection, another thread's or another process's (the admin command), must count from the very next request.
Each test warms the memory with decisions first, so it fails if a change is not seen."""

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from gwtest import GATEWAY_FILES, Client, enroll_totp, login, make_gateway, set_password
from oscar_gateway import store, web

XHR = {"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
PAGE = "/oscar/demographic/search.jsp"


def signed_in(tmp_path):
    gateway = make_gateway(tmp_path)
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    return gateway, client


def warm(client):
    for _attempt in range(3):
        assert client.auth(PAGE, headers=XHR).status == 200


def test_a_session_revoked_by_the_admin_command_in_another_process_is_refused_on_the_next_request(tmp_path):
    _gateway, client = signed_in(tmp_path)
    warm(client)
    admin = subprocess.run(
        [sys.executable, "-m", "oscar_gateway.admin", "--config", str(tmp_path / "config.json"), "revoke", "--user",
         "drsmith"], cwd=str(GATEWAY_FILES), env=dict(os.environ, PYTHONPATH=str(GATEWAY_FILES)), capture_output=True,
        text=True, check=False, timeout=60)
    assert admin.returncode == 0 and "1 session(s) revoked" in admin.stdout, admin.stdout + admin.stderr
    assert client.auth(PAGE, headers=XHR).status == 401


def test_a_user_disabled_by_another_connection_is_refused_on_the_next_request(tmp_path):
    gateway, client = signed_in(tmp_path)
    warm(client)
    other = sqlite3.connect(gateway.cfg["database"])
    with other:  # only the users row changes: the session row itself is untouched
        other.execute("UPDATE users SET admin_disabled = 1 WHERE username = 'drsmith'")
    other.close()
    assert client.auth(PAGE, headers=XHR).status == 401


def test_a_sign_out_in_another_thread_is_seen_by_the_decision_thread(tmp_path):
    """As in the gateway: the decision socket's thread keeps its own connection while it lives; a sign-out runs in
    another thread (waitress's), on another connection."""
    gateway, client = signed_in(tmp_path)
    headers = dict(XHR, Cookie="; ".join("%s=%s" % kv for kv in client.jar.items()))
    id_hash = gateway.identities.session_hash(web.Request({"HTTP_COOKIE": headers["Cookie"]}))
    statuses = []
    remembered, go_on = threading.Event(), threading.Event()

    def decide_twice():
        decider = Client(gateway)
        statuses.extend(decider.auth(PAGE, headers=headers).status for _attempt in range(3))
        remembered.set()
        go_on.wait(30)
        statuses.append(decider.auth(PAGE, headers=headers).status)

    worker = threading.Thread(target=decide_twice)
    worker.start()
    assert remembered.wait(30)
    assert gateway.store.end_session(id_hash, "logout")  # this thread's connection
    go_on.set()
    worker.join(30)
    assert statuses == [200, 200, 200, 401]


def test_the_store_drops_remembered_rows_at_its_own_change_and_at_another_connections(tmp_path):
    db = store.Store(str(tmp_path / "gw.db"), str(tmp_path / "audit.jsonl"))
    db.execute("INSERT INTO sessions (id_hash, username, created, last_activity, expires) VALUES ('h', 'alice', 0, 0,"
               " 9e9)")
    assert db.session("h")["revoked_at"] is None
    db.revoke_sessions("test", "admin", "alice")  # this connection
    assert db.session("h")["revoked_at"] is not None
    db.execute("UPDATE sessions SET revoked_at = NULL")
    assert db.session("h")["revoked_at"] is None
    other = sqlite3.connect(str(tmp_path / "gw.db"))
    with other:
        other.execute("UPDATE sessions SET last_activity = ?", (time.time(),))
    other.close()
    assert db.session("h")["last_activity"] > 0


def test_an_unchanged_database_costs_the_decision_no_sql_statement(tmp_path):
    """The remembered row is reused on the WAL-index header's word alone: no read transaction (PRAGMA data_version and
    its locks were most of a socket decision's cost)."""
    gateway, client = signed_in(tmp_path)
    warm(client)
    statements = []
    gateway.store.conn().set_trace_callback(statements.append)
    warm(client)
    assert statements == []


@pytest.mark.parametrize("wal_index", ["unreadable", "copies differ"])
def test_without_a_consistent_wal_index_header_sqlite_is_asked_and_changes_still_count(
        tmp_path, monkeypatch, wal_index):
    db = store.Store(str(tmp_path / "gw.db"), str(tmp_path / "audit.jsonl"))
    if wal_index == "unreadable":
        db._wal_index = None  # no "-shm" file to be had (not WAL, or not openable)
    else:  # a commit is writing the header: its two copies differ for the moment
        monkeypatch.setattr(store.os, "pread", lambda _fd, size, _offset: b"\1" * (size // 2) + b"\2" * (size // 2))
    db.execute("INSERT INTO sessions (id_hash, username, created, last_activity, expires) VALUES ('h', 'alice', 0, 0,"
               " 9e9)")
    assert db.session("h")["revoked_at"] is None
    statements = []
    db.conn().set_trace_callback(statements.append)
    assert db.session("h")["revoked_at"] is None
    assert statements == ["PRAGMA data_version"]
    other = sqlite3.connect(str(tmp_path / "gw.db"))
    with other:
        other.execute("UPDATE sessions SET revoked_at = 1")
    other.close()
    assert db.session("h")["revoked_at"] == 1
