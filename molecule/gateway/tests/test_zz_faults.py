"""Faults: the gateway's process is killed with SIGKILL while a signed-in user works through the front door.

Runs after test_gateway.py (file name). The gateway keeps sessions and its audit log in SQLite, so a crash must cost
nothing but the seconds it takes systemd to start it again: the same session still reaches OSCAR, and the audit hash
chain still verifies with the admin command, every row written before the crash still there.
"""

import json
import time
import uuid

import test_gateway as gw
from test_gateway import BASE, Client, admin, records, run

# test_gateway's fixtures, used here too: each front door, and drsmith signed in there (password and TOTP).
front = gw.front
signed_in = gw.signed_in

UNIT = "oscar-gateway.service"
# RestartSec (2 s) and a Python start (well under a second on a quiet machine), with room for a busy 2-core machine.
BACK_WITHIN = 20


def prop(front, name):
    return run(front, "systemctl show %s --property=%s --value" % (UNIT, name)).stdout.strip()


def audit_rows(front):
    return [json.dumps(row, sort_keys=True) for row in json.loads(admin(front, "audit --format json").stdout)]


def test_the_unit_restarts_on_failure_with_a_start_limit(front):
    assert prop(front, "Restart") == "on-failure"
    assert prop(front, "RestartUSec") == "2s"
    assert prop(front, "StartLimitBurst") == "5"
    assert prop(front, "StartLimitIntervalUSec") == "5min"


def test_a_killed_gateway_comes_back_and_the_session_and_audit_chain_survive(front, signed_in):
    mark = uuid.uuid4().hex[:12]
    status, _, _ = signed_in.request("/oscar/index.jsp?before=" + mark)
    assert status == 200
    before = audit_rows(front)
    assert before, "the sign-in left audit rows"
    old_pid, restarts = prop(front, "MainPID"), int(prop(front, "NRestarts"))

    run(front, "kill -9 %s" % old_pid)
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        assert elapsed < BACK_WITHIN, "the gateway was not back within %d s (%s/%s)" % (
            BACK_WITHIN, prop(front, "ActiveState"), prop(front, "SubState"))
        if prop(front, "ActiveState") == "active" and prop(front, "MainPID") not in ("0", old_pid):
            status, _, body = signed_in.request("/oscar/index.jsp?after=" + mark)
            if status == 200:
                break
        time.sleep(0.5)

    assert int(prop(front, "NRestarts")) == restarts + 1
    # The session made before the crash still works (no new sign-in), as the same user.
    seen = [r for r in records(front) if "after=" + mark in json.dumps(r)]
    assert seen and seen[-1]["headers"]["Remote-User"] == "drsmith", body
    # A request without a session is still sent to the login page: the restarted gateway decides, not a fallback.
    status, headers, _ = Client(front).request("/oscar/index.jsp")
    assert status == 302 and headers["location"].startswith(BASE + "/_gateway/login")
    # Nothing lost from the audit log, and its chain verifies.
    after = audit_rows(front)
    assert set(before) <= set(after)
    verify = admin(front, "audit --verify", check=False)
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr
