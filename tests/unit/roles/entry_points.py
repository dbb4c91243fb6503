"""Run one entry point of one of the collection's roles on localhost with real Ansible, and read back a fact it set
(the firewall entry points publish <role>_firewall_needs this way)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".build" / "collections"


def run_entry_point(role, tasks_from, fact, extra_vars):
    """The completed ``ansible-playbook`` process: the entry point, then a debug of ``fact``."""
    playbook = f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: oscar_emr.remote_access.{role}
        tasks_from: {tasks_from}
    - ansible.builtin.debug:
        var: {fact}
"""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "/dev/stdin",
         "-e", json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable))],
        input=playbook, capture_output=True, text=True, env=env, check=False)


def published(proc, fact):
    """The value of ``fact`` after a successful run_entry_point."""
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"][fact]
