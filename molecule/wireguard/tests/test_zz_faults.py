"""Faults: the Pi's wireguard-go (the test bed's kernel has no WireGuard) is killed with SIGKILL.

Runs after test_wireguard.py (file name): it restarts wg0, which would reset the counters that file checks. Debian's
wg-quick unit would stay active with the interface gone; the role's drop-in makes wireguard-go the unit's main
process, so the interface must come back by itself, with the same key and peers, and the laptop must reach the front
door through the tunnel again.
"""

import time

import pytest
import test_wireguard as tw
from test_wireguard import OSCAR_LAN, OSCAR_NAME, dump

DROP_IN = "/etc/systemd/system/wg-quick@%s.service.d/oscar-supervise-wireguard-go.conf"
# The interface: RestartSec (2 s) and `wg-quick up`, with room for a busy 2-core machine.
INTERFACE_BACK_WITHIN = 20
# The tunnel: the laptop still holds a session the restarted server forgot; WireGuard starts a new handshake once its
# packets go unanswered for 15 s (keepalive timeout + rekey timeout), then retries every 5 s.
TUNNEL_BACK_WITHIN = 60


# test_wireguard's fixtures: the Pi (WireGuard server) and the staff laptop, reached with podman exec.
pi = tw.pi
client = tw.client


def prop(host, unit, name):
    return host.check_output("systemctl show %s --property=%s --value", unit, name)


def wireguard_go_pid(host, name):
    return host.check_output("pgrep -x -f 'wireguard-go %s' || true", name)


def state(pi, name):
    """What must survive a restart: key, port, address and peers (with their allowed addresses)."""
    peers = {key: value["allowed"] for key, value in dump(pi.check_output("wg show %s dump", name)).items()}
    return {"public_key": pi.check_output("wg show %s public-key", name),
            "listen_port": pi.check_output("wg show %s listen-port", name),
            "address": pi.check_output("ip -4 -br address show dev %s", name).split()[2:],
            "peers": peers}


def front_door_status(client):
    return client.run("curl -sS -o /dev/null -w '%%{http_code}' --max-time 5 --resolve %s:443:%s https://%s/oscar/",
                      OSCAR_NAME, OSCAR_LAN, OSCAR_NAME).stdout.strip()


@pytest.mark.parametrize("name", ["wg0", "wg-it"])
def test_each_interfaces_wireguard_go_is_its_units_main_process(pi, name):
    unit = "wg-quick@%s.service" % name
    assert DROP_IN % name in prop(pi, unit, "DropInPaths").split()
    assert prop(pi, unit, "Type") == "forking"
    assert prop(pi, unit, "Restart") == "on-failure"
    assert prop(pi, unit, "StartLimitBurst") == "5"
    pid = wireguard_go_pid(pi, name)
    assert pid and prop(pi, unit, "MainPID") == pid


def test_a_killed_wireguard_go_comes_back_with_its_key_and_peers_and_the_laptop_reaches_the_front_door(pi, client):
    unit = "wg-quick@wg0.service"
    assert front_door_status(client) == "200"
    before = state(pi, "wg0")
    expected_key = pi.check_output("wg pubkey < /etc/wireguard/keys/wg0.key")
    other_pid = prop(pi, "wg-quick@wg-it.service", "MainPID")
    old_pid, restarts = prop(pi, unit, "MainPID"), int(prop(pi, unit, "NRestarts"))
    laptop = client.check_output("wg show wgc public-key")

    killed_at = time.time()
    pi.check_output("kill -9 %s", old_pid)
    start = time.monotonic()
    while True:
        assert time.monotonic() - start < INTERFACE_BACK_WITHIN, "wg0 was not back within %d s: %s/%s" % (
            INTERFACE_BACK_WITHIN, prop(pi, unit, "ActiveState"), prop(pi, unit, "SubState"))
        pid = prop(pi, unit, "MainPID")
        if prop(pi, unit, "ActiveState") == "active" and pid not in ("0", old_pid) and pi.run("wg show wg0").rc == 0:
            break
        time.sleep(0.5)
    assert int(prop(pi, unit, "NRestarts")) == restarts + 1
    assert wireguard_go_pid(pi, "wg0") == pid
    # Re-created from the role's configuration: the same private key (hence public key), port, address and peers.
    assert state(pi, "wg0") == before
    assert before["public_key"] == expected_key
    # The other interface was not touched.
    assert prop(pi, "wg-quick@wg-it.service", "MainPID") == other_pid

    while front_door_status(client) != "200":
        assert time.monotonic() - start < TUNNEL_BACK_WITHIN, "the laptop did not reach the front door again"
        time.sleep(1)
    # Through a new handshake with the restarted server.
    assert dump(pi.check_output("wg show wg0 dump"))[laptop]["handshake"] >= int(killed_at)
