"""What roles need through the firewall is data: one list of providers in the firewall role, one published fact
shape (<role>_firewall_needs), and the firewall's model accepts what each provider publishes."""

import json
import os
import subprocess
import sys
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


def test_a_mail_relay_off_loopback_is_published_and_one_on_loopback_is_not():
    def needs(relay):
        return published(run_entry_point("gateway", "firewall", "gateway_firewall_needs", {
            "gateway_mode": "standalone", "gateway_mail_relay_host": relay, "gateway_mail_relay_port": 2525}),
            "gateway_firewall_needs")

    for on_loopback in ("127.0.0.1", "localhost", "::1"):
        assert needs(on_loopback) == {"egress_rules": []}, on_loopback
    model, _warnings = firewall.build_model({"management_sources": ["192.0.2.10/32"], "egress_enabled": True,
                                             "egress_essentials": [],
                                             "role_needs": {"gateway_firewall_needs": needs("smtp.provider.test")}})
    assert model["egress"]["rules"] == [
        {"match": "tcp dport 2525 ip daddr 0.0.0.0/0", "comment": "gateway-mail-relay"},
        {"match": "tcp dport 2525 ip6 daddr ::/0", "comment": "gateway-mail-relay"},
    ]


def test_the_front_doors_ports_are_nginxs_to_publish():
    """The firewall knows the front door's ports only from what nginx publishes: its own port variables and who may
    reach them; [] publishes no rule."""
    needs = published(run_entry_point("nginx", "firewall", "nginx_firewall_needs", {
        "nginx_https_port": 8443, "nginx_firewall_https_sources": ["192.168.1.20/32", "192.168.2.0/24"],
        "nginx_firewall_http_sources": []}), "nginx_firewall_needs")
    assert needs == {"services": [{"name": "https-front-door", "port": 8443, "protocol": "tcp",
                                   "sources": ["192.168.1.20/32", "192.168.2.0/24"]}]}
    model, _warnings = firewall.build_model({"management_sources": ["192.0.2.10/32"],
                                             "role_needs": {"nginx_firewall_needs": needs}})
    assert [(s["name"], s["port"], sorted(s["ipv4"])) for s in model["services"]] == [
        ("https-front-door", "8443", ["192.168.1.20/32", "192.168.2.0/24"])]


def test_a_bad_source_is_refused_naming_nginxs_variable():
    proc = run_entry_point("nginx", "firewall", "nginx_firewall_needs",
                           {"nginx_firewall_http_sources": ["192.168.1.5/24"]})
    assert proc.returncode != 0
    assert ("nginx_firewall_http_sources: '192.168.1.5/24' is not a valid CIDR (did you mean 192.168.1.0/24?)"
            in proc.stdout)


def test_the_example_inventories_leave_the_front_doors_ports_to_nginx():
    """The inventories once listed 443 and 80 in firewall_services, kept equal to nginx_https_port and nginx_http_port
    by hand."""
    for path in sorted(ROOT.glob("inventories/*/group_vars/**/*.yml")):
        for service in (yaml.safe_load(path.read_text()) or {}).get("firewall_services") or []:
            assert service.get("name") not in ("https-front-door", "http-redirect"), path
            assert service.get("port") not in (80, 443, "80", "443"), path


def test_the_firewall_role_asks_the_providers_of_the_hosts_groups(tmp_path):
    """The firewall's own first task and its check's role_needs argument, run by real Ansible for a host in
    front_door only: the gateway's entry point runs, the others are skipped and count as publishing nothing."""
    firewall_tasks = ROOT / "roles" / "firewall" / "tasks"
    ask = yaml.safe_load((firewall_tasks / "main.yml").read_text())[0]
    check = yaml.safe_load((firewall_tasks / "validate.yml").read_text())[0]
    show = {"name": "Show role_needs", "ansible.builtin.debug": {
        "msg": check["oscar_emr.remote_access.firewall_validate"]["role_needs"]}, "vars": check["vars"]}
    playbook = tmp_path / "ask.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [ask, show]}]))
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[front_door]\nlocalhost ansible_connection=local\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
         "-e", "@%s" % (ROOT / "roles" / "firewall" / "defaults" / "main.yml"),
         "-e", "@%s" % (ROOT / "roles" / "firewall" / "vars" / "main.yml"),
         "-e", json.dumps({"gateway_mode": "cloudflare", "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    role_needs = tasks[-1]["hosts"]["localhost"]["msg"]
    assert role_needs == {
        "wireguard_firewall_needs": {},
        "cloudflared_firewall_needs": {},
        "nginx_firewall_needs": {"services": []},
        "gateway_firewall_needs": {"egress_rules": [{"name": "gateway-access-keys", "port": 443, "protocol": "tcp",
                                                     "destinations": ["0.0.0.0/0", "::/0"]}]},
    }


def test_the_wireguard_forward_rules_follow_nginxs_https_port():
    """wireguard_oscar_port was 443 in the inventory beside nginx_https_port: one port, written once (nginx's)."""
    import jinja2
    defaults = ROOT / "roles" / "wireguard" / "defaults" / "main.yml"
    default = yaml.safe_load(defaults.read_text())["wireguard_oscar_port"]
    env = jinja2.Environment()
    assert env.from_string(default).render(nginx_https_port=8443) == "8443"
    nginx_default = yaml.safe_load((ROOT / "roles" / "nginx" / "defaults" / "main.yml").read_text())["nginx_https_port"]
    assert env.from_string(default).render() == str(nginx_default)
