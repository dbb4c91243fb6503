"""Every inventory under inventories/ is one playbooks/site.yml can apply, checked with the roles' own validators.

For each inventory directory (the demo clinic, the Pi-based clinic, and any added later):

* ``ansible-inventory -i <dir> --list`` (real Ansible) gives the groups: ``clinic`` holds every host and the groups
  site.yml's plays use (``front_door``, ``wireguard_servers``, ``cloudflared_connectors``);
* ``ansible-playbook --syntax-check`` of playbooks/site.yml and playbooks/wireguard_peers.yml against it;
* a real ``ansible-playbook`` run of a generated playbook that loads the four roles (``when: false``: none of their
  tasks runs, but their defaults and vars are in scope, so precedence is Ansible's own: role defaults < inventory
  < role vars) and shows, per host, the arguments the roles pass to their validators, copied from the roles' task
  files and templated by Ansible in the host's context (read with the ansible.posix.json callback). Python then
  calls the same validators with them:
  the wireguard_validate module's spec and ``_wireguard.build_model``, the firewall_validate action plugin (with the
  wireguard model's ``wireguard_firewall_needs`` fact in ``role_needs``, as the firewall role gets them), the
  gateway_validate action plugin (``_access_policy``), and the nginx_validate action plugin; every role's
  misspelt-variable check sees the variables the inventory sets;
* cross-host wiring that no single role can see: the WireGuard server routes to a front door, the front door's
  firewall lets a masquerading WireGuard server reach its HTTPS port, nothing admits that server's address without a
  login, and nginx and the gateway agree on the hook.

Stand-ins, because nothing here connects to a host: ``vault_*`` variables take the placeholder values of the
inventory's ``*.vault.yml.example`` files; facts are absent, so a host's addresses are its ``ansible_host`` (when it
is an IPv4 address), an empty ``wireguard_lan_interface`` becomes ``eth0`` (the host's default route would say),
expiry dates are judged against today, the firewall check sees no SSH session (connection ``local``),
cloudflared's egress facts keep their defaults, and the roles' reads of the host before their checks are skipped
(no output), which the checks take as a new host's: no gateway database, no WireGuard peer on record.
"""

import copy
import datetime
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.oscar_emr.remote_access.plugins.action import (
    firewall_validate,
    gateway_validate,
    management_ssh_validate,
    nginx_validate,
)
from ansible_collections.oscar_emr.remote_access.plugins.action import (
    wireguard_validate as wireguard_validate_action,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _access_policy, _firewall_model, _wireguard
from ansible_collections.oscar_emr.remote_access.plugins.modules import wireguard_validate

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p for p in (ROOT / "inventories").iterdir() if p.is_dir() and not p.name.startswith("."))
PLAYBOOKS = ("site.yml", "wireguard_peers.yml")
# The groups playbooks/site.yml applies roles to, all inside `clinic` (the firewall play's hosts).
SITE_GROUPS = ("front_door", "wireguard_servers", "cloudflared_connectors")
COLLECTION = "oscar_emr.remote_access"
# The roles whose checks run here (cloudflared's entry point only adds egress rules, which keep their defaults).
ROLES = ("firewall", "wireguard", "nginx", "gateway", "management_ssh")
# Stands in for the interface of the host's default route, which only its facts tell.
DEFAULT_ROUTE_INTERFACE = "eth0"


def environment():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0")


