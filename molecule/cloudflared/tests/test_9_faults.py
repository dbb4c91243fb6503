"""Faults: the OSCAR host's connector is killed with SIGKILL (the last test file: the Pi's connector is removed by
test_2_changes.py, the OSCAR host's keeps running).

The connector here is the scenario's TEST DOUBLE of cloudflared, which test_2_changes.py's ready-path test left on
the OSCAR host (a real connector pinned to a local edge never reports ready, so it cannot show "back and ready"), run
by the role's own unit: what is tested is that unit's restart policy, and that the connector comes back with the
same tunnel, credentials and settings, reporting ready, and still without its secret on the process list.
"""

import json
import time

from conftest import OSCAR, container, double_info, leaks, service_property

UNIT = "cloudflared.service"
# RestartSec (5 s) and a start until ready (under a second for the double), with room for a busy 2-core machine.
BACK_WITHIN = 30


def test_the_units_restart_policy():
    host = container(OSCAR)
    assert service_property(host, "Restart") == "on-failure"
    assert service_property(host, "RestartUSec") == "5s"
    # No start limit is reached at this pace (5 starts in 10 s, systemd's default): a connector keeps trying through
    # an outage of the clinic's internet link, and comes back when it ends.
    assert service_property(host, "StartLimitBurst") == "5"
    assert service_property(host, "StartLimitIntervalUSec") == "10s"


def test_a_killed_connector_comes_back_ready_with_the_same_tunnel_and_settings():
    host = container(OSCAR)
    before = double_info(host)
    assert before["ready"]
    old_pid, restarts = service_property(host, "MainPID"), int(service_property(host, "NRestarts"))

    host.check_output("kill -9 %s", old_pid)
    start = time.monotonic()
    while True:
        assert time.monotonic() - start < BACK_WITHIN, "cloudflared was not back within %d s: %s/%s" % (
            BACK_WITHIN, service_property(host, "ActiveState"), service_property(host, "SubState"))
        pid = service_property(host, "MainPID")
        if service_property(host, "ActiveState") == "active" and pid not in ("0", old_pid):
            answer = host.run("curl -sf http://127.0.0.1:20241/testdouble")
            if answer.rc == 0 and json.loads(answer.stdout)["ready"]:
                break
        time.sleep(0.5)

    after = double_info(host)
    assert int(service_property(host, "NRestarts")) == restarts + 1
    assert after["connectorId"] != before["connectorId"], "a new process, not the old one answering"
    same = ("tunnelID", "credentialSource", "protocol", "configFile", "uid", "noAutoupdate", "metrics", "version")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    assert not leaks(host.check_output("ps -eo args --no-headers"))
