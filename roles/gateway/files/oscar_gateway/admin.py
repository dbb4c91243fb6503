"""Host administration: ``oscar-gateway-admin`` / ``python3 -m oscar_gateway.admin``.

Users, passwords (read from the terminal or standard input, never from the command line), TOTP
resets, session revocation and listing, the audit log for a period, the approval mail's outbox, schema migration,
records from Cloudflare Access and WireGuard appended to the audit chain (``ingest``, from standard input), and the
export the monthly access report is made from (``report-export``). Every change is written to the audit log with
the operator's login name.
"""

import argparse
import datetime
import getpass
import hashlib
import json
import os
import pwd
import sqlite3
import sys
import time

from . import _shared, audit_guard, config, ingest, security, store


def _operator():
    try:
        name = os.getlogin()
    except OSError:
        name = pwd.getpwuid(os.getuid()).pw_name
    return "admin:" + (os.environ.get("SUDO_USER") or name)


def _parse_time(text):
    if text is None:
        return None
    text = text.strip()
    now = time.time()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        return now - int(text[:-1]) * units[text[-1]]
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SystemExit("cannot read time %r (ISO 8601 like 2025-01-31T08:00 or relative like 24h, 7d)" % text) \
            from exc
    if when.tzinfo is None:
        when = when.astimezone()
    return when.timestamp()


def _iso(value):
    if value is None:
        return ""
    return datetime.datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")


class Admin:
    def __init__(self, cfg):
        self.cfg = cfg
        self.store = store.Store(cfg["database"], cfg["audit_jsonl"], log=lambda m: sys.stderr.write(m + "\n"))
        self.operator = _operator()

    def user(self, username):
        row = self.store.user(username)
        if row is None:
            raise SystemExit("no such user: %s" % username)
        return row

    def revoke(self, username, reason):
        return self.store.revoke_sessions(reason, self.operator, username or None)


def _read_password(args):
    if sys.stdin.isatty():
        first = getpass.getpass("New password for %s: " % args.username)
        second = getpass.getpass("Repeat: ")
        if first != second:
            raise SystemExit("passwords differ")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise SystemExit("password too short (at least 12 characters)")
    if len(password) > 1024:
        raise SystemExit("password too long")
    return password


def cmd_user_add(admin, args):
    if not _shared.gateway_config_module().USERNAME_RE.match(args.username):
        raise SystemExit("user names are lower-case letters, digits, '.', '_' or '-'")
    if not admin.store.add_user(args.username, args.name or args.username, (args.email or "").lower(),
                                args.role or "", "admin"):
        raise SystemExit("user %s exists" % args.username)
    admin.store.audit("user_added", username=args.username, by=admin.operator)
    print("added %s; set a password with: oscar-gateway-admin set-password %s" % (args.username, args.username))


def cmd_user_disable(admin, args):
    admin.user(args.username)
    admin.store.set_admin_disabled(args.username, True)
    count = admin.revoke(args.username, "user disabled")
    admin.store.audit("user_disabled", username=args.username, by=admin.operator)
    print("disabled %s; %d session(s) revoked" % (args.username, count))


def cmd_user_enable(admin, args):
    admin.user(args.username)
    admin.store.set_admin_disabled(args.username, False)
    admin.store.audit("user_enabled", username=args.username, by=admin.operator)
    print("enabled %s (the inventory must list it as enabled too)" % args.username)


def cmd_set_password(admin, args):
    admin.user(args.username)
    password = _read_password(args)
    argon = admin.cfg["login"]["argon2"]
    hashed = security.Passwords(**argon).hash(password)
    admin.store.set_password_hash(args.username, hashed)
    admin.store.audit("password_set", username=args.username, by=admin.operator)
    count = admin.revoke(args.username, "password changed")
    print("password set for %s; %d session(s) revoked" % (args.username, count))


def cmd_reset_totp(admin, args):
    admin.user(args.username)
    admin.store.reset_totp(args.username)
    admin.store.audit("mfa_reset", username=args.username, by=admin.operator)
    count = admin.revoke(args.username, "TOTP reset")
    print("TOTP reset for %s (enrols again at next sign-in); %d session(s) revoked" % (args.username, count))