def ansible(*args, env=None):
    proc = subprocess.run(list(args), cwd=ROOT, env=dict(environment(), **(env or {})), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
    return proc


# The validators' arguments, as the roles' task files give them ------------------------------------------------------

def role_task(role, tasks_file, key):
    """The first task of a role's tasks file that has ``key`` (a module name, or a task var with ``vars.``)."""
    for task in yaml.safe_load((ROOT / "roles" / role / "tasks" / tasks_file).read_text()):
        if key.startswith("vars.") and key[5:] in (task.get("vars") or {}):
            return task
        if key in task:
            return task
    raise AssertionError(f"roles/{role}/tasks/{tasks_file} has no task with {key}: the test needs updating")


def resolve_playbook():
    """A playbook that templates, per host, exactly what the roles hand their validators, and shows it."""
    firewall = f"{COLLECTION}.firewall_validate"
    wireguard = f"{COLLECTION}.wireguard_validate"
    gateway = f"{COLLECTION}.gateway_validate"
    nginx = f"{COLLECTION}.nginx_validate"
    tasks = {role: role_task(role, "validate.yml", f"{COLLECTION}.{role}_validate") for role in ROLES}
    # What nginx's firewall entry point publishes (nginx_firewall_needs), as its set_fact task templates it.
    nginx_needs = role_task("nginx", "firewall.yml", "ansible.builtin.set_fact")
    task_vars = {}
    for task in [*tasks.values(), nginx_needs]:
        task_vars.update(task.get("vars") or {})
    task_vars.update({
        "__check_host": {"ansible_host": "{{ ansible_host | default(inventory_hostname) }}",
                         "cloudflared_ssh_hostname": "{{ cloudflared_ssh_hostname | default('') }}"},
        "__check_firewall": tasks["firewall"][firewall],
        "__check_wireguard": tasks["wireguard"][wireguard],
        "__check_nginx": tasks["nginx"][nginx],
        "__check_gateway": tasks["gateway"][gateway],
        "__check_management_ssh": tasks["management_ssh"][f"{COLLECTION}.management_ssh_validate"],
        "__check_nginx_needs": nginx_needs["ansible.builtin.set_fact"]["nginx_firewall_needs"],
    })
    # Each part only for the hosts whose play in site.yml runs that role (the others are never templated).
    parts = {"host": "all", "firewall": "clinic", "wireguard": "wireguard_servers", "nginx": "front_door",
             "nginx_needs": "front_door", "gateway": "front_door", "management_ssh": "clinic"}
    shown = ", ".join(f"'{part}': (__check_{part} if inventory_hostname in groups['{group}'] | default([]) else none)"
                      for part, group in parts.items())
    return [{
        "name": "Template the roles' validator arguments for each host (no role task runs)",
        "hosts": "all",
        "gather_facts": False,
        "roles": [{"role": f"{COLLECTION}.{name}", "when": False} for name in ROLES],
        # msg, not var: a template error must fail the task, not print itself as the value.
        "tasks": [{"name": "Show them", "ansible.builtin.debug": {"msg": "{{ {%s} }}" % shown}, "vars": task_vars}],
    }]


def vault_placeholders(inventory):
    """vault_* values from the inventory's *.vault.yml.example files (placeholders, never secrets)."""
    values = {}
    for example in sorted(inventory.rglob("*.vault.yml.example")):
        values.update({k: v for k, v in (yaml.safe_load(example.read_text()) or {}).items() if k.startswith("vault_")})
    return values


def resolve(inventory, work):
    """{host: {part: what that check gets}}, parts host, firewall, wireguard, nginx, gateway; templated by Ansible."""
    work.mkdir(parents=True, exist_ok=True)
    playbook = work / "resolve.yml"
    playbook.write_text(yaml.safe_dump(resolve_playbook(), sort_keys=False, width=1000))
    extra = work / "extra_vars.json"
    # Nothing connects: the one task is debug, and connection local keeps a connection plugin the inventory names
    # (podman, for the demo) out of it.
    extra.write_text(json.dumps(dict(vault_placeholders(inventory), ansible_connection="local")))
    proc = ansible("ansible-playbook", "-i", str(inventory), str(playbook), "-e", f"@{extra}",
                   env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    results = json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]
    return {host: {part: value for part, value in result["msg"].items() if value is not None}
            for host, result in results.items()}


# The validators -------------------------------------------------------------------------------------------------------

def run_action(module, name, args, execute_module=None):
    """Run a collection action plugin in-process, as the unit tests do; connection local, so no SSH probe."""
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = f"{COLLECTION}.{name}"
    connection = MagicMock()
    connection._load_name = "local"
    play_context = MagicMock()
    play_context.connection = "local"
    plugin = module.ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    if execute_module is not None:
        plugin._execute_module = execute_module
    return plugin.run(task_vars={})


def wireguard_model(args, host_address):
    """The wireguard_validate action's misspelt-variable check, then the module's work: its argument spec, then
    build_model (None and the errors on failure)."""
    args = dict(args)
    names_only = {"variable_names": args.pop("variable_names", [])}
    checked = run_action(wireguard_validate_action, "wireguard_validate", names_only,
                         execute_module=lambda **kwargs: {"changed": False})
    if checked.get("failed"):
        return None, checked["errors"]
    if not args.get("lan_interface"):
        args["lan_interface"] = DEFAULT_ROUTE_INTERFACE
    if host_address is not None and not args.get("host_addresses"):
        args["host_addresses"] = [str(host_address)]
    options = yaml.safe_load(wireguard_validate.DOCUMENTATION)["options"]
    spec = {name: {k: v for k, v in option.items() if k in ("type", "elements", "default", "required")}
            for name, option in options.items()}
    checked = ArgumentSpecValidator(spec).validate(args)
    if checked.error_messages:
        return None, list(checked.error_messages)
    params = checked.validated_parameters
    today = datetime.datetime.strptime(params["today"], "%Y-%m-%d").date() if params["today"] else None
    try:
        return _wireguard.build_model(dict(params), today=today), []
    except _wireguard.ValidationError as error:
        return None, error.errors


def wireguard_facts(model):
    """The wireguard_firewall_* facts the role's validate.yml sets from the model, read from its set_fact task."""

    def resolved(name, expression):
        if isinstance(expression, dict):
            return {key: resolved(f"{name}.{key}", value) for key, value in expression.items()}
        match = re.fullmatch(r"\{\{\s*__wireguard_validated\.model\.([\w.]+)\s*\}\}", expression)
        assert match, f"roles/wireguard/tasks/validate.yml sets {name} from {expression!r}: the test needs updating"
        value = model
        for part in match.group(1).split("."):
            value = value[part]
        return value

    return {name: resolved(name, expression) for name, expression in role_task(
        "wireguard", "validate.yml", "ansible.builtin.set_fact")["ansible.builtin.set_fact"].items()
        if name.startswith("wireguard_firewall_")}


def ipv4(text):
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        return None


def admits(model, address, port):
    """Whether the firewall model (the firewall_validate result) lets ``address`` reach TCP ``port``."""
    for service in model["services"]:
        if service["protocol"] != "tcp":
            continue
        low, high = _firewall_model.parse_port(str(service["port"]))
        if low <= port <= high and any(address in ipaddress.ip_network(s) for s in service["ipv4"] + service["ipv6"]):
            return True
    return False


class Checked:
    def __init__(self, inventory, work):
        self.errors = []
        self.hosts = resolve(inventory, work)
        self.address = {host: ipv4(parts["host"]["ansible_host"]) for host, parts in self.hosts.items()}
        self.wireguard = {}
        self.firewall = {}
        self.policy = {}
        self.management_ssh = {}
        for host, parts in self.hosts.items():
            facts = {}
            if "wireguard" in parts:
                model, errors = wireguard_model(parts["wireguard"], self.address[host])
                self.error(host, "wireguard", errors)
                if model is not None:
                    self.wireguard[host] = model
                    facts = wireguard_facts(model)
            if "nginx_needs" in parts:
                facts["nginx_firewall_needs"] = parts["nginx_needs"]
            if "firewall" in parts:
                self.check_firewall(host, parts["firewall"], facts, wireguard_failed="wireguard" in parts
                                    and host not in self.wireguard)
            if "nginx" in parts:
                result = run_action(nginx_validate, "nginx_validate", parts["nginx"])
                self.error(host, "nginx", result.get("errors", [result["msg"]] if result.get("failed") else []))
            if "gateway" in parts:
                result = run_action(gateway_validate, "gateway_validate", parts["gateway"])
                self.error(host, "gateway", result.get("errors", [result["msg"]] if result.get("failed") else []))
                # Every example account must reach something (the role warns about one that cannot).
                self.error(host, "gateway warning", result.get("warnings", []))
                if not result.get("failed"):
                    self.policy[host] = _access_policy.validate_access_policy(parts["gateway"]["config"][
                        "access_policy"])
            if "management_ssh" in parts:
                # Every example declares its management path: where sshd listens on each host (issue 15).
                result = run_action(management_ssh_validate, "management_ssh_validate", parts["management_ssh"])
                self.error(host, "management_ssh", result.get("errors", [result["msg"]] if result.get("failed")
                                                              else []))
                if not result.get("failed"):
                    self.management_ssh[host] = result["model"]
        self.check_wiring()
        self.check_management_path()

    def check_management_path(self):
        """SSH through the tunnel: the connector's SSH host name is the one the access policy's SSH application
        guards (admitting only the provider's service token), and sshd listens on loopback, where it arrives."""
        for host, parts in self.hosts.items():
            name = parts["host"]["cloudflared_ssh_hostname"]
            if not name:
                continue
            policies = [p for p in self.policy.values() if p.get("management_ssh")]
            guarded = [p["management_ssh"]["domain"] for p in policies]
            if name not in guarded:
                self.error(host, "management path", [f"cloudflared_ssh_hostname: {name!r} has no Access application "
                                                     f"(access_policy.management_ssh.domain is {guarded or 'unset'})"])
            if "127.0.0.1:22" not in self.management_ssh.get(host, {}).get("listen", []):
                self.error(host, "management path", ["management_ssh_listen_addresses: the tunnel's SSH arrives on "
                                                     "127.0.0.1, where sshd does not listen"])

    def error(self, host, role, errors):
        self.errors.extend(f"{host}: {role}: {e}" for e in errors)

    def check_firewall(self, host, args, facts, wireguard_failed):
        args = copy.deepcopy(args)
        if wireguard_failed:
            return  # the firewall role would not run: the wireguard entry point fails before it
        # What the firewall role's __firewall_role_needs templates to once the facts are set (or its defaults).
        args["role_needs"] = {name: facts.get(name, default) for name, default in args["role_needs"].items()}
        result = run_action(firewall_validate, "firewall_validate", args)
        self.error(host, "firewall", result.get("errors", [result["msg"]] if result.get("failed") else []))
        # An example inventory should not make the role warn either (ignored rules, for example).
        self.error(host, "firewall warning", result.get("warnings", []))
        if not result.get("failed"):
            self.firewall[host] = result["model"]

    def check_wiring(self):
        front_doors = [h for h, parts in self.hosts.items() if "gateway" in parts]
        for host in front_doors:
            nginx, config = self.hosts[host]["nginx"]["values"], self.hosts[host]["gateway"]["config"]
            expected = {
                "nginx_gateway_enabled": (nginx["nginx_gateway_enabled"], True),
                "nginx_gateway_cache_ttl": (nginx["nginx_gateway_cache_ttl"],
                                            config["decision_cache"]["max_age_seconds"]),
                "nginx_gateway_upstream": (nginx["nginx_gateway_upstream"], "unix:" + config["listen"]["unix_socket"]),
                "nginx_gateway_prefix": (nginx["nginx_gateway_prefix"].rstrip("/"), config["ui_prefix"]),
                "nginx_server_names[0]": ((nginx["nginx_server_names"] or [None])[0], config["public_host"]),
            }
            for name, (value, wanted) in expected.items():
                if value != wanted:
                    self.error(host, "wiring", [f"{name}: {value!r}, but the gateway role on this host needs {wanted!r}"
                                                " (roles/gateway/README.md, Requirements)"])
        for server, model in self.wireguard.items():
            if model["mode"] != "gateway":
                continue
            oscar = ipaddress.IPv4Address(model["oscar_address"])
            known = {h: self.address[h] for h in front_doors if self.address[h] is not None}
            if known and oscar not in known.values():
                self.error(server, "wiring", [f"wireguard_oscar_address: {oscar} is not the address of a front_door "
                                              f"host ({', '.join(f'{h} {a}' for h, a in known.items())})"])
            address = self.address[server]
            if not self.hosts[server]["wireguard"]["masquerade"] or address is None:
                continue
            # Masquerading: every peer reaches the front door with the server's LAN address.
            subnets = [ipaddress.ip_network(i["network"]) for i in model["interfaces"]]
            for host in front_doors:
                if self.address[host] != oscar:
                    continue  # not the front door this server routes to, or its address is a name
                port = self.hosts[host]["nginx"]["values"]["nginx_https_port"]
                if host in self.firewall and not admits(self.firewall[host], address, port):
                    self.error(host, "wiring", [f"nginx_firewall_https_sources, firewall_services: nothing admits "
                                                f"{address} ({server}, which masquerades its WireGuard peers) to TCP "
                                                f"port {port}"])
                for index, cidr in enumerate(self.hosts[host]["nginx"]["values"]["nginx_trusted_proxies"]):
                    network = ipaddress.ip_network(cidr, strict=False)
                    if address in network or any(network.overlaps(s) for s in subnets):
                        self.error(host, "wiring", [f"nginx_trusted_proxies[{index}]: {cidr} contains {server}'s "
                                                    "address or tunnel: any peer could claim any client address"])
                for p_index, policy in enumerate(self.policy.get(host, {}).get("policies", [])):
                    if policy["decision"] == "deny" or "gateway" not in policy["targets"]:
                        continue
                    for clause in ("include", "require"):
                        for index, cidr in enumerate(policy[clause]["ip_ranges"]):
                            network = ipaddress.ip_network(cidr)
                            if address in network or any(network.overlaps(s) for s in subnets):
                                self.error(host, "wiring", [
                                    f"access_policy.policies[{p_index}].{clause}.ip_ranges[{index}]: {cidr} contains "
                                    f"{address} or the tunnel of {server}, which masquerades every WireGuard peer: "
                                    f"they would all match this {policy['decision']} rule"])


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    cache = {}

    def check(inventory):
        if inventory not in cache:
            cache[inventory] = Checked(inventory, tmp_path_factory.mktemp(inventory.name))
        return cache[inventory]

    return check


# The tests ------------------------------------------------------------------------------------------------------------

def test_there_are_example_inventories():
    assert {"demo_clinic", "pi_clinic"} <= {p.name for p in INVENTORIES}


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_inventory_has_the_groups_site_yml_uses(inventory):
    assert (inventory / "hosts.yml").is_file(), "scripts/for_each_clinic.sh only runs directories with a hosts.yml"
    listed = json.loads(ansible("ansible-inventory", "-i", str(inventory), "--list").stdout)
    groups = {name: value for name, value in listed.items() if name != "_meta"}

    def members(name):
        group = groups.get(name, {})
        return set(group.get("hosts", [])).union(*(members(child) for child in group.get("children", [])))

    def descendants(name):
        children = set(groups.get(name, {}).get("children", []))
        return children.union(*(descendants(child) for child in children))

    everyone = set(listed["_meta"]["hostvars"])
    assert "clinic" in groups["all"]["children"]
    assert members("clinic") == everyone, "every host must be in clinic: site.yml's firewall play runs there"
    assert not members("ungrouped")
    for name in SITE_GROUPS:
        assert name in descendants("clinic"), f"{name} must be defined inside clinic (it may be empty)"
    assert members("front_door"), "site.yml needs a front door (nginx and the gateway)"


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_playbooks_pass_the_syntax_check(inventory, playbook):
    ansible("ansible-playbook", "-i", str(inventory), "--syntax-check", str(ROOT / "playbooks" / playbook))


class _TaggedLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: tagged values (!vault, !unsafe) are read as plain text or left out."""


_TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) and suffix != "vault" else None))


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_every_vault_variable_is_in_an_example_file(inventory):
    referenced = set()
    for path in inventory.rglob("*.y*ml"):
        text = path.read_text()
        if text.startswith("$ANSIBLE_VAULT"):
            continue
        for expression in re.findall(r"\{\{(.*?)\}\}", json.dumps(yaml.load(text, Loader=_TaggedLoader), default=str)):
            referenced.update(re.findall(r"\bvault_\w+", expression))
    missing = sorted(referenced - set(vault_placeholders(inventory)))
    assert not missing, f"referenced but not shown in a *.vault.yml.example: {missing}"


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_role_variables_pass_the_roles_own_checks(inventory, checked):
    result = checked(inventory)
    assert result.errors == []
    assert all("firewall" in parts for parts in result.hosts.values()), "every host gets the firewall role"
    assert set(result.management_ssh) == set(result.hosts), "every host declares where sshd listens"


def test_pi_clinic_routes_peers_to_the_gateways_standalone_mfa(checked):
    result = checked(ROOT / "inventories" / "pi_clinic")
    assert result.errors == []
    servers = [h for h, parts in result.hosts.items() if "wireguard" in parts]
    front_doors = [h for h, parts in result.hosts.items() if "gateway" in parts]
    assert servers and front_doors and not set(servers) & set(front_doors), "the Pi is a host of its own"
    for server in servers:
        model = result.wireguard[server]
        assert model["mode"] == "gateway" and result.hosts[server]["wireguard"]["masquerade"] is True
        assert result.address[server] is not None and str(result.address[server]) != model["oscar_address"]
        rules = model["firewall"]["forward_rules"]
        assert rules and all(r["destinations"] == [model["oscar_address"] + "/32"] and r["port"] == 443 for r in rules)
        peers = [p for i in model["interfaces"] for p in i["peers"]]
        assert any(p["generate"] for p in peers), "a peer whose keys the role generates"
        assert any(not p["generate"] for p in peers), "a device with its own public key"
        assert any(p["expires"] for p in peers), "a locum with an expiry date"
        assert any(p["status"] == "disabled" for p in peers), "a revoked peer"
        # The Pi's firewall got WireGuard's needs: its listen port from anywhere, forwarding to the front door only.
        firewall = result.firewall[server]
        udp = {str(s["port"]) for s in firewall["services"] if s["protocol"] == "udp"}
        assert {str(i["listen_port"]) for i in model["interfaces"]} <= udp
        assert firewall["forward"]["enabled"] and firewall["forward"]["rules"]
        tunnels = [ipaddress.ip_network(i["network"]) for i in model["interfaces"]]
        management = [ipaddress.ip_network(n) for n in firewall["management"]["ipv4"] + firewall["management"]["ipv6"]]
        assert management and not any(m.overlaps(t) for m in management for t in tunnels if m.version == t.version)
        for host in front_doors:
            # The front door: HTTPS from the Pi (every peer, masqueraded) and the workstations, not the whole LAN.
            assert admits(result.firewall[host], result.address[server], 443)
            assert not admits(result.firewall[host], ipaddress.IPv4Address("192.0.2.200"), 443), "a LAN printer"
            assert not result.firewall[host]["forward"]["enabled"]
    for host in front_doors:
        config = result.hosts[host]["gateway"]["config"]
        assert config["mode"] == "standalone" and config["login"]["mfa_required"] is True
        allows = [p for p in result.policy[host]["policies"] if p["decision"] == "allow"]
        assert allows and all(p["mfa"]["required"] and p["targets"] == ["gateway"] for p in allows)
        assert any(p["purpose_justification"]["required"] for p in allows)
        assert not any(p["decision"] == "bypass" for p in result.policy[host]["policies"])


# Mistakes in a copy of pi_clinic, each refused by the check that owns it, naming the variable.

def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def peer_address_used_twice(inventory):
    def change(data):
        data["wireguard_peers"][2]["address"] = data["wireguard_peers"][0]["address"]
    _edit(inventory / "group_vars" / "wireguard_servers" / "wireguard_peers.yml", change)
    return "vpn-pi: wireguard: wireguard_peers[2].address: 10.90.1.10 is also the address of wireguard_peers[0]"


def front_door_closed_to_the_pi(inventory):
    def change(data):
        data["nginx_firewall_https_sources"] = ["{{ clinic_workstations }}"]
    _edit(inventory / "group_vars" / "all" / "nginx.yml", change)
    return ("oscar: wiring: nginx_firewall_https_sources, firewall_services: nothing admits 192.0.2.10 (vpn-pi, which "
            "masquerades its WireGuard peers)")


def bypass_for_the_clinic_lan(inventory):
    def change(data):
        data["access_policy"]["policies"].insert(0, {
            "name": "clinic-lan", "decision": "bypass", "targets": ["gateway"],
            "include": {"ip_ranges": ["{{ clinic_lan }}"]}})
    _edit(inventory / "group_vars" / "all" / "access_policy.yml", change)
    return "oscar: wiring: access_policy.policies[0].include.ip_ranges[0]: 192.0.2.0/24 contains 192.0.2.10"


def loopback_in_an_allow_rule(inventory):
    def change(data):
        data["access_policy"]["policies"][1]["require"] = {"ip_ranges": ["127.0.0.1/32"]}
    _edit(inventory / "group_vars" / "all" / "access_policy.yml", change)
    return "oscar: gateway: access_policy.policies[1].require.ip_ranges[0]: '127.0.0.1/32' contains loopback addresses"


def management_source_with_host_bits(inventory):
    def change(data):
        data["firewall_management_sources"][0] = "198.51.100.1/28"
    _edit(inventory / "group_vars" / "all" / "firewall.yml", change)
    return "oscar: firewall: firewall_management_sources[0]: '198.51.100.1/28' has host bits set"


# Two broken copies, each with mistakes that do not hide one another (a firewall that fails its own check is not
# compared with the WireGuard server's needs, for one).
MISTAKES = {
    peer_address_used_twice: "first",
    loopback_in_an_allow_rule: "first",
    management_source_with_host_bits: "first",
    front_door_closed_to_the_pi: "second",
    bypass_for_the_clinic_lan: "second",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    cache = {}

    def errors_of(copy_name):
        if copy_name not in cache:
            base = tmp_path_factory.mktemp(f"broken-{copy_name}")
            inventory = base / "inventories" / "pi_clinic"
            shutil.copytree(ROOT / "inventories" / "pi_clinic", inventory)
            expected = {mistake: mistake(inventory) for mistake, name in MISTAKES.items() if name == copy_name}
            cache[copy_name] = Checked(inventory, base / "work").errors, expected
        return cache[copy_name]

    return errors_of


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=lambda f: f.__name__)
def test_a_mistake_in_pi_clinic_is_refused_naming_the_variable(mistake, broken):
    errors, expected = broken(MISTAKES[mistake])
    assert any(expected[mistake] in error for error in errors), errors
