"""SQLite storage: users' credentials, sessions, login regulation, justifications, approvals, audit.

Schema versions live in ``PRAGMA user_version``. Migrations only add (tables, columns, triggers);
before any migration of an existing database its file is copied (SQLite online backup) to
``<db>.bak-v<old>-<UTC time>``, so users, sessions and the audit trail can never be lost.

The ``audit`` table is append-only: triggers abort every UPDATE and DELETE. Each row carries a
SHA-256 chain over the previous row so that an edit of the file outside SQLite shows up in
``oscar-gateway-admin audit --verify``.

Records from elsewhere (Cloudflare Access logs, WireGuard handshakes) join the same chain through
``append_external``: each carries a ``source_key`` (``cloudflare:<ray_id>``, ...) that is unique in the
table, so the same event is never stored twice, and that is repeated inside the chained ``detail`` so
that an edit of the column shows up in the verification too.
"""

import datetime
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time

from . import _shared

# Session rows each thread's connection remembers while the database is unchanged (Store.session); then it starts over.
SESSION_ROWS_REMEMBERED = 4096
# Pending sign-ins anyone may start without a password (a passkey page's challenge): kept per address and in all.
PENDING_PER_ADDRESS = 20
PENDING_PER_STAGE = 5000
# The two copies of SQLite's WAL-index header at the start of the "-shm" file (https://www.sqlite.org/walformat.html,
# "The WAL-Index Header"): every commit rewrites them, the second copy first, so readers that see two equal copies see
# a committed state. Byte 12 is isInit.
WAL_INDEX_HEADER_BYTES = 96
AUDIT_FIELDS = ("time", "event", "username", "ip", "method", "path", "policy", "detail")
# Free text people type (a purpose justification, the reason of an approval request) may name a patient: the JSON-lines
# copy, which is shipped off the host, carries its SHA-256 instead (``<key>_sha256``); SQLite keeps the text.
TYPED_TEXT = {"justification": ("text",), "approval_requested": ("reason",)}