def cmd_passkeys(admin, args):
    admin.user(args.username)
    mode = admin.store.passkey_sign_in(args.username)
    items = [{"id": r["credential_id"][:16], "name": r["name"], "created": _iso(r["created"]),
              "last_used": _iso(r["last_used"]), "sign_count": r["sign_count"], "sign_in": mode}
             for r in admin.store.passkeys(args.username)]
    _output(items, args.format, ("id", "name", "created", "last_used", "sign_count", "sign_in"))


def cmd_passkey_remove(admin, args):
    admin.user(args.username)
    if not args.all and len(args.id or "") < 6:
        raise SystemExit("give the passkey's id (at least 6 characters, as `passkeys` lists it) or --all")
    prefix = "" if args.all else args.id
    matching = [r for r in admin.store.passkeys(args.username) if r["credential_id"].startswith(prefix)]
    if not args.all and len(matching) != 1:
        raise SystemExit("%d passkeys of %s start with %r; give more of the id"
                         % (len(matching), args.username, args.id))
    count = admin.store.remove_passkeys(args.username, prefix)
    admin.store.audit("passkey_removed", username=args.username, by=admin.operator, count=count,
                      credential=prefix[:12] or "*")
    sessions = admin.revoke(args.username, "passkey removed")
    print("%d passkey(s) of %s removed (now signs in with %s); %d session(s) revoked"
          % (count, args.username, admin.store.passkey_sign_in(args.username), sessions))


def cmd_passkey_sign_in(admin, args):
    admin.user(args.username)
    if not admin.store.set_passkey_sign_in(args.username, args.mode):
        raise SystemExit("%s has no passkey; only 'off' is possible" % args.username)
    admin.store.audit("passkey_sign_in_set", username=args.username, by=admin.operator, mode=args.mode)
    print("%s signs in with: %s" % (args.username, {
        "off": "password and a second step", "on": "a passkey alone, or password and a second step",
        "only": "a passkey alone"}[args.mode]))


def cmd_unlock(admin, args):
    for key in (["user:" + args.username] if args.username else []) + (["ip:" + args.ip] if args.ip else []):
        admin.store.clear_login_key(key)
        admin.store.audit("unlocked", username=args.username or "", ip=args.ip or "", by=admin.operator)
    print("unlocked")


def cmd_revoke(admin, args):
    if not args.all and not args.user:
        raise SystemExit("give --user NAME or --all")
    count = admin.revoke(None if args.all else args.user, "revoked by administrator")
    print("%d session(s) revoked" % count)


def cmd_sessions(admin, args):
    rows = admin.store.live_sessions(admin.cfg["sessions"]["inactivity_seconds"])
    items = [{"username": r["username"], "created": _iso(r["created"]), "last_activity": _iso(r["last_activity"]),
              "expires": _iso(r["expires"]), "mfa": bool(r["mfa"]), "login_ip": r["login_ip"]} for r in rows]
    _output(items, args.format, ("username", "login_ip", "mfa", "created", "last_activity", "expires"))


def cmd_users(admin, args):
    rows = admin.store.users()
    items = [{"username": r["username"], "display_name": r["display_name"], "email": r["email"], "role": r["role"],
              "enabled": bool(r["enabled"]) and not r["admin_disabled"], "source": r["source"],
              "expires": r["expires"] or "", "expired": store.account_expired(r["expires"]),
              "password": bool(r["password_hash"]), "totp": bool(r["totp_secret"])} for r in rows]
    _output(items, args.format,
            ("username", "display_name", "email", "role", "enabled", "expires", "expired", "password", "totp"))


def _copy_lines(path):
    """The records of an off-box copy: JSON lines, or syslog lines (RFC 5424) whose message is one."""
    lines = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            start = text.find("{")
            if start < 0:
                continue
            try:
                lines.append(json.loads(text[start:]))
            except ValueError:
                raise SystemExit("%s line %d: not an audit record" % (path, number)) from None
    return lines


def cmd_audit(admin, args):
    if args.verify_copy:
        checked, problems, missing = admin.store.verify_copy(_copy_lines(args.verify_copy))
        for record_id, what in problems:
            print("record %s: %s" % (record_id, what))
        if missing:
            print("the copy lacks %d record(s) of its range: %s" % (len(missing), ", ".join(map(str, missing[:20]))))
        if problems or missing:
            return 1
        print("copy matches the audit chain (%d records)" % checked)
        return 0
    if args.verify:
        count, bad = admin.store.verify_audit_chain()
        if bad is not None:
            print("audit chain BROKEN at row %d (of %d checked)" % (bad, count))
            return 1
        print("audit chain intact (%d rows)" % count)
        return 0
    rows = admin.store.audit_rows(_parse_time(args.since), _parse_time(args.until))
    items = []
    for r in rows:
        if args.user and r["username"] != args.user:
            continue
        if args.event and r["event"] != args.event:
            continue
        items.append({"id": r["id"], "time": _iso(r["time"]), "event": r["event"], "username": r["username"],
                      "ip": r["ip"], "method": r["method"], "path": r["path"], "policy": r["policy"],
                      "detail": json.loads(r["detail"] or "{}")})
    _output(items, args.format, ("time", "event", "username", "ip", "method", "path", "policy", "detail"))
    return 0


