"""What roles need through the firewall is data: one list of providers in the firewall role, one published fact
shape (<role>_firewall_needs), and the firewall's model accepts what each provider publishes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _firewall_model as firewall

ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".build" / "collections"
PROVIDERS = yaml.safe_load((ROOT / "roles" / "firewall" / "vars" / "main.yml").read_text())[
    "__firewall_need_providers"]


def set_facts(role):
    """Names of the facts any of the role's task files sets."""
    names = set()
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            names.update((task.get("ansible.builtin.set_fact") or {}).keys())
    return names


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p["role"] for p in PROVIDERS])
def test_every_provider_has_its_entry_point_and_publishes_the_one_fact(provider):
    role = ROOT / "roles" / provider["role"]
    assert (role / "tasks" / (provider["tasks_from"] + ".yml")).is_file()
    assert provider["tasks_from"] in yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"]
    assert provider["role"] + "_firewall_needs" in set_facts(provider["role"])
    assert not {name for name in set_facts(provider["role"]) if "_firewall_" in name} - {
        provider["role"] + "_firewall_needs"}, "one fact per role, of the one shape"


def test_the_firewall_role_names_no_provider_outside_its_list():
    firewall_role = ROOT / "roles" / "firewall"
    for path in list((firewall_role / "tasks").glob("*.yml")) + list((firewall_role / "templates").glob("*")):
        text = path.read_text()
        for provider in PROVIDERS:
            assert provider["role"] + "_firewall" not in text, path
            assert "remote_access." + provider["role"] not in text, path


def gateway_needs(mode):
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: oscar_emr.remote_access.gateway
        tasks_from: firewall
    - ansible.builtin.debug:
        var: gateway_firewall_needs
"""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "/dev/stdin",
         "-e", json.dumps({"gateway_mode": mode, "ansible_python_interpreter": sys.executable})],
        input=playbook, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"]["gateway_firewall_needs"]


def test_the_gateway_needs_https_out_in_cloudflare_mode_only():
    assert gateway_needs("standalone") == {"egress_rules": []}
    needs = gateway_needs("cloudflare")
    model, _warnings = firewall.build_model({"management_sources": ["192.0.2.10/32"], "egress_enabled": True,
                                             "egress_essentials": [],
                                             "role_needs": {"gateway_firewall_needs": needs}})
    assert model["egress"]["rules"] == [
        {"match": "tcp dport 443 ip daddr 0.0.0.0/0", "comment": "gateway-access-keys"},
        {"match": "tcp dport 443 ip6 daddr ::/0", "comment": "gateway-access-keys"},
    ]
