"""What roles need through the firewall is data: one list of providers in the firewall role, one published fact
shape (<role>_firewall_needs), and the firewall's model accepts what each provider publishes."""

from pathlib import Path

import pytest
import yaml
from entry_points import published, run_entry_point

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _firewall_model as firewall

ROOT = Path(__file__).resolve().parents[3]
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
    return published(run_entry_point("gateway", "firewall", "gateway_firewall_needs", {"gateway_mode": mode}),
                     "gateway_firewall_needs")


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
