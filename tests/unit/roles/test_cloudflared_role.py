"""The cloudflared role's own contract: secrets handling in its tasks, the unit it renders, its filters, and the
egress rules it publishes for the firewall role."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from entry_points import published, run_entry_point

from ansible_collections.oscar_emr.remote_access.plugins.filter import cloudflared_config as filters
from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _firewall_model as firewall

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "cloudflared"
COLLECTIONS = ROOT / ".build" / "collections"
SECRETS = ("cloudflared_tunnel_token", "cloudflared_tunnel_credentials")


def all_tasks():
    """Every task of the role, blocks flattened, with the file it is in."""
    def walk(tasks, path):
        for task in tasks or []:
            yield path, task
            for key in ("block", "rescue", "always"):
                yield from walk(task.get(key), path)

    for path in [*sorted((ROLE / "tasks").glob("*.yml")), ROLE / "handlers" / "main.yml"]:
        yield from walk(yaml.safe_load(path.read_text()), path.name)


def test_every_task_that_handles_a_secret_hides_it():
    handled = []
    for path, task in all_tasks():
        if "block" in task:
            continue
        body = json.dumps({k: v for k, v in task.items() if k not in ("name", "when")})
        if any(secret in body for secret in SECRETS):
            handled.append(task["name"])
            assert task.get("no_log") is True, "%s: %r needs no_log: true" % (path, task["name"])
            module = next(k for k in task if "." in k and k.split(".")[-1] in ("copy", "template", "place_files"))
            assert task.get("diff") is False, "%s: %r (%s) needs diff: false" % (path, task["name"], module)
    assert handled == ["Install the tunnel token and credentials (root-only or service user only)"], handled


def test_secrets_are_root_only_or_service_user_only():
    tasks = {task["name"]: task for _path, task in all_tasks() if "name" in task}
    files = tasks["Install the tunnel token and credentials (root-only or service user only)"]["vars"]
    token, env, creds = (files["__cloudflared_%s_files" % kind] for kind in ("token", "env", "credential"))
    for text in (token, env):
        assert "'owner': 'root', 'group': 'root', 'mode': '0600'" in " ".join(text.split())
    assert "'owner': cloudflared_user, 'group': cloudflared_group, 'mode': '0600'" in " ".join(creds.split())


def render_unit(token_file, env_file, binary="/usr/bin/cloudflared", test_edge_option=""):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    values = {key: variables[key] for key in ("__cloudflared_credential_name", "__cloudflared_state_dir")}
    values.update({
        "ansible_managed": "Ansible managed", "cloudflared_user": "cloudflared", "cloudflared_group": "cloudflared",
        "cloudflared_ready_timeout": 60, "__cloudflared_binary": binary,
        "__cloudflared_config_path": "/etc/cloudflared/config.yml",
        "__cloudflared_token_path": "/etc/cloudflared/token",
        "__cloudflared_env_path": "/etc/cloudflared/tunnel.env", "__cloudflared_use_token_file": token_file,
        "__cloudflared_use_env_file": env_file, "__cloudflared_test_edge_option": test_edge_option,
    })
    return env.get_template("cloudflared.service.j2").render(**values)


@pytest.mark.parametrize("token_file,env_file", [(True, False), (False, True), (False, False)])
def test_the_unit_never_carries_a_token_and_is_sandboxed(token_file, env_file):
    unit = render_unit(token_file, env_file)
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "--no-autoupdate" in exec_start
    assert "--token " not in unit and "--token=" not in unit and "TUNNEL_TOKEN" not in unit.split("[Unit]")[1]
    for directive in ("User=cloudflared", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "ProtectSystem=strict",
                      "PrivateTmp=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
                      "SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM", "Restart=on-failure"):
        assert directive in unit, directive
    assert ("LoadCredential=tunnel-token:/etc/cloudflared/token" in unit) is token_file
    assert ("--token-file %d/tunnel-token" in exec_start) is token_file
    assert ("EnvironmentFile=/etc/cloudflared/tunnel.env" in unit) is env_file
    assert "--edge" not in unit


@pytest.mark.parametrize("token_file,env_file", [(True, False), (False, True), (False, False)])
def test_an_isolated_test_edge_is_a_tunnel_option_before_run(token_file, env_file):
    unit = render_unit(token_file, env_file, test_edge_option=" --edge 127.0.0.1:7844")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert " tunnel --config /etc/cloudflared/config.yml --edge 127.0.0.1:7844 run" in exec_start
    # Two addresses (so that the connector backs off between attempts): one --edge each, as the role's vars make them.
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert variables["__cloudflared_test_edge_option"] == (
        "{{ cloudflared_test_edge | oscar_emr.remote_access.cloudflared_test_edge_option }}")
    option = filters.cloudflared_test_edge_option(["127.0.0.1:7844", "127.0.0.2:7844"])
    exec_start = next(line for line in render_unit(token_file, env_file, test_edge_option=option).splitlines()
                      if line.startswith("ExecStart="))
    assert " tunnel --config /etc/cloudflared/config.yml --edge 127.0.0.1:7844 --edge 127.0.0.2:7844 run" in exec_start


def test_type_notify_start_is_not_limited_by_systemd_the_role_waits_itself():
    """cloudflared sends READY=1 only after its first edge connection and retries by itself: a start timeout would
    only kill and restart it (upstream's unit has none either); the handlers and the start do not block."""
    unit = render_unit(True, False)
    assert "Type=notify" in unit and "TimeoutStartSec=infinity" in unit
    handlers = yaml.safe_load((ROLE / "handlers" / "main.yml").read_text())
    restart = next(handler for handler in handlers if handler["name"] == "Restart cloudflared")
    assert restart["ansible.builtin.systemd_service"]["no_block"] is True
    service = yaml.safe_load((ROLE / "tasks" / "service.yml").read_text())
    start = next(task for task in service if task["name"].startswith("Enable and start cloudflared"))
    # systemd_if_needed hands its arguments to ansible.builtin.systemd_service when the unit is not running
    assert start["oscar_emr.remote_access.systemd_if_needed"]["no_block"] is True


def test_filters_are_registered():
    names = set(filters.FilterModule().filters())
    assert names == {"cloudflared_problems", "cloudflared_config", "cloudflared_ingress_report", "cloudflared_version",
                     "cloudflared_token_file_supported", "cloudflared_ready_url", "cloudflared_egress_rules",
                     "cloudflared_help_has_flag", "cloudflared_test_edge_option"}
    assert filters.cloudflared_version("cloudflared version 2025.8.0 (built x)") == "2025.8.0"
    assert filters.cloudflared_version("garbage") == ""
    assert filters.cloudflared_token_file_supported("2025.4.0") is True
    report = filters.cloudflared_ingress_report([{"hostname": "a.example.com", "service": "http://x"}])
    assert report["errors"] == ["rule #1: The last ingress rule must match all URLs (i.e. it should not have a "
                                "hostname or path filter)"]


# A token of the documented shape (base64 JSON with a, t, s), made up for these tests.
TOKEN = base64.b64encode(json.dumps({
    "a": "0123456789abcdef0123456789abcdef", "t": "3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab",
    "s": base64.b64encode(b"unit-test-tunnel-secret-not-real-0123456789").decode()}).encode()).decode()
VALID = {"cloudflared_apt_key_fingerprints": ["AB" * 20], "cloudflared_tunnel_token": TOKEN}


def run_firewall_egress(state="present", **extra):
    """Run the role's firewall_egress entry point on localhost; return the completed process."""
    return run_entry_point("cloudflared", "firewall_egress", "cloudflared_firewall_needs",
                           dict(VALID, **extra, cloudflared_state=state))


def published_egress_rules(state="present", **extra):
    """Run the role's firewall_egress entry point on localhost and return the fact it sets."""
    return published(run_firewall_egress(state, **extra), "cloudflared_firewall_needs")["egress_rules"]


def test_the_published_egress_rules_are_what_the_firewall_role_takes():
    rules = published_egress_rules()
    assert rules == [
        {"name": "cloudflared-quic", "port": 7844, "protocol": "udp", "destinations": ["0.0.0.0/0", "::/0"]},
        {"name": "cloudflared-http2", "port": 7844, "protocol": "tcp", "destinations": ["0.0.0.0/0", "::/0"]},
        {"name": "cloudflared-api", "port": 443, "protocol": "tcp", "destinations": ["0.0.0.0/0", "::/0"]},
    ]
    model, _warnings = firewall.build_model({
        "management_sources": ["192.0.2.10/32"], "egress_enabled": True, "egress_rules": rules,
    })
    names = [rule["comment"] for rule in model["egress"]["rules"]]
    assert {"cloudflared-quic", "cloudflared-http2", "cloudflared-api"} <= set(names)
    assert published_egress_rules("absent") == []


def test_a_front_door_on_another_host_is_published_too():
    """cloudflared on a Pi reaches nginx on the OSCAR host: that address and port join the egress rules."""
    rules = published_egress_rules(cloudflared_origin_service="https://192.168.1.20:8443",
                                   cloudflared_egress_destinations=["198.41.192.0/19"])
    assert rules[-1] == {"name": "cloudflared-origin", "port": 8443, "protocol": "tcp",
                         "destinations": ["192.168.1.20/32"]}
    assert rules[0]["destinations"] == ["198.41.192.0/19"]
    firewall.build_model({"management_sources": ["192.0.2.10/32"], "egress_enabled": True, "egress_rules": rules})


def role_vars(facts, **overrides):
    """Template the role's internal variables for a host with these facts (ad hoc, on localhost)."""
    extra = {"ansible_facts": facts}
    extra.update(overrides)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")
    wanted = "{{ {'arch': __cloudflared_arch, 'package': __cloudflared_package, 'format': __cloudflared_format, " \
             "'binary': __cloudflared_binary, 'problems': __cloudflared_settings | " \
             "oscar_emr.remote_access.cloudflared_problems} }}"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.debug",
         "-a", "msg=" + wanted, "-e", "@%s" % (ROLE / "defaults" / "main.yml"),
         "-e", "@%s" % (ROLE / "vars" / "main.yml"), "-e", json.dumps(extra)],
        capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


