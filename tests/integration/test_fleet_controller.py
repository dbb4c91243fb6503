"""playbooks/controller.yml on a control node (a container with systemd): a service and a persistent, randomised
timer per job, the lock that keeps runs from overlapping, units systemd accepts, a second run that changes nothing,
and a bad job name refused before anything changes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/oscar-testbed:bookworm"
NAME = "fleet-test-controller"
pytestmark = pytest.mark.integration

JOBS = {
    "controller_host": NAME,
    "fleet_controller_python": "/usr/bin/python3",
    "fleet_controller_checkout": "/srv/oscar_remote_access",
    "fleet_controller_vault_password_file": "/root/.vault-pass",
    "fleet_controller_jobs": [
        {"name": "patch", "playbook": "patch.yml", "on_calendar": "Sat *-*-* 02:00", "drift": True},
        {"name": "site", "playbook": "site.yml", "on_calendar": "daily", "clinics": ["lakeside"],
         "randomized_delay": "1h"},
    ],
}


def podman(*args, check=True):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def node():
    if not shutil.which("podman") or podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.skip(f"podman or {IMAGE} missing: run scripts/testbed.sh")
    podman("rm", "-f", NAME, check=False)
    podman("run", "-d", "--name", NAME, "--hostname", NAME, "--network", "none", "--systemd=always", IMAGE,
           "/sbin/init")
    try:
        yield NAME
    finally:
        podman("rm", "-f", NAME, check=False)


def converge(tmp_path, jobs):
    (tmp_path / "inventory.yml").write_text(
        f"all:\n  hosts:\n    {NAME}:\n      ansible_connection: podman_pipelined\n"
        "      ansible_python_interpreter: /usr/bin/python3\n")
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    # The repository's ansible.cfg: pipelining, and the test bed's pipelined podman connection.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    playbook = ROOT / "playbooks" / "controller.yml"
    return subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), str(playbook),
                           "-e", f"@{tmp_path / 'jobs.json'}"], env=env, capture_output=True, text=True, check=False)


def test_controller_timers(node, tmp_path):
    bad_job = {"name": "no good", "playbook": "patch.yml", "on_calendar": "daily"}
    bad = converge(tmp_path, dict(JOBS, fleet_controller_jobs=[bad_job]))
    said = " ".join(bad.stdout.split())  # however the callback folds and quotes the message
    assert bad.returncode != 0 and "fleet_controller_jobs[0].name: " in said and "no good" in said, said[-3000:]
    assert podman("exec", node, "ls", "/etc/systemd/system/oscar-fleet-no good.service", check=False).returncode != 0

    first = converge(tmp_path, JOBS)
    assert first.returncode == 0, first.stdout[-3000:]
    service = podman("exec", node, "cat", "/etc/systemd/system/oscar-fleet-patch.service").stdout
    assert "Type=oneshot" in service and "/usr/bin/flock /run/lock/oscar-fleet.lock /usr/bin/python3" in service
    assert "--drift" in service and "--vault-password-file /root/.vault-pass" in service
    assert "StandardOutput=journal" in service
    site = podman("exec", node, "cat", "/etc/systemd/system/oscar-fleet-site.service").stdout
    assert "--clinic lakeside" in site and "--drift" not in site
    shown = podman("exec", node, "systemctl", "show", "-p", "Persistent,RandomizedDelayUSec,UnitFileState",
                   "oscar-fleet-site.timer").stdout
    assert "Persistent=yes" in shown and "RandomizedDelayUSec=1h" in shown and "UnitFileState=enabled" in shown
    assert podman("exec", node, "systemctl", "is-active", "oscar-fleet-patch.timer").stdout.strip() == "active"

    second = converge(tmp_path, JOBS)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
