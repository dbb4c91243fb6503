"""Fixtures for the firewall scenario's tests.

The containers are reached with testinfra's podman backend (podman exec, a fraction of a second per
command) rather than through Ansible (a few seconds per command): the tests run many small commands and
the scenario has a time budget. Playbook runs go through Ansible with the scenario's own inventory.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
SERVER, CLIENT, OTHER = "firewall-server", "firewall-client", "firewall-other"
TABLE = "oscar_remote_access"
RULESET = "/etc/oscar-remote-access/firewall/ruleset.nft"
CTL = "/usr/local/sbin/oscar-remote-access-firewall"

# Test addresses (see molecule.yml): the client, the admin workstation (also on the client), the other host.
SERVER4, SERVER6 = "198.51.100.10", "2001:db8:71::10"
CLIENT4, CLIENT6 = "198.51.100.20", "2001:db8:71::20"
ADMIN4, ADMIN6 = "198.51.100.21", "2001:db8:71::21"
OTHER4, OTHER6 = "198.51.100.30", "2001:db8:71::30"


def container(name):
    return testinfra.get_host("podman://" + name)


@pytest.fixture(scope="session")
def server():
    return container(SERVER)


@pytest.fixture(scope="session")
def client():
    return container(CLIENT)


@pytest.fixture(scope="session")
def other():
    return container(OTHER)


def probe(host, targets):
    """Try each (proto, source, dest, port) from ``host`` at once; return {target: answer or 'closed: ...'}."""
    out = host.check_output("python3 /usr/local/bin/fw-probe.py %s", json.dumps([list(t) for t in targets]))
    return dict(zip(targets, json.loads(out)))


def is_open(answer):
    return not answer.startswith("closed")


def ctl_state(host):
    """The control script's view: pending, absent, in-sync or drift."""
    return host.check_output("%s state", CTL).split()[0]


def live_table(host):
    return host.check_output("nft list table inet %s", TABLE)


def snapshot(host):
    """What must not change when a run is refused: the live table and the persisted file."""
    return {
        "table": live_table(host),
        "file": host.check_output("sha256sum %s", RULESET),
        # the set of tables: their order in the listing follows creation, which a rollback may change
        "tables": sorted(host.check_output("nft list tables").splitlines()),
    }


def run_playbook(*args, limit=SERVER, timeout=300):
    """Run the scenario's converge playbook against the Molecule inventory; return (rc, output)."""
    cmd = [
        "ansible-playbook",
        "-i", os.environ["MOLECULE_INVENTORY_FILE"],
        "-l", limit,
        str(SCENARIO / "converge.yml"),
        "--skip-tags", "management_ssh",  # the firewall only (test_management_path.py checks sshd)
        *args,
    ]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          check=False)
    return proc.returncode, proc.stdout


def extra_vars(**values):
    return ["--extra-vars", json.dumps(values)]


def wait_for(predicate, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def restart_container(name):
    subprocess.run(["podman", "restart", "--time", "3", name], check=True, stdout=subprocess.DEVNULL)
    host = container(name)

    def booted():
        state = host.run("systemctl is-system-running").stdout.strip()
        return state in ("running", "degraded")

    assert wait_for(booted, 60), f"{name} did not finish booting"
    # The restarted container has a new MAC address: make its peers forget the old one.
    for peer in (SERVER, CLIENT, OTHER):
        if peer != name:
            container(peer).check_output("ip neigh flush dev eth0")
    return host