def cmd_outbox(admin, args):
    """The approval mail the gateway owes: queued (with the last error of a failed attempt) and given up; with
    --all the sent ones too. ``--retry ID`` queues a given-up message again (after fixing the relay settings)."""
    if args.retry is not None:
        if not admin.store.requeue_mail(args.retry, time.time()):
            raise SystemExit("no given-up message #%d in the outbox" % args.retry)
        admin.store.audit("mail_requeued", mail_id=args.retry, by=admin.operator)
        print("message #%d queued again; the gateway sends it within a few seconds" % args.retry)
        return 0
    items = [{"id": r["id"], "created": _iso(r["created"]), "kind": r["kind"], "request": r["request_id"],
              "recipient": r["recipient"], "status": r["status"], "attempts": r["attempts"],
              "next_attempt": _iso(r["next_attempt"]) if r["status"] == "queued" else "",
              "sent": _iso(r["sent_at"]), "last_error": r["last_error"]}
             for r in admin.store.outbox(include_sent=args.all)]
    _output(items, args.format, ("id", "created", "kind", "request", "recipient", "status", "attempts",
                                 "next_attempt", "last_error"))
    # Non-zero when a message was given up: monitoring and the fleet's health check can see it.
    return 1 if any(item["status"] == "failed" for item in items) else 0


EXPORT_FORMAT = 1


def month_bounds(period):
    """(start, end) of the UTC calendar month ``YYYY-MM`` as POSIX times."""
    try:
        start = datetime.datetime.strptime(period, "%Y-%m").replace(tzinfo=datetime.timezone.utc)
    except ValueError as exc:
        raise SystemExit("period %r is not a month like 2026-11" % period) from exc
    end = (start + datetime.timedelta(days=32)).replace(day=1)
    return start.timestamp(), end.timestamp()


def report_export(store_, cfg, since, until):
    """Everything the access report needs for [since, until), read through the store's read methods: no password
    hashes, TOTP secrets, session ids or keys. Chain verification covers the whole audit log, not just the period."""
    checked, broken = store_.verify_audit_chain()
    broken_row = store_.audit_record(broken) if broken is not None else None

    def audit_item(row):
        return {"id": row["id"], "time": row["time"], "event": row["event"], "username": row["username"],
                "ip": row["ip"], "method": row["method"], "path": row["path"], "policy": row["policy"],
                "detail": json.loads(row["detail"] or "{}")}

    return {
        "format": EXPORT_FORMAT, "generated": time.time(), "since": since, "until": until,
        "mode": cfg["mode"], "clinic_name": cfg.get("clinic_name", ""),
        "inactivity_seconds": cfg["sessions"]["inactivity_seconds"],
        "chain": {"checked": checked, "first_broken_id": broken,
                  "first_broken": audit_item(broken_row) if broken_row is not None else None},
        "audit": [audit_item(r) for r in store_.audit_rows(since, until)],
        "sessions": [dict(dict(r), amr=json.loads(r["amr"] or "[]"))
                     for r in store_.sessions_overlapping(since, until)],
        "approvals": [dict(dict(req), votes=[{"approver": v["approver"], "approver_email": v["approver_email"],
                                              "decision": v["decision"], "time": v["time"]} for v in votes])
                      for req, votes in store_.approval_requests_between(since, until)],
        "users": [{"username": r["username"], "display_name": r["display_name"], "email": r["email"],
                   "role": r["role"], "enabled": bool(r["enabled"]) and not r["admin_disabled"],
                   "source": r["source"], "created": r["created"], "expires": r["expires"]}
                  for r in store_.users()],
        "last_activity": store_.last_activity_by_user(),
        "peer_last_handshake": store_.last_audit_time_by_detail(ingest.WIREGUARD_HANDSHAKE_EVENT, "peer"),
    }


