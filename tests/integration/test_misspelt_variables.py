"""A misspelt role variable fails the role's first check, before anything changes, naming the closest known one.

The issue that asked for it: ``nginx_gateway_enable: true`` (one letter short of ``nginx_gateway_enabled``) silently
removed the sign-in hook from the front door. Real ``ansible-playbook`` runs, in check mode on this machine with
connection local; each role must stop at its ``<role>_validate`` task with the message, and no task before it may
report a change.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "nginx": ("nginx_gateway_enable", "nginx_gateway_enabled"),
    "gateway": ("gateway_clinic_nmae", "gateway_clinic_name"),
    "firewall": ("firewall_servcies", "firewall_services"),
    "wireguard": ("wireguard_peer", "wireguard_peers"),
    "cloudflared": ("cloudflared_tunnel_tokn", "cloudflared_tunnel_token"),
    "patch": ("patch_rebot", "patch_reboot"),
    "fleet_controller": ("fleet_controller_job", "fleet_controller_jobs"),
    "management_ssh": ("management_ssh_listen_address", "management_ssh_listen_addresses"),
}


@pytest.mark.parametrize("role", sorted(CASES))
def test_the_role_stops_at_its_check_naming_the_closest_variable(role, tmp_path):
    typo, meant = CASES[role]
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: Apply the role with a misspelt variable\n"
        "  hosts: localhost\n"
        "  gather_facts: false\n"
        "  roles:\n"
        f"    - role: oscar_emr.remote_access.{role}\n")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "--check", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", json.dumps({typo: True})],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    failed = [t for t in tasks if t["hosts"]["localhost"].get("failed")]
    names = [t["task"]["name"].split(" : ")[-1] for t in tasks]
    assert len(failed) == 1 and failed[0]["task"]["name"].split(" : ")[-1].startswith("Check"), names
    message = failed[0]["hosts"]["localhost"]["msg"]
    assert f"{typo}: is not a variable of the {role} role (did you mean {meant}?)" in message
    assert "nothing was changed on the host" in message
    assert not any(t["hosts"]["localhost"].get("changed") for t in tasks)
