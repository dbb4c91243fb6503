"""The cloudflared role against the real cloudflared (../shared/cloudflared, extracted with dpkg-deb -x, run with
loopback only): every example inventory's rendered config.yml passes `ingress validate`, and feature detection reads
output, not exit statuses. Skipped, saying why, where ../shared is absent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflared_ingress as model
from tests import real_cloudflared

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "cloudflared"
INVENTORIES = sorted(p for p in (ROOT / "inventories").iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def binaries():
    problem = (real_cloudflared.missing() or real_cloudflared.missing(real_cloudflared.OLD)
               or (None if real_cloudflared.can_isolate() else "cannot create a network namespace here (needs root)"))
    if problem:
        pytest.skip(problem)
    return {version: real_cloudflared.binary(version) for version in real_cloudflared.VERSIONS}


def rendered_configs(inventory, work):
    """{host: config.yml text} for the inventory's cloudflared connectors, rendered by Ansible from the role's own
    template with the role's defaults and vars in scope (the role is loaded with `when: false`: nothing runs)."""
    playbook = [{
        "hosts": "cloudflared_connectors",
        "gather_facts": False,
        "roles": [{"role": "oscar_emr.remote_access.cloudflared", "when": False}],
        "tasks": [{
            "name": "Render config.yml",
            "ansible.builtin.debug": {
                "msg": "{{ {'mode': cloudflared_tunnel_mode, 'text': lookup('ansible.builtin.template', '%s')} }}"
                       % (ROLE / "templates" / "config.yml.j2")},
            "vars": {"__cloudflared_config": "{{ __cloudflared_settings | "
                                             "oscar_emr.remote_access.cloudflared_config }}"},
        }],
    }]
    work.mkdir(parents=True, exist_ok=True)
    (work / "render.yml").write_text(yaml.safe_dump(playbook, sort_keys=False, width=1000))
    placeholders = {}
    for example in sorted(inventory.rglob("*.vault.yml.example")):
        placeholders.update(yaml.safe_load(example.read_text()) or {})
    (work / "extra.json").write_text(json.dumps(dict(placeholders, ansible_connection="local")))
    env = dict(os.environ, PATH="%s:%s" % (Path(sys.executable).parent, os.environ["PATH"]),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory / "hosts.yml"), str(work / "render.yml"),
                           "-e", "@%s" % (work / "extra.json")], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    plays = json.loads(proc.stdout)["plays"]
    if not plays or not plays[0]["tasks"]:
        return {}
    return {host: result["msg"] for host, result in plays[0]["tasks"][-1]["hosts"].items()}


def test_every_example_inventorys_rendered_config_passes_the_real_ingress_validate(binaries, tmp_path):
    validated = []
    for inventory in INVENTORIES:
        for host, rendered in rendered_configs(inventory, tmp_path / inventory.name).items():
            if rendered["mode"] != "local":
                continue  # a remotely managed tunnel's ingress lives in Cloudflare; the role validates only local
            config = tmp_path / ("%s-%s.yml" % (inventory.name, host))
            config.write_text(rendered["text"])
            for version, binary in binaries.items():
                proc = real_cloudflared.run([binary, "tunnel", "--config", config, "ingress", "validate"])
                assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
                    inventory.name, host, version, proc.stdout, proc.stderr)
            assert model.validate_config(yaml.safe_load(rendered["text"]), strict=True).errors == []
            validated.append("%s/%s" % (inventory.name, host))
    assert validated, "no example inventory has a locally managed tunnel to validate"


def test_an_unknown_flag_exits_0_so_the_role_reads_the_help_text(binaries):
    """Break 4 of issue 11: 2025.2.1 has no --token-file; asked for it, it prints usage on stdout and exits 0."""
    old, new = binaries[real_cloudflared.OLD], binaries[real_cloudflared.NEW]
    proc = real_cloudflared.run([old, "tunnel", "run", "--token-file", "/nonexistent"])
    assert proc.returncode == 0
    assert "Incorrect Usage: flag provided but not defined: -token-file" in proc.stdout
    for binary, expected in ((old, False), (new, True)):
        help_text = real_cloudflared.run([binary, "tunnel", "run", "--help"])
        assert help_text.returncode == 0
        assert model.help_lists_flag(help_text.stdout, "token-file") is expected
        assert model.help_lists_flag(help_text.stdout, "token") is True
        version = real_cloudflared.run([binary, "--version"]).stdout
        assert model.supports_token_file(model.parse_version(version)) is expected