MIGRATIONS = {
    1: [
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            display_name TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1,
            admin_disabled INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'inventory',
            password_hash TEXT,
            totp_secret TEXT,
            totp_last_step INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            updated REAL NOT NULL)""",
        """CREATE TABLE recovery_codes (
            username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
            code_hash TEXT NOT NULL,
            used_at REAL,
            PRIMARY KEY (username, code_hash))""",
        """CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            created REAL NOT NULL,
            last_activity REAL NOT NULL,
            expires REAL NOT NULL,
            mfa INTEGER NOT NULL DEFAULT 0,
            amr TEXT NOT NULL DEFAULT '[]',
            login_ip TEXT NOT NULL DEFAULT '',
            revoked_at REAL,
            revoked_reason TEXT)""",
        "CREATE INDEX sessions_user ON sessions(username)",
        """CREATE TABLE pending_logins (
            id_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            stage TEXT NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL,
            ip TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '{}')""",
        "CREATE TABLE login_failures (key TEXT NOT NULL, time REAL NOT NULL)",
        "CREATE INDEX login_failures_key ON login_failures(key, time)",
        "CREATE TABLE bans (key TEXT PRIMARY KEY, until REAL NOT NULL, level INTEGER NOT NULL DEFAULT 0)",
        """CREATE TABLE justifications (
            session_hash TEXT NOT NULL,
            policy TEXT NOT NULL,
            text TEXT NOT NULL,
            time REAL NOT NULL,
            PRIMARY KEY (session_hash, policy))""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            event TEXT NOT NULL,
            username TEXT NOT NULL DEFAULT '',
            ip TEXT NOT NULL DEFAULT '',
            method TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '',
            policy TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX audit_time ON audit(time)",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    ],
    2: [
        # Approvals (temporary authentication) and the audit hash chain.
        """CREATE TABLE approval_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            session_hash TEXT NOT NULL,
            policy TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            expires REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            decided_at REAL,
            grant_expires REAL)""",
        "CREATE INDEX approval_requests_session ON approval_requests(session_hash, policy)",
        """CREATE TABLE approval_votes (
            request_id INTEGER NOT NULL REFERENCES approval_requests(id),
            approver TEXT NOT NULL,
            approver_email TEXT NOT NULL DEFAULT '',
            decision TEXT NOT NULL,
            time REAL NOT NULL,
            PRIMARY KEY (request_id, approver))""",
        "ALTER TABLE audit ADD COLUMN chain TEXT NOT NULL DEFAULT ''",
    ],
    3: [
        # The account's expiry date from the inventory (YYYY-MM-DD, the first day it no longer works), or NULL.
        "ALTER TABLE users ADD COLUMN expires TEXT",
    ],
    4: [
        # Records from other sources (Cloudflare Access logs, WireGuard handshakes), once each.
        "ALTER TABLE audit ADD COLUMN source_key TEXT",
        "CREATE UNIQUE INDEX audit_source_key ON audit(source_key) WHERE source_key IS NOT NULL",
        # The last handshake seen per WireGuard peer (not evidence itself: it decides which handshakes are new).
        """CREATE TABLE wireguard_peers_seen (
            public_key TEXT PRIMARY KEY,
            last_handshake REAL NOT NULL,
            endpoint TEXT NOT NULL DEFAULT '')""",
    ],
    5: [
        # Approvals by email: the mail the gateway owes (an outbox, sent by a background thread with retries, so a
        # relay that is down never holds up a page), and what the approvers' mail and pages show of a request.
        # Needs only v2's approval_requests.
        """CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            kind TEXT NOT NULL,
            request_id INTEGER,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            sent_at REAL)""",
        "CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt)",
        "ALTER TABLE approval_requests ADD COLUMN ip TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE approval_requests ADD COLUMN decided_by TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE approval_requests ADD COLUMN revoked_at REAL",
    ],
    6: [
        # Passkeys and security keys (WebAuthn). Tables of their own, so this step needs none of 4's or 5's.
        # passkey_accounts: the account's WebAuthn user handle (random, never the user name) and how it may sign in
        # (sign_in: 'off' = a passkey is a second factor only; 'on' = also the whole sign-in; 'only' = the whole
        # sign-in, password and TOTP refused).
        """CREATE TABLE passkey_accounts (
            username TEXT PRIMARY KEY REFERENCES users(username) ON DELETE CASCADE,
            user_handle TEXT NOT NULL UNIQUE,
            sign_in TEXT NOT NULL DEFAULT 'off' CHECK (sign_in IN ('off', 'on', 'only')))""",
        # credential_id: hex; credential: the bytes of fido2's AttestedCredentialData (id and COSE public key).
        """CREATE TABLE passkeys (
            credential_id TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
            name TEXT NOT NULL DEFAULT '',
            credential BLOB NOT NULL,
            sign_count INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            last_used REAL)""",
        "CREATE INDEX passkeys_user ON passkeys(username)",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


class StoreError(RuntimeError):
    pass


def account_expired(expires, today=None):
    """Whether an account with this expiry date (the users row's ``expires``) no longer works today on this host: the
    collection's one rule (_expiry.py), the one the role's check and the fleet report use."""
    return _account_expired(expires, today or _today())


_TODAY = (None, None)  # (the second of the clock it was read at, the local date then)


def _today():
    """``datetime.date.today()``, read at most once per second of the clock (every decision asks for it, and the
    local date needs the time zone's rules each time)."""
    global _TODAY  # one pair, replaced whole: threads see the old pair or the new, never half
    now = time.time()
    second = int(now)
    at, today = _TODAY
    if at != second:
        today = datetime.date.fromtimestamp(now)  # the date of that very second, even across midnight
        _TODAY = (second, today)
    return today


@functools.lru_cache(maxsize=1024)
def _account_expired(expires, today):
    """The rule is a pure function of the two dates: every decision asks it for the same few, so each is parsed once."""
    return _shared.expiry_module().is_expired(expires, today)


def account_usable(user, today=None):
    """Whether this users row may sign in and keep its sessions: enabled in the inventory, not disabled by an
    administrator, not expired."""
    return bool(user["enabled"]) and not user["admin_disabled"] and not account_expired(user["expires"], today)


def _connect(path):
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def backup_database(path, version):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = "%s.bak-v%d-%s" % (path, version, stamp)
    source = sqlite3.connect(path)
    try:
        old_umask = os.umask(0o077)
        try:
            dest = sqlite3.connect(target)
        finally:
            os.umask(old_umask)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    return target


def migrate(path, target=SCHEMA_VERSION, log=None):
    """Bring the database at ``path`` to ``target``; returns (old version, new version, backup or None)."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    existed = os.path.exists(path) and os.path.getsize(path) > 0
    if not existed:
        old_umask = os.umask(0o077)
        try:
            _connect(path).close()
        finally:
            os.umask(old_umask)
    conn = _connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError("database schema v%d is newer than this gateway (v%d)" % (version, SCHEMA_VERSION))
        if version >= target:
            return version, version, None
        backup = backup_database(path, version) if existed and version > 0 else None
        if log and backup:
            log("database backed up to %s before migrating v%d -> v%d" % (backup, version, target))
        # Numbers are reserved per branch (4, 5, 6 in session 6): a number not on this branch is skipped.
        for step in sorted(n for n in MIGRATIONS if version < n <= target):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute("PRAGMA user_version = %d" % step)
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        return version, target, backup
    finally:
        conn.close()


class Store:
    """Thread-safe access: one SQLite connection per thread, WAL mode."""

    def __init__(self, path, audit_jsonl=None, log=None):
        self.path = path
        self.audit_jsonl = audit_jsonl
        self._local = threading.local()
        self._jsonl_lock = threading.Lock()
        migrate(path, log=log)
        version = self.schema_version()
        if version != SCHEMA_VERSION:
            raise StoreError("database schema v%d, expected v%d" % (version, SCHEMA_VERSION))
        self._wal_index = self._open_wal_index()

    def _open_wal_index(self):
        """The "-shm" file, opened for reading, when the database is in WAL mode (every connection here sets it, and it
        stays while any is open); None otherwise, and then ``_committed_state`` asks SQLite every time."""
        if self.conn().execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return None
        try:
            # Kept open for the store's life (closed with it), read with pread by every thread.
            return open(self.path + "-shm", "rb", buffering=0)  # pylint: disable=consider-using-with
        except OSError:
            return None

    def _committed_state(self, conn):
        """A value that changes with every commit to the database, by any connection in any process, read without a
        read transaction where possible: the WAL-index header's two copies (one ``pread``, no locks). When they cannot
        be read or differ (a commit is writing them), SQLite's own ``PRAGMA data_version`` (a read transaction, its
        locks and their system calls: about 20 of a socket decision's 55 us before, timed in the listener's
        thread)."""
        if self._wal_index is not None:
            try:
                header = os.pread(self._wal_index.fileno(), WAL_INDEX_HEADER_BYTES, 0)
            except OSError:
                header = b""
            half = WAL_INDEX_HEADER_BYTES // 2
            if len(header) == WAL_INDEX_HEADER_BYTES and header[12] and header[:half] == header[half:]:
                return header
        return conn.execute("PRAGMA data_version").fetchone()[0]

    def schema_version(self):
        return self.conn().execute("PRAGMA user_version").fetchone()[0]

    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path)
        return conn

    def execute(self, sql, params=()):
        return self.conn().execute(sql, params)

    def one(self, sql, params=()):
        return self.conn().execute(sql, params).fetchone()

    def all(self, sql, params=()):
        return self.conn().execute(sql, params).fetchall()

    def transaction(self):
        return _Transaction(self.conn())

    # -- users ----------------------------------------------------------------------------------

    def user(self, username):
        return self.one("SELECT * FROM users WHERE username = ?", (username,))

    def active_user_by_email(self, email):
        """The enabled, not admin-disabled, not expired account with this email, or None."""
        user = self.one("SELECT * FROM users WHERE email = ? AND enabled = 1 AND admin_disabled = 0", (email,))
        return user if user is not None and account_usable(user) else None

    def sync_users(self, users, disable_unlisted):
        """Make the users table follow the inventory's ``users``; accounts disabled there (and, with
        ``disable_unlisted``, inventory accounts no longer listed) are disabled and their sessions revoked."""
        now = time.time()
        listed = set()
        for user in users:
            listed.add(user["username"])
            row = self.user(user["username"])
            if row is None:
                self.execute(
                    "INSERT INTO users (username, display_name, email, role, enabled, source, password_hash,"
                    " expires, created, updated) VALUES (?, ?, ?, ?, ?, 'inventory', ?, ?, ?, ?)",
                    (user["username"], user["display_name"], user["email"], user["role"], int(user["enabled"]),
                     user["password_hash"], user["expires"], now, now))
                continue
            password_hash = user["password_hash"] or row["password_hash"]
            self.execute(
                "UPDATE users SET display_name = ?, email = ?, role = ?, enabled = ?, source = 'inventory',"
                " password_hash = ?, expires = ?, updated = ? WHERE username = ?",
                (user["display_name"], user["email"], user["role"], int(user["enabled"]), password_hash,
                 user["expires"], now, user["username"]))
            if not user["enabled"] and row["enabled"]:
                self.revoke_sessions("disabled in inventory", "system", user["username"])
            elif account_expired(user["expires"]) and not account_expired(row["expires"]):
                # Sessions also end at their next request once the date comes (identity.py); this ends them now.
                self.revoke_sessions("account expired", "system", user["username"])
        if disable_unlisted:
            for row in self.all("SELECT username FROM users WHERE source = 'inventory' AND enabled = 1"):
                if row["username"] not in listed:
                    self.execute("UPDATE users SET enabled = 0, updated = ? WHERE username = ?",
                                 (now, row["username"]))
                    self.revoke_sessions("removed from inventory", "system", row["username"])

    def add_user(self, username, display_name, email, role, source):
        """A new enabled account; False when the name is taken."""
        now = time.time()
        return bool(self.execute(
            "INSERT OR IGNORE INTO users (username, display_name, email, role, enabled, source, created, updated)"
            " VALUES (?, ?, ?, ?, 1, ?, ?, ?)", (username, display_name, email, role, source, now, now)).rowcount)

    def users(self):
        return self.all("SELECT * FROM users ORDER BY username")

    def set_admin_disabled(self, username, disabled):
        self.execute("UPDATE users SET admin_disabled = ?, updated = ? WHERE username = ?",
                     (int(bool(disabled)), time.time(), username))

    def reset_totp(self, username):
        """Forget the user's TOTP secret and recovery codes (they enrol again at the next sign-in)."""
        with self.transaction() as conn:
            conn.execute("UPDATE users SET totp_secret = NULL, totp_last_step = 0, updated = ? WHERE username = ?",
                         (time.time(), username))
            conn.execute("DELETE FROM recovery_codes WHERE username = ?", (username,))

    def set_password_hash(self, username, password_hash):
        self.execute("UPDATE users SET password_hash = ?, updated = ? WHERE username = ?",
                     (password_hash, time.time(), username))

    def use_totp_step(self, username, step):
        """Record ``step`` as the user's last TOTP step; False when it is not newer (a replayed code)."""
        return self.execute("UPDATE users SET totp_last_step = ? WHERE username = ? AND totp_last_step < ?",
                            (step, username, step)).rowcount == 1

    def enroll_totp(self, username, sealed_secret, step, recovery_code_hashes):
        """Store a confirmed TOTP secret and a fresh set of recovery codes (the old ones go), in one transaction."""
        with self.transaction() as conn:
            conn.execute("UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE username = ?",
                         (sealed_secret, step, username))
            conn.execute("DELETE FROM recovery_codes WHERE username = ?", (username,))
            for code_hash in recovery_code_hashes:
                conn.execute("INSERT INTO recovery_codes (username, code_hash) VALUES (?, ?)", (username, code_hash))

    def use_recovery_code(self, username, code_hash):
        """Spend one recovery code; the number left, or None when it was not a live code of this user."""
        if self.execute("UPDATE recovery_codes SET used_at = ? WHERE username = ? AND code_hash = ?"
                        " AND used_at IS NULL", (time.time(), username, code_hash)).rowcount != 1:
            return None
        return self.one("SELECT COUNT(*) FROM recovery_codes WHERE username = ? AND used_at IS NULL", (username,))[0]

    # -- passkeys -------------------------------------------------------------------------------

    def passkey_user_handle(self, username, new_handle):
        """The account's WebAuthn user handle (base64url); ``new_handle`` becomes it if it has none yet."""
        self.execute("INSERT OR IGNORE INTO passkey_accounts (username, user_handle) VALUES (?, ?)",
                     (username, new_handle))
        return self.one("SELECT user_handle FROM passkey_accounts WHERE username = ?", (username,))["user_handle"]

    def passkeys(self, username):
        return self.all("SELECT * FROM passkeys WHERE username = ? ORDER BY created", (username,))

    def passkey(self, credential_id):
        """The passkey with this credential id (hex), or None."""
        return self.one("SELECT * FROM passkeys WHERE credential_id = ?", (credential_id,))

    def add_passkey(self, username, credential_id, credential, sign_count, name, limit):
        """Store a verified credential; False when the account has ``limit`` already or the id is known."""
        with self.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM passkeys WHERE username = ?", (username,)).fetchone()[0]
            if count >= limit:
                return False
            return bool(conn.execute(
                "INSERT OR IGNORE INTO passkeys (credential_id, username, name, credential, sign_count, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (credential_id, username, name, credential, sign_count, time.time())).rowcount)

    def use_passkey(self, credential_id, sign_count):
        """Record a sign-in with the passkey. False when its signature counter did not move forward although it
        counts (WebAuthn 6.1.1: a cloned authenticator); authenticators that keep 0 are not counting."""
        return bool(self.execute(
            "UPDATE passkeys SET sign_count = MAX(sign_count, ?), last_used = ? WHERE credential_id = ?"
            " AND ((? = 0 AND sign_count = 0) OR ? > sign_count)",
            (sign_count, time.time(), credential_id, sign_count, sign_count)).rowcount)

    def remove_passkeys(self, username, credential_id_prefix):
        """Remove the account's passkeys whose id starts with ``credential_id_prefix`` (all with ""); returns how
        many. An account left without one signs in with password and second factor again (sign_in 'off')."""
        with self.transaction() as conn:
            rows = conn.execute("SELECT credential_id FROM passkeys WHERE username = ?", (username,)).fetchall()
            gone = [r["credential_id"] for r in rows if r["credential_id"].startswith(credential_id_prefix)]
            for credential_id in gone:
                conn.execute("DELETE FROM passkeys WHERE credential_id = ?", (credential_id,))
            if len(gone) == len(rows):
                conn.execute("UPDATE passkey_accounts SET sign_in = 'off' WHERE username = ?", (username,))
        return len(gone)

    def passkey_sign_in(self, username):
        """'off', 'on' or 'only' (see MIGRATIONS[6]); 'off' for an account that never had a passkey."""
        row = self.one("SELECT sign_in FROM passkey_accounts WHERE username = ?", (username,))
        return row["sign_in"] if row else "off"

    def set_passkey_sign_in(self, username, mode):
        """Set how the account signs in; False when it has no passkey (then only 'off' stands)."""
        with self.transaction() as conn:
            if mode != "off" and not conn.execute("SELECT 1 FROM passkeys WHERE username = ?", (username,)).fetchone():
                return False
            conn.execute("UPDATE passkey_accounts SET sign_in = ? WHERE username = ?", (mode, username))
        return True

    # -- sessions -------------------------------------------------------------------------------

    def create_session(self, id_hash, username, lifetime, mfa, amr, ip):
        """A new session that ends ``lifetime`` seconds from now at the latest."""
        now = time.time()
        self.execute(
            "INSERT INTO sessions (id_hash, username, created, last_activity, expires, mfa, amr, login_ip)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (id_hash, username, now, now, now + lifetime, int(mfa), json.dumps(list(amr)), ip or ""))

    def session(self, id_hash, build=None):
        """The session row with its user's display name, email, role, enabled flags and the account's expiry date
        (account_expires: the session's own ``expires`` is its end time), or ``build(row)`` when given; None if
        unknown.

        What is read is remembered per connection (so per thread) only while the database stays as it was: any commit
        by any connection (another thread, the admin command revoking a session or disabling a user) changes
        ``_committed_state``, any change by this one also its ``total_changes``, and either drops it all. So a
        revocation holds from the very next request, and an unchanged database costs one read of the WAL-index header
        instead of the join (and ``build``) on every decision."""
        conn = self.conn()
        local = self._local
        version = (self._committed_state(conn), conn.total_changes)
        remembered = getattr(local, "sessions", None)
        if remembered is None or local.sessions_version != version or len(remembered) >= SESSION_ROWS_REMEMBERED:
            remembered = local.sessions = {}
            local.sessions_version = version
        key = (id_hash, build)
        found = remembered.get(key)
        if found is None:
            found = conn.execute(
                "SELECT s.*, u.display_name AS display_name, u.email AS email, u.role AS role, u.enabled AS enabled,"
                " u.admin_disabled AS admin_disabled, u.expires AS account_expires"
                " FROM sessions s LEFT JOIN users u ON u.username = s.username"
                " WHERE s.id_hash = ?", (id_hash,)).fetchone()
            if found is not None:
                if build is not None:
                    found = build(found)
                remembered[key] = found
        return found

    def live_session_username(self, id_hash):
        row = self.one("SELECT username FROM sessions WHERE id_hash = ? AND revoked_at IS NULL", (id_hash,))
        return row["username"] if row else None

    def touch_session(self, id_hash, now):
        self.execute("UPDATE sessions SET last_activity = ? WHERE id_hash = ? AND last_activity < ?",
                     (now, id_hash, now))

    def live_sessions(self, inactivity_seconds):
        """Sessions neither revoked, expired nor inactive, by user."""
        now = time.time()
        return self.all("SELECT username, created, last_activity, expires, mfa, login_ip FROM sessions"
                        " WHERE revoked_at IS NULL AND expires > ? AND last_activity > ? ORDER BY username, created",
                        (now, now - inactivity_seconds))

    def revoke_sessions(self, reason, by, username=None):
        """End every live session (of ``username``, or of everyone), audited once; returns how many. The one place
        for it: the gateway (inventory changes) and the admin command use it."""
        now = time.time()
        if username is None:
            count = self.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL",
                                 (now, reason)).rowcount
        else:
            count = self.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL"
                                 " AND username = ?", (now, reason, username)).rowcount
        self.audit("sessions_revoked", username=username or "*", by=by, reason=reason, count=count)
        return count

    def end_session(self, id_hash, reason):
        """End one live session; True when it was live (so the caller audits why only once)."""
        return bool(self.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id_hash = ? AND "
                                 "revoked_at IS NULL", (time.time(), reason, id_hash)).rowcount)

    # -- login regulation -------------------------------------------------------------------------

    def clear_login_key(self, key):
        """Lift the ban on ``key`` (``user:NAME`` or ``ip:ADDRESS``) and forget its failures."""
        self.execute("DELETE FROM bans WHERE key = ?", (key,))
        self.forget_login_failures(key)

    def forget_login_failures(self, key):
        """Forget ``key``'s failed logins (a successful login clears the user's count); a ban stays."""
        self.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    def ban_until(self, key):
        """When ``key``'s ban ends (a time, possibly past), or None when it was never banned."""
        row = self.one("SELECT until FROM bans WHERE key = ?", (key,))
        return row["until"] if row else None

    def record_login_failures(self, keys, now, find_seconds, forget_before, threshold, ban_seconds):
        """Record one failed login for each of ``keys`` in one transaction. A key with ``threshold(key)`` failures
        since ``now - find_seconds`` that is not banned already is banned for ``ban_seconds(level)`` (``level``
        counts its earlier bans, from 0) and its failures are forgotten; failures before ``forget_before`` go.
        Returns ``[(key, seconds)]`` of the keys newly banned."""
        newly = []
        with self.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE time < ?", (forget_before,))
            for key in keys:
                conn.execute("INSERT INTO login_failures (key, time) VALUES (?, ?)", (key, now))
                count = conn.execute("SELECT COUNT(*) FROM login_failures WHERE key = ? AND time >= ?",
                                     (key, now - find_seconds)).fetchone()[0]
                if count >= threshold(key):
                    row = conn.execute("SELECT level, until FROM bans WHERE key = ?", (key,)).fetchone()
                    if row and row["until"] > now:
                        continue
                    level = (row["level"] + 1) if row else 0
                    seconds = ban_seconds(level)
                    conn.execute("INSERT OR REPLACE INTO bans (key, until, level) VALUES (?, ?, ?)",
                                 (key, now + seconds, level))
                    conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))
                    newly.append((key, seconds))
        return newly

    # -- sign-ins between password and second factor -------------------------------------------

    def add_pending_login(self, id_hash, username, stage, lifetime, ip, data, keep_per_address=None):
        """Remember for ``lifetime`` seconds a password that was right, until the second factor follows; drops
        expired ones. With ``keep_per_address``, only that many of this stage and address are kept, the newest, and
        at most PENDING_PER_STAGE of the stage in all: for a stage anyone may start without a password (the passkey
        page's challenge), so page loads cannot grow the table without bound."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO pending_logins (id_hash, username, stage, created, expires, ip, data)"
                " VALUES (?,?,?,?,?,?,?)", (id_hash, username, stage, now, now + lifetime, ip, json.dumps(data)))
            conn.execute("DELETE FROM pending_logins WHERE expires < ?", (now,))
            if keep_per_address is not None:
                conn.execute(
                    "DELETE FROM pending_logins WHERE stage = ? AND ip = ? AND id_hash NOT IN (SELECT id_hash FROM"
                    " pending_logins WHERE stage = ? AND ip = ? ORDER BY created DESC LIMIT ?)",
                    (stage, ip, stage, ip, keep_per_address))
                conn.execute(
                    "DELETE FROM pending_logins WHERE stage = ? AND id_hash NOT IN (SELECT id_hash FROM pending_logins"
                    " WHERE stage = ? ORDER BY created DESC LIMIT ?)", (stage, stage, PENDING_PER_STAGE))

    def pending_login(self, id_hash):
        return self.one("SELECT * FROM pending_logins WHERE id_hash = ?", (id_hash,))

    def set_pending_login_data(self, id_hash, data):
        self.execute("UPDATE pending_logins SET data = ? WHERE id_hash = ?", (json.dumps(data), id_hash))

    def delete_pending_login(self, id_hash):
        self.execute("DELETE FROM pending_logins WHERE id_hash = ?", (id_hash,))

    # -- justifications and approvals -----------------------------------------------------------

    def save_justification(self, session_hash, policy, text):
        self.execute("INSERT OR REPLACE INTO justifications (session_hash, policy, text, time) VALUES (?, ?, ?, ?)",
                     (session_hash, policy, text, time.time()))

    def justification(self, session_hash, policy):
        """The text the session gave for ``policy``, or None."""
        row = self.one("SELECT text FROM justifications WHERE session_hash = ? AND policy = ?", (session_hash, policy))
        return row["text"] if row else None

    def expire_approval_requests(self, now):
        """Mark pending requests past their time expired; returns the rows this call expired."""
        expired = []
        for row in self.all("SELECT * FROM approval_requests WHERE status = 'pending' AND expires < ?", (now,)):
            if self.execute("UPDATE approval_requests SET status = 'expired', decided_at = ? WHERE id = ?"
                            " AND status = 'pending'", (now, row["id"])).rowcount:
                expired.append(row)
        return expired

    def add_approval_request(self, username, email, session_hash, policy, reason, path, lifetime, ip=""):
        """A pending request from client address ``ip`` that expires ``lifetime`` seconds from now; returns its id."""
        now = time.time()
        return self.execute(
            "INSERT INTO approval_requests (username, email, session_hash, policy, reason, path, created, expires, ip)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (username, email, session_hash, policy, reason, path, now, now + lifetime, ip)).lastrowid

    def approval_request(self, request_id):
        return self.one("SELECT * FROM approval_requests WHERE id = ?", (request_id,))

    def latest_approval_request(self, session_hash, policy):
        return self.one("SELECT * FROM approval_requests WHERE session_hash = ? AND policy = ? ORDER BY id DESC"
                        " LIMIT 1", (session_hash, policy))

    def pending_approval_requests(self, now):
        return self.all("SELECT * FROM approval_requests WHERE status = 'pending' AND expires >= ? ORDER BY id", (now,))

    def has_approval_grant(self, session_hash, policy, now):
        return self.one("SELECT 1 FROM approval_requests WHERE session_hash = ? AND policy = ? AND status = 'approved'"
                        " AND grant_expires > ?", (session_hash, policy, now)) is not None

    def add_approval_vote(self, request_id, approver, approver_email, decision, now):
        """Record one approver's vote; False when they already voted on this request."""
        return bool(self.execute(
            "INSERT OR IGNORE INTO approval_votes (request_id, approver, approver_email, decision, time)"
            " VALUES (?, ?, ?, ?, ?)", (request_id, approver, approver_email, decision, now)).rowcount)

    def approval_votes(self, request_id):
        return self.all("SELECT * FROM approval_votes WHERE request_id = ?", (request_id,))

    def decide_approval_request(self, request_id, status, now, grant_expires=None, by=""):
        """Move a pending request to ``status`` (approved, denied) decided ``by`` someone; False when it was no longer
        pending."""
        return bool(self.execute(
            "UPDATE approval_requests SET status = ?, decided_at = ?, grant_expires = ?, decided_by = ? WHERE id = ?"
            " AND status = 'pending'", (status, now, grant_expires, by, request_id)).rowcount)

    def live_approval_grants(self, now):
        """Approved requests whose grant has not run out (the approvers' page offers to revoke them)."""
        return self.all("SELECT * FROM approval_requests WHERE status = 'approved' AND grant_expires > ? ORDER BY id",
                        (now,))

    def revoke_approval_grant(self, request_id, now, by):
        """End a live grant now; False when it was not one (already revoked, run out, never approved)."""
        return bool(self.execute(
            "UPDATE approval_requests SET status = 'revoked', revoked_at = ?, decided_by = ? WHERE id = ?"
            " AND status = 'approved' AND grant_expires > ?", (now, by, request_id, now)).rowcount)

    # -- mail outbox (approvals by email) ------------------------------------------------------------

    def queue_mail(self, kind, request_id, recipient, subject, body, now):
        """One message owed to ``recipient``, due now; returns its id."""
        return self.execute(
            "INSERT INTO mail_outbox (created, kind, request_id, recipient, subject, body, next_attempt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (now, kind, request_id, recipient, subject, body, now)).lastrowid

    def due_mail(self, now, limit=20):
        """Queued messages whose next attempt is due, oldest first."""
        return self.all("SELECT * FROM mail_outbox WHERE status = 'queued' AND next_attempt <= ? ORDER BY"
                        " next_attempt, id LIMIT ?", (now, limit))

    def next_mail_due(self):
        """When the next queued message is due, or None when none is queued."""
        return self.one("SELECT MIN(next_attempt) FROM mail_outbox WHERE status = 'queued'")[0]

    def mail_sent(self, mail_id, now):
        """Mark a message sent; its body (a purpose, in the approvers' mail) is not kept once the relay has it: the
        audit log holds what happened."""
        self.execute("UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '',"
                     " body = '' WHERE id = ?", (now, mail_id))

    def mail_attempt_failed(self, mail_id, error, next_attempt):
        """Count a failed attempt; ``next_attempt`` None gives the message up (status failed)."""
        if next_attempt is None:
            self.execute("UPDATE mail_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?"
                         " WHERE id = ?", (error, mail_id))
        else:
            self.execute("UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?"
                         " WHERE id = ?", (error, next_attempt, mail_id))

    def requeue_mail(self, mail_id, now):
        """A failed message queued again with a fresh count (``oscar-gateway-admin outbox --retry``); False when
        there is no failed message with this id."""
        return bool(self.execute("UPDATE mail_outbox SET status = 'queued', attempts = 0, next_attempt = ?"
                                 " WHERE id = ? AND status = 'failed'", (now, mail_id)).rowcount)

    def outbox(self, include_sent=False):
        """The outbox for the admin command: what is queued or failed (and sent, with ``include_sent``), no bodies."""
        sql = ("SELECT id, created, kind, request_id, recipient, subject, status, attempts, next_attempt, last_error,"
               " sent_at FROM mail_outbox")
        if not include_sent:
            sql += " WHERE status != 'sent'"
        return self.all(sql + " ORDER BY id")

    def outbox_counts(self):
        """status -> number of messages, and the oldest queued message's creation time (for health reports)."""
        counts = {row["status"]: row["n"] for row in self.all(
            "SELECT status, COUNT(*) AS n FROM mail_outbox GROUP BY status")}
        oldest = self.one("SELECT MIN(created) FROM mail_outbox WHERE status = 'queued'")[0]
        return counts, oldest

    # -- audit ----------------------------------------------------------------------------------

    def audit(self, event, username="", ip="", method="", path="", policy="", **detail):
        """Append one audit record to SQLite and to the JSON-lines file. Paths never carry queries."""
        record = _record(time.time(), event, username, ip, method, path, policy, detail)
        with self.transaction() as conn:
            record_id, chain = _append(conn, record, None)
        self._mirror(record, detail, record_id, chain)
        return record_id

    def append_external(self, items):
        """Append records from another source into the chain, each once: ``items`` are dicts with ``source_key``,
        ``time``, ``event`` and optional ``username``, ``ip``, ``method``, ``path``, ``policy``, ``detail``. A
        record whose ``source_key`` is already stored is skipped. One transaction; returns (added, skipped)."""
        added, skipped = [], 0
        with self.transaction() as conn:
            for item in items:
                key = item["source_key"]
                if conn.execute("SELECT 1 FROM audit WHERE source_key = ?", (key,)).fetchone():
                    skipped += 1
                    continue
                detail = dict(item.get("detail") or {}, source_key=key)
                record = _record(item["time"], item["event"], item.get("username"), item.get("ip"),
                                 item.get("method"), item.get("path"), item.get("policy"), detail)
                record_id, chain = _append(conn, record, key)
                added.append((record, detail, record_id, chain))
        for entry in added:
            self._mirror(*entry)
        return len(added), skipped

    def latest_external_time(self, prefix):
        """The newest ``time`` among records whose ``source_key`` starts with ``prefix`` (``cloudflare:``), or None."""
        row = self.one("SELECT MAX(time) FROM audit WHERE source_key >= ? AND source_key < ?",
                       (prefix, prefix + "\uffff"))
        return row[0] if row else None

    def _mirror(self, record, detail, record_id, chain):
        """The record as one JSON line in the audit file, which rsyslog ships off the host (``offbox_line``)."""
        if not self.audit_jsonl:
            return
        data = (json.dumps(offbox_line(record, detail, record_id, chain), sort_keys=True, default=str) + "\n").encode(
            "utf-8")
        with self._jsonl_lock:
            fd = os.open(self.audit_jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    # -- WireGuard handshakes seen ----------------------------------------------------------------

    def wireguard_seen(self):
        """public key -> (last handshake time, endpoint) as last recorded."""
        return dict((r["public_key"], (r["last_handshake"], r["endpoint"]))
                    for r in self.all("SELECT * FROM wireguard_peers_seen"))

    def set_wireguard_seen(self, public_key, last_handshake, endpoint):
        self.execute("INSERT INTO wireguard_peers_seen (public_key, last_handshake, endpoint) VALUES (?, ?, ?)"
                     " ON CONFLICT(public_key) DO UPDATE SET last_handshake = excluded.last_handshake,"
                     " endpoint = excluded.endpoint", (public_key, last_handshake, endpoint))

    def audit_rows(self, since=None, until=None, limit=None):
        sql = "SELECT * FROM audit WHERE 1=1"
        params = []
        if since is not None:
            sql += " AND time >= ?"
            params.append(since)
        if until is not None:
            sql += " AND time < ?"
            params.append(until)
        sql += " ORDER BY id"
        if limit:
            sql += " LIMIT %d" % int(limit)
        return self.all(sql, params)

    def audit_record(self, record_id):
        """One audit record by its id (the first broken one of a chain check, an off-box copy's record), or None."""
        return self.one("SELECT * FROM audit WHERE id = ?", (record_id,))

    def audit_count(self, since=None):
        """How many audit records there are (with ``time`` at or after ``since``)."""
        if since is None:
            return self.one("SELECT COUNT(*) FROM audit")[0]
        return self.one("SELECT COUNT(*) FROM audit WHERE time >= ?", (since,))[0]

    def files(self):
        """The store's files on disk (the database, its write-ahead log, the JSON-lines copy) that exist."""
        paths = [self.path, self.path + "-wal", self.path + "-shm"] + ([self.audit_jsonl] if self.audit_jsonl else [])
        return [p for p in paths if os.path.exists(p)]

    def verify_copy(self, lines):
        """Check an off-box copy (``offbox_line`` dicts, in any order) against this store: each record must be here
        with the same place in the chain (``chain``), the same fields and the same detail (``detail_sha256``).
        Returns (records checked, [(id, what differs)], ids in the copy's range that the copy lacks)."""
        problems, seen = [], set()
        for line in lines:
            record_id = line.get("id")
            seen.add(record_id)
            row = self.audit_record(record_id) if isinstance(record_id, int) else None
            if row is None:
                problems.append((record_id, "not in the store"))
                continue
            differ = [f for f in AUDIT_FIELDS if f != "detail" and line.get(f) != row[f]]
            if line.get("chain") != row["chain"]:
                differ.append("chain")
            if line.get("detail_sha256") != _sha256(row["detail"]):
                differ.append("detail")
            if differ:
                problems.append((record_id, "differs in " + ", ".join(differ)))
        ids = sorted(i for i in seen if isinstance(i, int))
        missing = [r["id"] for r in self.all("SELECT id FROM audit WHERE id BETWEEN ? AND ? ORDER BY id",
                                             (ids[0], ids[-1]))
                   if r["id"] not in seen] if ids else []
        return len(seen), problems, missing

    def verify_audit_chain(self):
        """Return (rows checked, first bad id or None). Rows written before schema v2 have no chain. A record from
        another source must repeat its ``source_key`` in its chained detail."""
        previous = ""
        count = 0
        for row in self.all("SELECT * FROM audit ORDER BY id"):
            count += 1
            if row["source_key"] is not None and _detail_source_key(row["detail"]) != row["source_key"]:
                return count, row["id"]
            if not row["chain"]:
                continue
            record = {f: row[f] for f in AUDIT_FIELDS}
            if _chain(previous, record) != row["chain"]:
                return count, row["id"]
            previous = row["chain"]
        return count, None

    # -- reading for reports (oscar-gateway-admin report-export); read-only ---------------------

    def sessions_overlapping(self, since, until):
        """Sessions that were open at some time in [since, until): no id hash, which is a token's stand-in."""
        return self.all("SELECT username, created, last_activity, expires, mfa, amr, login_ip, revoked_at,"
                        " revoked_reason FROM sessions WHERE created < ? AND COALESCE(revoked_at, last_activity) >= ?"
                        " ORDER BY created", (until, since))

    def approval_requests_between(self, since, until):
        """Approval requests made in [since, until), each with its votes (who decided, how, when)."""
        requests = self.all("SELECT id, username, email, policy, reason, path, created, expires, status, decided_at,"
                            " grant_expires FROM approval_requests WHERE created >= ? AND created < ? ORDER BY id",
                            (since, until))
        return [(row, self.approval_votes(row["id"])) for row in requests]

    def last_activity_by_user(self):
        """username -> the last time the account signed in, was active in a session or reached OSCAR."""
        rows = self.all("SELECT username, MAX(t) AS last FROM (SELECT username, last_activity AS t FROM sessions"
                        " UNION ALL SELECT username, time AS t FROM audit WHERE event IN ('login', 'access'))"
                        " GROUP BY username")
        return {row["username"]: row["last"] for row in rows}

    def last_audit_time_by_detail(self, event, key):
        """detail[key] -> the time of the last ``event`` record carrying it (for example a WireGuard peer's name)."""
        rows = self.all("SELECT json_extract(detail, '$.' || ?) AS k, MAX(time) AS last FROM audit WHERE event = ?"
                        " GROUP BY k", (key, event))
        return {row["k"]: row["last"] for row in rows if row["k"] is not None}


def offbox_line(record, detail, record_id, chain):
    """The JSON-lines form of a record: every chained field but the detail, which comes with its SHA-256
    (``detail_sha256``, so the copy verifies against the chain: ``Store.verify_copy``) and with typed free text
    replaced by its SHA-256 (TYPED_TEXT). Paths never carry a query; no record holds a secret."""
    shown = dict(detail)
    for key in TYPED_TEXT.get(record["event"], ()):
        if key in shown:
            shown[key + "_sha256"] = _sha256(str(shown.pop(key)))
    line = dict((f, record[f]) for f in AUDIT_FIELDS if f != "detail")
    line.update(id=record_id, detail=shown, detail_sha256=_sha256(record["detail"]), iso_time=_iso(record["time"]),
                chain=chain)
    return line


def _sha256(text):
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


def _record(when, event, username, ip, method, path, policy, detail):
    """The chained fields of one record; a path loses its query string (it may name a patient)."""
    return {
        "time": float(when), "event": event, "username": username or "", "ip": ip or "", "method": method or "",
        "path": (path or "").split("?", 1)[0], "policy": policy or "",
        "detail": json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str),
    }


def _append(conn, record, source_key):
    """Insert ``record`` after the last row of the chain (inside the caller's transaction); (id, chain)."""
    row = conn.execute("SELECT chain FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    chain = _chain(row[0] if row else "", record)
    cursor = conn.execute(
        "INSERT INTO audit (time, event, username, ip, method, path, policy, detail, chain, source_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*tuple(record[f] for f in AUDIT_FIELDS), chain, source_key))
    return cursor.lastrowid, chain


def _detail_source_key(text):
    try:
        detail = json.loads(text or "{}")
    except ValueError:
        return None
    return detail.get("source_key") if isinstance(detail, dict) else None


def _chain(previous, record):
    canonical = json.dumps([previous] + [record[f] for f in AUDIT_FIELDS], separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _iso(when):
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec="milliseconds")


class _Transaction:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False
