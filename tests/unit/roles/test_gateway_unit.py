"""The gateway role's systemd unit: ordering at boot by what the gateway reaches over the network, checked by
systemd's own parser (systemd-analyze verify) as well as read."""

import configparser
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "gateway"


def render(mode, relay_host=""):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    values = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    values = {key: value for key, value in values.items() if key.startswith("__gateway_")
              and isinstance(value, str) and "{{" not in value}
    values.update({"ansible_managed": "Ansible managed", "gateway_mode": mode, "gateway_mail_relay_host": relay_host,
                   "gateway_memory_max": "256M", "gateway_socket_group": "www-data",
                   "__gateway_config_path": "/etc/oscar-gateway/config.json",
                   "__gateway_secrets_path": "/etc/oscar-gateway/secrets.json",
                   "__gateway_lib_dir": "/usr/local/lib/oscar-gateway",
                   "__gateway_state_dir": "/var/lib/oscar-gateway",
                   "__gateway_user": "oscar-gateway", "__gateway_group": "oscar-gateway"})
    return env.get_template("oscar-gateway.service.j2").render(values)


def unit_section(text):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser["Unit"]


@pytest.mark.parametrize("mode, relay", [("cloudflare", ""), ("standalone", "mail.clinic.example")])
def test_a_gateway_that_reaches_out_starts_after_the_network_is_online(mode, relay):
    unit = unit_section(render(mode, relay))
    assert unit["Wants"] == "network-online.target"
    assert unit["After"] == "network-online.target"
    assert unit["Before"] == "nginx.service"


def test_a_standalone_gateway_without_mail_does_not_wait_for_the_network():
    # It has no network at all (PrivateNetwork=yes): waiting for network-online would only slow the boot.
    text = render("standalone")
    unit = unit_section(text)
    assert "Wants" not in unit and unit["After"] == "network.target"
    assert "PrivateNetwork=yes" in text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("mode, relay", [("cloudflare", ""), ("standalone", "")])
def test_systemd_parses_the_unit(tmp_path, mode, relay):
    path = tmp_path / "oscar-gateway.service"
    path.write_text(render(mode, relay))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True,
                            check=False)
    # The binaries and users of a clinic host are not on this machine: only parse errors of the unit itself count.
    problems = [line for line in result.stderr.splitlines()
                if "oscar-gateway.service:" in line and ("Unknown" in line or "Failed to parse" in line
                                                         or "Invalid" in line)]
    assert not problems, result.stderr