def test_the_role_reads_token_file_support_from_the_help_text_not_an_exit_status():
    tasks = yaml.safe_load((ROLE / "tasks" / "version.yml").read_text())
    help_task = next(task for task in tasks if "help text" in task["name"])
    assert help_task["ansible.builtin.command"]["cmd"].endswith(" tunnel run --help")
    assert help_task["failed_when"] is False
    choose = next(task for task in tasks if task["name"] == "Choose how the service gets the tunnel token")
    assert "cloudflared_help_has_flag('token-file')" in choose["vars"]["__cloudflared_token_file"]
    assert "rc" not in json.dumps(choose)


# Issue 15: the provider's SSH through the tunnel ------------------------------------------------------------------

DOC = ROOT / "docs" / "management-path.md"


def _cloudflare_snippets():
    """The documented token file (sh) and group_vars snippet (yaml) of the Cloudflare section."""
    text = DOC.read_text().split("## Cloudflare clinics", 1)[1]
    blocks = {}
    for part in text.split("```")[1::2]:
        kind, _newline, body = part.partition("\n")
        if kind.strip() == "sh" or "ansible_ssh_common_args" in body:  # not the access policy's snippet
            blocks.setdefault(kind.strip(), body)
    return blocks["sh"], yaml.safe_load(blocks["yaml"])


def test_the_ssh_host_name_passes_the_real_ingress_validate_and_routes_to_sshd(binaries, tmp_path):
    settings = {"tunnel_mode": "local", "tunnel_credentials": {"TunnelID": "6ff42ae2-765d-4adf-8112-31c55c1551ef"},
                "oscar_hostname": "emr.clinic.example", "origin_service": "https://127.0.0.1:443",
                "ssh_hostname": "ssh.clinic.example", "metrics_address": "127.0.0.1:20241", "loglevel": "info",
                "protocol": "auto"}
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(model.build_config(settings)))
    for version, binary in binaries.items():
        checked = real_cloudflared.run([binary, "tunnel", "--config", config, "ingress", "validate"])
        assert checked.returncode == 0 and checked.stdout.strip().endswith("OK"), (version, checked.stderr)
        routed = real_cloudflared.run([binary, "tunnel", "--config", config, "ingress", "rule",
                                       "https://ssh.clinic.example"])
        assert routed.returncode == 0, (version, routed.stderr)
        # cloudflared counts rules from 0: #1 is the second rule, the SSH one (OSCAR's is #0).
        assert "Matched rule #1\n" in routed.stdout and "service: ssh://localhost:22" in routed.stdout, routed.stdout
        oscar = real_cloudflared.run([binary, "tunnel", "--config", config, "ingress", "rule",
                                      "https://emr.clinic.example"])
        assert "Matched rule #0\n" in oscar.stdout and "ssh://" not in oscar.stdout, oscar.stdout


def test_the_documented_proxycommand_uses_flags_the_real_cloudflared_has_and_keeps_the_token_off_the_command_line(
        binaries):
    token_file, group_vars = _cloudflare_snippets()
    command = group_vars["ansible_ssh_common_args"]
    proxy = command.split("ProxyCommand=", 1)[1]
    assert "cloudflared access ssh" in proxy
    names = [line.split("=", 1)[0] for line in token_file.splitlines() if line and not line.startswith("#")]
    assert names == ["TUNNEL_SERVICE_TOKEN_ID", "TUNNEL_SERVICE_TOKEN_SECRET"]
    # Neither the token nor a flag that would carry it is on the command line.
    assert "--service-token" not in proxy and "--id" not in proxy and "--secret" not in proxy
    used = [word for word in proxy.replace("'", " ").replace('"', " ").split() if word.startswith("--")]
    assert used == ["--hostname"]
    for version, binary in binaries.items():
        helped = real_cloudflared.run([binary, "access", "ssh", "--help"])
        assert helped.returncode == 0, (version, helped.stderr)
        options = helped.stdout
        for flag in used:
            assert re_flag(flag, options), (version, flag)
        for flag, variable in (("--service-token-id", names[0]), ("--service-token-secret", names[1])):
            line = next((line for line in options.splitlines() if line.strip().startswith(flag + " ")), "")
            assert "[$%s]" % variable in line, (version, flag, line)


def re_flag(flag, help_text):
    return any(line.strip().startswith(flag + " ") or (", " + flag + " ") in line for line in help_text.splitlines())
