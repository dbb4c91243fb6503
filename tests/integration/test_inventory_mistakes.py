"""Inventory mistakes that would weaken a clinic silently are refused before any change, or warned about (issue 20).

A corpus of realistic mistakes, each applied by a real ``ansible-playbook --check`` run of the role on this machine
(connection local, one inventory host per mistake, so one run per role). A refusal must come from the role's first
check (its ``Check ...`` task, or Ansible's argument check before it), name the variable and the value, and follow no
task that reported a change; a value that is legal but unwise must leave a warning in the run's output naming it.
The mistakes already refused before issue 20 are here too, so that they stay refused.

The hosts stay unchanged: every run is in check mode and stops at the check (refusals) or runs only the check
(``tasks_from: validate``, warnings), and the test asserts that no task reported a change.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "roles" / "gateway" / "files"))

POLICY = {
    "application": {"name": "OSCAR", "domain": "emr.clinic.test"},
    "groups": [{"name": "staff", "email_domains": ["clinic.test"]}],
    "policies": [{"name": "staff", "decision": "allow", "paths": ["/oscar"], "include": {"groups": ["staff"]}}],
}
USERS = [{"username": name, "display_name": name, "email": name + "@clinic.test"}
         for name in ("drsmith", "drjones", "nurse1", "desk1")]
GATEWAY = {"gateway_clinic_name": "Lakeside", "gateway_public_host": "emr.clinic.test", "access_policy": POLICY,
           "gateway_users": USERS}

WIREGUARD = {"wireguard_interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}],
             "wireguard_oscar_address": "192.168.1.20", "wireguard_endpoint": "vpn.clinic.test",
             "wireguard_lan_interface": "lo"}

# role -> {case: (variables, what the refusal must say)}; each message names the variable and quotes the value.
REFUSED = {
    "nginx": {
        "string_boolean_misread": ({"nginx_gateway_bypass_machine_paths": "y"},
                                   "nginx_gateway_bypass_machine_paths: 'y' is not read as true or false"),
        "not_a_boolean": ({"nginx_oscar_upstream_tls_verify": "nope"},
                          "argument 'nginx_oscar_upstream_tls_verify' is of type str and we were unable to convert "
                          "to bool: The value 'nope' is not a valid boolean"),
        "misspelt_switch": ({"nginx_gateway_enable": True},
                            "nginx_gateway_enable: is not a variable of the nginx role (did you mean "
                            "nginx_gateway_enabled?)"),
        "world_wide_trusted_proxy": ({"nginx_trusted_proxies": ["0.0.0.0/0"]},
                                     "nginx_trusted_proxies: '0.0.0.0/0' trusts every address on the internet"),
        "public_trusted_proxy": ({"nginx_trusted_proxies": ["8.8.8.0/24"]},
                                 "nginx_trusted_proxies: '8.8.8.0/24' holds public addresses"),
        # The clinic's connector is the Pi at 192.168.1.20 (CONNECTORS): a private range far wider than it lets
        # any other host there claim any client address. No facts are gathered here, so only its address is known.
        "trusted_proxy_wider_than_the_connectors": ({"nginx_trusted_proxies": ["192.168.0.0/16"]},
                                                    "nginx_trusted_proxies: '192.168.0.0/16' is wider than the network "
                                                    "the clinic's connectors in it use (192.168.1.20 (its network "
                                                    "unknown: no facts gathered for it)): any other host in it could "
                                                    "claim any client address; give '192.168.1.20/32' instead"),
        "trusted_proxy_without_a_connector": ({"nginx_trusted_proxies": ["10.20.0.0/16"]},
                                              "nginx_trusted_proxies: '10.20.0.0/16' holds none of the clinic's "
                                              "connectors (192.168.1.20)"),
        "trusted_proxy_host_bits": ({"nginx_trusted_proxies": ["127.0.0.1/8"]},
                                    "nginx_trusted_proxies: '127.0.0.1/8' is not a valid CIDR (did you mean "
                                    "127.0.0.0/8?)"),
        "hostname_as_url": ({"clinic_oscar_hostname": "https://emr.clinic.test"},
                            "clinic_oscar_hostname: 'https://emr.clinic.test' is a URL, not a hostname; give the bare "
                            "name ('emr.clinic.test')"),
    },
    "firewall": {
        "misspelt_switch": ({"firewall_egress_enable": True},
                            "firewall_egress_enable: is not a variable of the firewall role (did you mean "
                            "firewall_egress_enabled?)"),
        # The collection's message, not Ansible's generic "Unsupported parameters": the spec leaves the entries' keys
        # to the role's check (roles/firewall/meta/argument_specs.yml says why).
        "misspelt_rule_key": ({"firewall_services": [{"name": "https", "port": 443, "source": ["10.0.0.0/8"]}]},
                              "firewall_services[0]: unknown keys source (did you mean sources?) (allowed: name, "
                              "port, protocol, sources)"),
        "misspelt_egress_rule_key": (
            {"firewall_egress_rules": [{"name": "smtp", "port": 587, "protocl": "tcp",
                                        "destinations": ["203.0.113.25/32"]}]},
            "firewall_egress_rules[0]: unknown keys protocl (did you mean protocol?)"),
        "misspelt_forward_rule_key": (
            {"firewall_forward_rules": [{"name": "wg", "iifname": "wg0", "destination": ["192.168.1.20/32"]}]},
            "firewall_forward_rules[0]: unknown keys destination (did you mean destinations?)"),
        "string_boolean_misread": ({"firewall_allow_ping": "t"}, "firewall_allow_ping: 't' is not read as true or "
                                   "false"),
        "service_cidr_host_bits": ({"firewall_services": [{"name": "https", "port": 443,
                                                           "sources": ["192.168.1.5/24"]}]},
                                   "192.168.1.5/24"),
        "port_out_of_range": ({"firewall_services": [{"name": "https", "port": 70000, "sources": ["10.0.0.0/8"]}]},
                              "firewall_services[0].port"),
        # Issue 15: SSH open to the Internet, the very thing a management path avoids.
        "ssh_from_everyone": ({"firewall_management_sources": ["192.0.2.10/32", "0.0.0.0/0"]},
                              "firewall_management_sources[1]: '0.0.0.0/0': SSH must not be open to everyone"),
    },
    "gateway": {
        "misspelt_user_list": (dict(GATEWAY, gateway_user=USERS),
                               "gateway_user: is not a variable of the gateway role (did you mean gateway_users?)"),
        "string_boolean_misread": (dict(GATEWAY, gateway_mfa_required="f"),
                                   "gateway_mfa_required: 'f' is not read as true or false"),
        "unknown_user_in_gateway_policy": (
            dict(GATEWAY, access_policy=dict(POLICY, policies=POLICY["policies"] + [
                {"name": "doctors", "decision": "allow", "paths": ["/oscar"], "targets": ["gateway"],
                 "include": {"users": ["drsmiht"]}}])),
            "access_policy.policies[1].include.users[0]: 'drsmiht' (policy 'doctors') is neither an account in "
            "gateway_users nor a user in access_policy.users, so the policy never matches it (did you mean "
            "drsmith?)"),
        # Two names for one thing, set apart: nobody could sign in (issue 13 made the first follow the second).
        "host_name_apart_from_nginx": (dict(GATEWAY, nginx_server_names=["oscar-lan.clinic.test"]),
                                       "gateway_public_host: 'emr.clinic.test' is not nginx_server_names[0] "
                                       "('oscar-lan.clinic.test')"),
        "user_enabled_as_string": (dict(GATEWAY, gateway_users=[dict(USERS[0], enabled="no"), *USERS[1:]]),
                                   "gateway_users[0].enabled: 'no' is not true or false"),
        "unknown_policy_key": (
            dict(GATEWAY, access_policy=dict(POLICY, policies=[dict(POLICY["policies"][0], pahts=["/oscar"])])),
            "access_policy.policies[0]"),
    },
    "cloudflared": {
        "misspelt_token": ({"cloudflared_tunnel_tokn": "x"},
                           "cloudflared_tunnel_tokn: is not a variable of the cloudflared role (did you mean "
                           "cloudflared_tunnel_token?)"),
        "hostname_as_url": ({"clinic_oscar_hostname": "https://emr.clinic.test"},
                            "clinic_oscar_hostname: 'https://emr.clinic.test' is a URL"),
    },
    "wireguard": {
        "misspelt_peer_list": ({"wireguard_peer": []},
                               "wireguard_peer: is not a variable of the wireguard role (did you mean "
                               "wireguard_peers?)"),
        "string_boolean_misread": ({"wireguard_masquerade": "y"}, "wireguard_masquerade: 'y' is not read as true "
                                   "or false"),
        "past_expiry_on_a_new_peer": (dict(WIREGUARD, wireguard_peers=[
            {"name": "newlaptop", "address": "10.90.1.10", "expires": "2020-01-01"}]),
            "wireguard_peers[0].expires: '2020-01-01' is not after today"),
        "peer_enabled_as_string": (dict(WIREGUARD, wireguard_peers=[
            {"name": "newlaptop", "address": "10.90.1.10", "enabled": "no"}]),
            "wireguard_peers[0].enabled: 'no' is not true or false"),
        # Issue 15: a management peer given the staff kind's reach, a staff peer given SSH.
        "management_peer_with_staff_reach": (dict(WIREGUARD, wireguard_peers=[
            {"name": "provider", "kind": "management", "address": "10.90.1.20",
             "destinations": [{"address": "192.168.1.20", "port": 443}]}]),
            "wireguard_peers[0].destinations: a management peer (kind: management) reaches SSH"),
        "staff_peer_with_ssh": (dict(WIREGUARD, wireguard_peers=[
            {"name": "it", "address": "10.90.1.21", "destinations": [{"address": "192.168.1.20", "port": 22}]}]),
            "wireguard_peers[0].destinations[0].port: 22 is SSH, which only a management peer reaches"),
    },
    "management_ssh": {
        "listen_everywhere": ({"management_ssh_listen_addresses": ["0.0.0.0"]},
                              "management_ssh_listen_addresses[0]: '0.0.0.0' listens on every address"),
        "root_allowed": ({"management_ssh_listen_addresses": ["127.0.0.1"], "management_ssh_allow_users": ["root"]},
                         "management_ssh_allow_users[0]: 'root' is not a user name that may log in"),
    },
    "fleet_controller": {
        "misspelt_jobs": ({"fleet_controller_job": [{"name": "patch", "playbook": "patch.yml",
                                                     "on_calendar": "daily"}]},
                          "fleet_controller_job: is not a variable of the fleet_controller role (did you mean "
                          "fleet_controller_jobs?)"),
        "unit_name_with_a_space": ({"fleet_controller_jobs": [{"name": "weekly patch", "playbook": "patch.yml",
                                                               "on_calendar": "Sat *-*-* 02:00"}]},
                                   "fleet_controller_jobs[0].name: 'weekly patch' is not a job name"),
        "playbook_outside_the_collection": ({"fleet_controller_jobs": [{"name": "x", "playbook": "../../tmp/x.yml",
                                                                        "on_calendar": "daily"}]},
                                            "fleet_controller_jobs[0].playbook: '../../tmp/x.yml' is not a playbook"),
    },
    "patch": {
        "string_boolean_misread": ({"patch_reboot": "y"}, "patch_reboot: 'y' is not read as true or false"),
        "not_a_boolean": ({"patch_force": "maybe"}, "argument 'patch_force' is of type str and we were unable to "
                          "convert to bool: The value 'maybe' is not a valid boolean"),
    },
}


# Other hosts of the clinic a role's check looks at, by group: the nginx check learns the connectors' addresses from
# the cloudflared_connectors group. They are never connected to (the play runs on the mistakes' hosts only).
CONNECTORS = {"cloudflared_connectors": {"hosts": {"pi": {"ansible_host": "192.168.1.20"}}}}
OTHER_HOSTS = {"nginx": CONNECTORS}


def run_play(tmp_path, role, hosts, tasks_from=None, extra=()):
    """One check-mode run of ``role`` on this machine, one inventory host (connection local) per mapping of
    ``hosts`` (with the role's OTHER_HOSTS in the inventory too); returns {host: [(task name, result), ...]} in task
    order."""
    inventory = {"all": {"children": dict(OTHER_HOSTS.get(role, {}), mistakes={"hosts": {
        name: dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)
        for name, variables in hosts.items()}})}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    if tasks_from:
        tasks = ("  tasks:\n    - name: The role's check only\n      ansible.builtin.include_role:\n"
                 f"        name: oscar_emr.remote_access.{role}\n        tasks_from: {tasks_from}\n")
    else:
        tasks = f"  roles:\n    - role: oscar_emr.remote_access.{role}\n"
    (tmp_path / "play.yml").write_text(f"- name: Apply a mistake\n  hosts: mistakes\n  gather_facts: false\n{tasks}")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "--check", str(tmp_path / "play.yml"),
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    try:
        plays = json.loads(proc.stdout)["plays"]
    except ValueError:
        pytest.fail("ansible-playbook printed no JSON:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    results = {name: [] for name in hosts}
    for task in plays[0]["tasks"]:
        for host, result in task["hosts"].items():
            results[host].append((task["task"]["name"].split(" : ")[-1], result))
    return results


@pytest.mark.parametrize("role", sorted(REFUSED))
def test_each_mistake_is_refused_by_the_first_check_naming_the_variable_and_the_value(role, tmp_path):
    cases = REFUSED[role]
    results = run_play(tmp_path, role, {name: case[0] for name, case in cases.items()})
    for name, case in cases.items():
        expected = case[1]
        tasks = results[name]
        names = [pair[0] for pair in tasks]
        failed = [(task, result) for task, result in tasks if result.get("failed")]
        assert len(failed) == 1, (name, names)
        task, result = failed[0]
        assert task.startswith(("Check", "Validating arguments against arg spec")), (name, task)
        message = result.get("msg", "")
        assert expected in message, (name, message)
        assert not any(pair[1].get("changed") for pair in tasks), (name, tasks)
        assert names[-1] == task, (name, "tasks ran after the refusal: %s" % names)


def gateway_database(path, accounts):
    """A gateway database made by the gateway's own store code (its real schema), with ``accounts`` enabled."""
    from oscar_gateway import store

    database = store.Store(str(path))
    for name in accounts:
        database.execute("INSERT INTO users (username, display_name, email, role, enabled, source, created, updated)"
                         " VALUES (?, ?, ?, '', 1, 'inventory', 0, 0)", (name, name, name + "@clinic.test"))
    return path


def warnings_of(result):
    return " ".join(result.get("warnings") or [])


def test_disabling_many_accounts_needs_consent_and_the_run_names_the_accounts(tmp_path):
    """gateway_user: for gateway_users: once disabled every account; now that is refused, and a legitimate removal is
    named in the run's output."""
    database = gateway_database(tmp_path / "gateway.db", [u["username"] for u in USERS])
    hosts = {
        "typo_disables_everyone": dict(GATEWAY, gateway_users=[]),
        "consent_given": dict(GATEWAY, gateway_users=USERS[:1], gateway_users_allow_mass_disable=True),
        "one_leaves": dict(GATEWAY, gateway_users=USERS[:3]),
        "deny_after_allow": dict(GATEWAY, access_policy=dict(POLICY, policies=POLICY["policies"] + [
            {"name": "no-admin", "decision": "deny", "paths": ["/oscar/admin"], "include": {"groups": ["staff"]}}])),
    }
    results = run_play(tmp_path, "gateway", hosts, tasks_from="validate.yml",
                       extra=["-e", json.dumps({"__gateway_database": str(database)})])
    for name, tasks in results.items():
        assert not any(pair[1].get("changed") for pair in tasks), (name, tasks)
    check = dict((name, tasks[-1][1]) for name, tasks in results.items())
    assert check["typo_disables_everyone"].get("failed")
    assert ("gateway_users: this run would disable 4 of the 4 enabled accounts (desk1, drjones, drsmith, nurse1)"
            in check["typo_disables_everyone"]["msg"])
    assert not check["consent_given"].get("failed"), check["consent_given"]
    assert ("gateway_users: this run disables 3 account(s) and ends their sessions: desk1, drjones, nurse1"
            in warnings_of(check["consent_given"]))
    assert not check["one_leaves"].get("failed"), check["one_leaves"]
    assert "this run disables 1 account(s) and ends their sessions: desk1" in warnings_of(check["one_leaves"])
    assert not check["deny_after_allow"].get("failed"), check["deny_after_allow"]
    assert ("deny policy 'no-admin' can never apply: allow policy 'staff' (policies[0]) comes first"
            in warnings_of(check["deny_after_allow"]))


def test_the_corpus_covers_every_role_with_a_check():
    roles = {p.parts[-3] for p in ROOT.glob("roles/*/tasks/validate.yml")}
    assert roles <= set(REFUSED), roles - set(REFUSED)
    for role in REFUSED:
        assert yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