def cmd_report_export(admin, args):
    if args.period:
        since, until = month_bounds(args.period)
    else:
        since, until = _parse_time(args.since), _parse_time(args.until)
        if since is None or until is None:
            raise SystemExit("give --period YYYY-MM, or --since and --until")
    json.dump(report_export(admin.store, admin.cfg, since, until), sys.stdout, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


def cmd_preserve(admin, args):
    """A timestamped copy of the whole database (SQLite online backup, mode 0600) in ``--dest``, its audit chain
    verified in the copy; prints what was kept as JSON. For a suspected breach (playbooks/lockdown.yml)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    old_umask = os.umask(0o077)
    try:
        os.makedirs(args.dest, mode=0o700, exist_ok=True)
        target = os.path.join(args.dest, "gateway-%s.db" % stamp)
        source, copy = sqlite3.connect(admin.cfg["database"]), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    finally:
        os.umask(old_umask)
    preserved = store.Store(target)
    checked, broken = preserved.verify_audit_chain()
    preserved.conn().close()
    with open(target, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    kept = {"path": target, "audit_records": checked, "chain_intact": broken is None, "first_broken_id": broken,
            "sha256": digest}
    admin.store.audit("audit_preserved", by=admin.operator, **kept)
    json.dump(kept, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if broken is None else 1


def cmd_ingest(admin, args):
    """Append records from standard input to the audit chain, each once; prints what happened as JSON."""
    if args.source == "cloudflare":
        if args.cursor:
            latest = admin.store.latest_external_time(ingest.CLOUDFLARE)
            print(json.dumps({"latest": _utc(latest) if latest is not None else None,
                              "next_since": _utc(latest - ingest.CLOUDFLARE_OVERLAP) if latest is not None else None}))
            return 0
        try:
            items, refused = ingest.cloudflare_items(json.load(sys.stdin))
        except ValueError as error:
            raise SystemExit("oscar-gateway-admin ingest cloudflare: %s" % error) from None
        added, skipped = admin.store.append_external(items)
        report = {"added": added, "duplicates": skipped, "refused": [{"index": i, "reason": r} for i, r in refused]}
    else:
        if not args.interface:
            raise SystemExit("give --interface NAME (the WireGuard interface the input came from)")
        try:
            looks = [ingest.parse_wireguard(text) for text in ingest.split_looks(sys.stdin.read())]
        except ingest.IngestError as error:
            raise SystemExit("oscar-gateway-admin ingest wireguard: %s" % error) from None
        added = skipped = 0
        for peers in looks:  # in the order they were taken: each decides against what the previous ones left
            items, remember = ingest.wireguard_items(peers, admin.store.wireguard_seen(), args.interface)
            new, old = admin.store.append_external(items)
            added, skipped = added + new, skipped + old
            for key, (handshake, endpoint) in remember.items():
                admin.store.set_wireguard_seen(key, handshake, endpoint)
        report = {"added": added, "duplicates": skipped, "peers": len(looks[-1]) if looks else 0,
                  "looks": len(looks)}
    print(json.dumps(report, sort_keys=True))
    return 1 if report.get("refused") else 0


def cmd_audit_guard(admin, args):
    """Warn well before the audit store could fill its disk (audit_guard.py); prints JSON, exits 1 on a warning."""
    files = admin.store.files()
    disk = os.statvfs(os.path.dirname(os.path.abspath(admin.store.path)))
    audit_cfg = admin.cfg["audit"]
    warnings, figures = audit_guard.assess(
        sum(os.path.getsize(p) for p in files), admin.store.audit_count(),
        admin.store.audit_count(time.time() - audit_guard.MONTH_DAYS * 86400), disk.f_bavail * disk.f_frsize,
        disk.f_blocks * disk.f_frsize, audit_cfg["retention_days"], audit_cfg["disk_warn_days"])
    if warnings:
        sys.stderr.write("".join("oscar-gateway-admin audit-guard: WARNING: %s\n" % w for w in warnings))
        try:
            admin.store.audit("audit_disk_warning", by="audit-guard", warnings=warnings, **figures)
        except Exception as error:  # noqa: BLE001 - a full disk must not hide the warning itself
            sys.stderr.write("oscar-gateway-admin audit-guard: could not audit the warning: %s\n" % error)
    print(json.dumps({"status": "warning" if warnings else "ok", "warnings": warnings, **figures}, sort_keys=True))
    return 1 if warnings else 0


def _utc(value):
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(timespec="seconds")


def cmd_migrate(admin, args):
    print("database at schema v%d" % admin.store.schema_version())


def _output(items, fmt, columns):
    if fmt == "json":
        json.dump(items, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    cells = [[_cell(item.get(c)) for c in columns] for item in items]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(columns)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())


def _cell(value):
    if isinstance(value, dict):
        return " ".join("%s=%s" % (k, v) for k, v in sorted(value.items()))[:120]
    return "" if value is None else str(value)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="oscar-gateway-admin", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--config", default=os.environ.get("OSCAR_GATEWAY_CONFIG", "/etc/oscar-gateway/config.json"))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("user-add", help="add a user (not from the inventory)")
    p.add_argument("username")
    p.add_argument("--name")
    p.add_argument("--email")
    p.add_argument("--role")
    p.set_defaults(func=cmd_user_add)
    for name, func in (("user-disable", cmd_user_disable), ("user-enable", cmd_user_enable),
                       ("set-password", cmd_set_password), ("reset-totp", cmd_reset_totp)):
        p = sub.add_parser(name)
        p.add_argument("username")
        p.set_defaults(func=func)
    p = sub.add_parser("passkeys", help="list a user's passkeys and security keys")
    p.add_argument("username")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_passkeys)
    p = sub.add_parser("passkey-remove", help="remove a user's passkey (revokes their sessions)")
    p.add_argument("username")
    p.add_argument("id", nargs="?", help="the passkey's id, or its start, as `passkeys` lists it")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_passkey_remove)
    p = sub.add_parser("passkey-sign-in", help="how a user with a passkey signs in: off (password and second "
                       "step), on (also a passkey alone), only (a passkey alone; password and TOTP refused)")
    p.add_argument("username")
    p.add_argument("mode", choices=("off", "on", "only"))
    p.set_defaults(func=cmd_passkey_sign_in)
    p = sub.add_parser("unlock", help="lift a brute-force ban")
    p.add_argument("--username")
    p.add_argument("--ip")
    p.set_defaults(func=cmd_unlock)
    p = sub.add_parser("revoke", help="end sessions now")
    p.add_argument("--user")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_revoke)
    for name, func in (("sessions", cmd_sessions), ("users", cmd_users)):
        p = sub.add_parser(name)
        p.add_argument("--format", choices=("table", "json"), default="table")
        p.set_defaults(func=func)
    p = sub.add_parser("audit", help="show the audit log for a period")
    p.add_argument("--since", help="ISO time or relative (24h, 7d); default: everything")
    p.add_argument("--until")
    p.add_argument("--user")
    p.add_argument("--event")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--verify", action="store_true", help="check the audit hash chain")
    p.add_argument("--verify-copy", metavar="FILE",
                   help="check an off-box copy (JSON or syslog lines) against the chain")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("report-export", help="JSON for the monthly access report (no secrets), on standard output")
    p.add_argument("--period", help="a UTC calendar month, YYYY-MM")
    p.add_argument("--since")
    p.add_argument("--until")
    p.set_defaults(func=cmd_report_export)
    p = sub.add_parser("preserve", help="a verified, timestamped copy of the database (for a suspected breach)")
    p.add_argument("--dest", required=True, help="directory for the copy (created 0700)")
    p.set_defaults(func=cmd_preserve)
    p = sub.add_parser("ingest", help="append Cloudflare Access log records (JSON) or WireGuard handshakes "
                                      "(wg show output) from standard input to the audit chain, each once")
    p.add_argument("source", choices=("cloudflare", "wireguard"))
    p.add_argument("--cursor", action="store_true",
                   help="cloudflare: print the time of the newest record held and where the next pull starts")
    p.add_argument("--interface", help="wireguard: the interface the input came from")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("audit-guard", help="warn when the audit store could fill its disk (run daily by a timer)")
    p.set_defaults(func=cmd_audit_guard)
    p = sub.add_parser("outbox", help="the approval mail queued, given up (and with --all, sent)")
    p.add_argument("--all", action="store_true", help="the sent messages too")
    p.add_argument("--retry", type=int, metavar="ID", help="queue a given-up message again")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_outbox)
    p = sub.add_parser("migrate", help="bring the database schema up to date (backs it up first)")
    p.set_defaults(func=cmd_migrate)
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        sys.stderr.write("oscar-gateway-admin: %s\n" % exc)
        return 2
    result = args.func(Admin(cfg), args)
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