PACKAGES = {
    "amd64": {"url": "https://mirror.example/cloudflared-linux-amd64.deb", "sha256": "a" * 64},
    "arm64": {"url": "https://mirror.example/cloudflared-linux-arm64", "sha256": "b" * 64},
}
TOKEN = "eyJhIjoiYWNjIiwidCI6IjZmZjQyYWUyLTc2NWQtNGFkZi04MTEyLTMxYzU1YzE1NTFlZiIsInMiOiJZV0pqIn0="


@pytest.mark.parametrize("machine,arch,fmt,binary", [
    ("x86_64", "amd64", "deb", "/usr/bin/cloudflared"),
    ("aarch64", "arm64", "binary", "/usr/local/bin/cloudflared"),
])
def test_the_package_is_picked_by_architecture(machine, arch, fmt, binary):
    got = role_vars({"architecture": machine}, cloudflared_install_method="url", cloudflared_packages=PACKAGES,
                    cloudflared_tunnel_token=TOKEN)
    assert (got["arch"], got["package"], got["format"], got["binary"]) == (arch, PACKAGES[arch], fmt, binary)
    assert got["problems"] == []


def test_an_unsupported_architecture_is_refused_before_anything_changes():
    got = role_vars({"architecture": "armv7l"}, cloudflared_install_method="url", cloudflared_packages=PACKAGES,
                    cloudflared_tunnel_token=TOKEN)
    assert got["arch"] == ""
    assert got["problems"] == ["this host's architecture 'armv7l' is not supported: cloudflared runs on amd64 (x86_64) "
                               "and arm64 (aarch64, Raspberry Pi OS 64-bit)"]


def test_the_firewall_entry_point_refuses_bad_settings_with_the_roles_messages():
    """A firewall play runs this entry point first, so it must not publish rules from settings the role refuses."""
    proc = run_firewall_egress(cloudflared_tunnel_token="", cloudflared_apt_key_fingerprints=[])
    assert proc.returncode == 2
    assert "cloudflared_tunnel_token: is required with cloudflared_tunnel_mode 'token'" in proc.stdout
    assert "cloudflared_apt_key_fingerprints: is empty" in proc.stdout
    assert "cloudflared_firewall_needs" not in proc.stdout.split("Check the settings before anything changes")[1]
