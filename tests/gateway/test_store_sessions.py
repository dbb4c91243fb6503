"""Session revocation is one named store method, used by the gateway (inventory changes) and the admin command."""

# gwtest puts the gateway's package on sys.path.
import gwtest  # noqa: F401 pylint: disable=unused-import
from oscar_gateway import admin, app, store


def add_session(db, id_hash, username):
    db.execute("INSERT INTO sessions (id_hash, username, created, last_activity, expires) VALUES (?, ?, 0, 0, 9e9)",
               (id_hash, username))


def live(db):
    return sorted(r["id_hash"] for r in db.all("SELECT id_hash FROM sessions WHERE revoked_at IS NULL"))


def test_revoke_sessions_of_one_user_then_of_everyone_audited_once_each(tmp_path):
    db = store.Store(str(tmp_path / "gw.db"), str(tmp_path / "audit.jsonl"))
    for id_hash, username in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        add_session(db, id_hash, username)
    assert db.revoke_sessions("left the clinic", "admin", "alice") == 2
    assert live(db) == ["b1"]
    assert db.revoke_sessions("key rotation", "system") == 1
    assert live(db) == []
    audits = db.all("SELECT * FROM audit WHERE event = 'sessions_revoked' ORDER BY id")
    assert [a["username"] for a in audits] == ["alice", "*"]
    assert db.end_session("b1", "logout") is False  # already ended: nothing to audit twice


def test_the_gateway_and_the_admin_command_use_the_store_method():
    assert "SET revoked_at" not in open(app.__file__).read()
    assert "SET revoked_at" not in open(admin.__file__).read()
