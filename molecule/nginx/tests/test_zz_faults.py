"""Faults: nginx's master process is killed with SIGKILL while the front door is in use.

Runs after the front-door tests (file name), since it restarts nginx. Debian's nginx.service has no restart policy;
the role's drop-in gives it one, so the front door must come back by itself, and a crash loop must end in a failed
unit rather than flap forever.
"""

import time

from frontdoor import curl, run

FRONT = "nginx-oscar"
CLIENT = "nginx-client"
NAME = "emr.clinic.test"
CA = "/tmp/clinic-ca.crt"
UNIT = "nginx.service"
DROP_IN = "/etc/systemd/system/nginx.service.d/oscar-restart.conf"
# RestartSec (2 s), systemd stopping the orphaned workers and a new start, with room for a busy 2-core machine.
BACK_WITHIN = 30


def prop(name):
    return run(FRONT, "systemctl show %s --property=%s --value" % (UNIT, name)).stdout.strip()


def client(path):
    run(CLIENT, "test -s %s || cat > %s" % (CA, CA), stdin=run(FRONT, "cat /etc/oscar-remote-access/ca/ca.crt").stdout)
    return curl(CLIENT, "--cacert", CA, "--max-time", "3", "--connect-to", "%s:443:%s:443" % (NAME, FRONT),
                "https://%s%s" % (NAME, path))


def wait_for_new_master(old_pid, within):
    """Seconds until nginx runs under a master other than old_pid and the client gets OSCAR's page through it."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        pid = prop("MainPID")
        if prop("ActiveState") == "active" and pid not in ("0", old_pid) and client("/oscar/index.jsp").status == 200:
            return time.monotonic() - start, pid
        time.sleep(0.5)
    raise AssertionError("nginx was not back within %d s: %s/%s, Result=%s" % (
        within, prop("ActiveState"), prop("SubState"), prop("Result")))


def nginx_processes():
    """(pid, ppid) of every nginx process on the host."""
    out = run(FRONT, "ps -C nginx -o pid=,ppid=").stdout.split()
    return list(zip(out[::2], out[1::2]))


HARDENING = "/etc/systemd/system/nginx.service.d/oscar-hardening.conf"
# What the sandbox must leave nginx, as the kernel names them in /proc/<pid>/status's CapBnd bit mask.
NGINX_CAPABILITIES = {"cap_chown": 0, "cap_dac_override": 1, "cap_kill": 5, "cap_setgid": 6, "cap_setuid": 7,
                      "cap_net_bind_service": 10}


def test_the_running_master_is_sandboxed_by_the_roles_drop_in():
    """Not only the unit's settings: the running master (restarted by the role when the drop-in came) has only
    nginx's capabilities, no way to gain privileges and a system-call filter, and systemd rates the unit's exposure
    low. The file-system settings (ProtectSystem=full...) are checked as settings only: in these rootless containers
    systemd cannot make mount namespaces and says so in the journal, while on a clinic host it applies them."""
    assert HARDENING in prop("DropInPaths").split()
    assert prop("NoNewPrivileges") == "yes"
    assert prop("ProtectSystem") == "full"
    status = run(FRONT, "cat /proc/%s/status" % prop("MainPID")).stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    bounding = int(fields["CapBnd"].strip(), 16)
    assert bounding == sum(1 << bit for bit in NGINX_CAPABILITIES.values()), hex(bounding)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # a filter is installed (SystemCallFilter=@system-service)
    exposure = run(FRONT, "systemd-analyze security nginx.service --no-pager | tail -1").stdout
    assert float(exposure.split("level for nginx.service:")[1].split()[0]) < 5.0, exposure


def test_the_roles_drop_in_gives_nginx_a_restart_policy_and_a_start_limit():
    assert DROP_IN in prop("DropInPaths").split()
    assert prop("NeedDaemonReload") == "no"
    assert prop("Restart") == "on-failure"
    assert prop("RestartUSec") == "2s"
    assert prop("StartLimitBurst") == "5"
    assert prop("StartLimitIntervalUSec") == "5min"
    # The distribution's unit is otherwise untouched: still validated before start and reloaded, not restarted.
    assert "nginx -t -q" in prop("ExecStartPre")
    assert "-s reload" in prop("ExecReload")


def test_a_killed_master_comes_back_by_itself_and_serves_the_same_policy():
    assert client("/oscar/index.jsp").status == 200
    old_pid, restarts = prop("MainPID"), int(prop("NRestarts"))
    run(FRONT, "kill -9 %s" % old_pid)
    elapsed, new_pid = wait_for_new_master(old_pid, BACK_WITHIN)
    assert elapsed < BACK_WITHIN
    assert int(prop("NRestarts")) == restarts + 1
    # No orphaned worker of the killed master is left holding the ports: every nginx process is the new one's.
    assert all(pid == new_pid or ppid == new_pid for pid, ppid in nginx_processes()), nginx_processes()
    # The same configuration is live: dangerous paths still refused, the front door still TLS with the clinic CA.
    assert client("/manager/html").status == 404
    assert client("/oscar/monitoring").status == 404


def after_kill(old_pid, within):
    """'restarted' once nginx runs under a new master, 'gave up' once systemd refuses to start it again."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        # Between a crash and its restart the unit is "activating" (auto-restart); "failed" means systemd gave up.
        if prop("ActiveState") == "failed":
            return "gave up"
        if prop("ActiveState") == "active" and prop("MainPID") not in ("0", old_pid):
            return "restarted"
        time.sleep(0.3)
    raise AssertionError("neither restarted nor given up within %d s" % within)


def test_a_crash_loop_ends_in_a_failed_unit_instead_of_flapping_forever():
    since = run(FRONT, "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    outcomes = []
    while not outcomes or outcomes[-1] == "restarted":
        assert len(outcomes) < 6, "still restarting after %d kills in a row (StartLimitBurst=5)" % len(outcomes)
        pid = prop("MainPID")
        run(FRONT, "kill -9 %s" % pid)
        outcomes.append(after_kill(pid, BACK_WITHIN))
    assert outcomes[-1] == "gave up" and len(outcomes) <= 5, outcomes
    # The start limit, not a failing start, is what stopped it (systemd 252 keeps Result=signal then).
    journal = run(FRONT, "journalctl -u %s --since '%s' --no-pager" % (UNIT, since)).stdout
    assert "Start request repeated too quickly" in journal, journal[-2000:]
    assert client("/oscar/index.jsp").rc != 0
    # What an operator (or the next run of the role, once the interval has passed) does: the front door is back.
    run(FRONT, "systemctl reset-failed %s && systemctl start %s" % (UNIT, UNIT))
    assert client("/oscar/index.jsp").status == 200
