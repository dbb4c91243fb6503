"""Fixtures for the cloudflared scenario's tests.

Containers are reached with testinfra's podman backend (podman exec); playbook runs go through Ansible with
the scenario's own inventory, like Molecule's converge, so tests can change variables with --extra-vars.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
OSCAR, PI = "cloudflared-oscar", "cloudflared-pi"
HOSTS = (OSCAR, PI)
CONFIG_DIR = "/etc/cloudflared"
UNIT = "/etc/systemd/system/cloudflared.service"
READY = "http://127.0.0.1:20241/ready"
METRICS = "http://127.0.0.1:20241/metrics"
MIRROR_VARS = json.loads((PROJECT / ".build" / "molecule-cloudflared-real" / "vars.json").read_text())
# Where every connector is pinned (cloudflared_test_edge): nothing answers there.
TEST_EDGE = "127.0.0.1:7844"

# The scenario's fake secrets (molecule.yml): none of them may show up anywhere but in their root-only files.
TUNNEL_ID = "3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab"
TUNNEL_SECRET = "bW9sZWN1bGUtdGVzdC10dW5uZWwtc2VjcmV0LW5vdC1yZWFsLTAxMjM0NTY3ODk="
TOKEN = (
    "eyJhIjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYiLCJ0IjoiM2MxZTZiMmEtNWQ0Zi00ZThhLTliN2MtMDEyMzQ1Njc4OWF"
    "iIiwicyI6ImJXOXNaV04xYkdVdGRHVnpkQzEwZFc1dVpXd3RjMlZqY21WMExXNXZkQzF5WldGc0xUQXhNak0wTlRZM09Eaz0ifQ=="
)
# The raw secret bytes, decoded, would also be a leak.
SECRET_MARKERS = (TOKEN, TUNNEL_SECRET, TOKEN[:40], TUNNEL_SECRET[:24], "molecule-test-tunnel-secret")


def container(name):
    return testinfra.get_host("podman://" + name)


@pytest.fixture(scope="session")
def oscar():
    return container(OSCAR)


@pytest.fixture(scope="session")
def pi():
    return container(PI)


def leaks(text):
    """The secret markers found in text."""
    return [marker for marker in SECRET_MARKERS if marker in text]


def run_playbook(*args, limit=None, timeout=600):
    """Run the scenario's converge playbook against the Molecule inventory; return (rc, output)."""
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "converge.yml"), *args]
    if limit:
        cmd[1:1] = ["-l", limit]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env,
                          check=False)
    return proc.returncode, proc.stdout


def extra_vars(**values):
    return ["--extra-vars", json.dumps(values)]


def recap(output, host):
    """(ok, changed, failed) counts of a host in a play recap."""
    for line in output.splitlines():
        if line.startswith(host + " ") and "ok=" in line:
            fields = dict(item.split("=") for item in line.split(":", 1)[1].split())
            return int(fields["ok"]), int(fields["changed"]), int(fields["failed"])
    raise AssertionError("no recap line for %s in:\n%s" % (host, output[-3000:]))


def http_code(host, url):
    return host.check_output("curl -s -o /dev/null -w '%%{http_code}' --max-time 5 %s", url)


def running_version(host):
    """The release the running connector reports in /metrics (build_info{...,version="2026.8.2"} 1)."""
    metrics = host.check_output("curl -sf --max-time 5 %s", METRICS)
    match = re.search(r'^build_info\{[^}]*version="([^"]+)"', metrics, re.M)
    assert match, metrics[:2000]
    return match.group(1)


def connector_log(host):
    """The current invocation's journal (cloudflared logs on stderr, to the journal)."""
    invocation = service_property(host, "InvocationID")
    return host.check_output("journalctl _SYSTEMD_INVOCATION_ID=%s --no-pager -o cat", invocation)


def started_tunnel(host):
    """The tunnel ID the running connector says it starts ("Starting tunnel tunnelID=...")."""
    match = re.search(r"Starting tunnel tunnelID=(\S+)", connector_log(host))
    return match.group(1) if match else None


def isolation_counters(host):
    """Packets nftables counted from system users (the connector) to anything but loopback, per rule."""
    chain = host.check_output("nft list chain inet test_isolation output")
    return [int(n) for n in re.findall(r"counter packets (\d+) bytes \d+ comment \"connector-off-host\"", chain)]


def double_info(host):
    """What the running TEST DOUBLE reports about itself on the metrics address (no secrets in it)."""
    return json.loads(host.check_output("curl -sf http://127.0.0.1:20241/testdouble"))


def service_property(host, name):
    return host.check_output("systemctl show cloudflared.service --property=%s --value", name)


def file_sha(host, path):
    result = host.run("sha256sum %s", path)
    return result.stdout.split()[0] if result.rc == 0 else None


def snapshot(host):
    """What must not change when a run is refused."""
    return {
        "invocation": service_property(host, "InvocationID"),
        "config": file_sha(host, CONFIG_DIR + "/config.yml"),
        "unit": file_sha(host, UNIT),
        "package": host.run("dpkg-query -W -f='${Version}' cloudflared").stdout,
        "binary": file_sha(host, "/usr/local/bin/cloudflared"),
        "secrets": host.check_output("ls -l --time-style=+%%s.%%N %s", CONFIG_DIR),
    }
