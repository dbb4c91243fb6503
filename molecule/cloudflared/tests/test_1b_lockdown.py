"""playbooks/lockdown.yml step 5 with the real connectors: the tunnel's secret is rotated through the (fake)
Cloudflare API from the controller, then both connectors get the new secret and restart (5c): the Pi its token
(TUNNEL_TOKEN environment file: cloudflared 2025.2.1), the OSCAR host its credentials file (locally managed). Check
mode first, which changes nothing. Only the Cloudflare steps run: the inventory has no gateway and no WireGuard server.

Runs after test_1_converged.py (which checks the converged secrets) and before test_2_changes.py, whose upgrade
re-converges the inventory's token and credentials and whose removal takes the Pi's connector away.

The Cloudflare API is tests/fake_cloudflare, the project's TEST DOUBLE of it (held to the API's contract and OpenAPI
document on every request), on the controller's loopback, seeded with the scenario's tunnel (its id and secret: the
token it answers is the scenario's). The connectors stay pinned to the test edge (cloudflared_test_edge).
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from conftest import (
    CONFIG_DIR,
    HOSTS,
    MIRROR_VARS,
    OSCAR,
    PI,
    PROJECT,
    TEST_EDGE,
    TUNNEL_ID,
    TUNNEL_SECRET,
    connector_log,
    container,
    file_sha,
    leaks,
    recap,
    service_property,
    snapshot,
    started_tunnel,
)

sys.path.insert(0, str(PROJECT / "tests"))
from fake_cloudflare.harness import running_fake

LOCKDOWN = PROJECT / "playbooks" / "lockdown.yml"
TUNNEL_NAME = "molecule-clinic"
# The scenario's account (test_account_tag), the fake's too.
ACCOUNT_TAG = "0123456789abcdef0123456789abcdef"
# Where each connector keeps its secret, and the secret's owner and mode.
SECRET_FILE = {OSCAR: ("%s/%s.json" % (CONFIG_DIR, TUNNEL_ID), "cloudflared", "cloudflared", 0o600),
               PI: (CONFIG_DIR + "/tunnel.env", "root", "root", 0o600)}
# The smallest access policy: one application and one allow rule, no service token (5b rotates none).
ACCESS_POLICY = {
    "application": {"name": "OSCAR EMR - Molecule clinic", "domain": "emr.clinic.test"},
    "login_methods": [{"name": "OTP", "type": "onetimepin"}],
    "policies": [{"name": "staff", "decision": "allow", "include": {"emails": ["dr.lee@clinic.test"]}}],
}


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def secret_of(name, content):
    """The secret a connector's file holds: the OSCAR host's TunnelSecret, the Pi's TUNNEL_TOKEN."""
    if name == OSCAR:
        return json.loads(content)["TunnelSecret"]
    match = re.fullmatch(r"TUNNEL_TOKEN=(\S+)\n", content)
    assert match, "the environment file holds one TUNNEL_TOKEN line"
    return match.group(1)


def state(name):
    host = container(name)
    path = SECRET_FILE[name][0]
    item = host.file(path)
    return {
        "snapshot": snapshot(host),
        "pid": service_property(host, "MainPID"),
        "started": service_property(host, "ExecMainStartTimestampMonotonic"),
        "secret_file": file_sha(host, path),
        "secret_sha": sha(secret_of(name, item.content_string)),
        "owner": (item.user, item.group, item.mode),
    }


def run_lockdown(inventory, *args):
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(inventory), str(LOCKDOWN),
           *args]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost")
    for key in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_BASE_URL"):
        env.pop(key, None)  # the inventory's variables point at the fake, nothing else
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, env=env,
                          check=False)
    return proc.returncode, proc.stdout


@pytest.fixture(scope="module")
def lockdown(tmp_path_factory):
    """Check mode, then the lockdown; what the hosts and the fake looked like before, between and after."""
    with running_fake() as fake:
        assert fake.account_id == ACCOUNT_TAG
        fake.add_tunnel(TUNNEL_NAME, TUNNEL_ID, TUNNEL_SECRET)
        inventory = tmp_path_factory.mktemp("lockdown") / "cloudflare.yml"
        # The scenario's inventory (hosts, connection, the role's settings) plus this: Cloudflare at the fake, and
        # the mirror's paths that converge.yml loads for the role.
        inventory.write_text(yaml.safe_dump({"all": {"vars": dict(
            MIRROR_VARS,
            cloudflare_account_id=fake.account_id,
            cloudflare_api_base_url=fake.url,
            cloudflare_api_token=fake.token,
            cloudflare_team_name=TUNNEL_NAME,
            cloudflare_tunnel_name=TUNNEL_NAME,
            cloudflare_tunnel_config_src="cloudflare",
            access_policy=ACCESS_POLICY,
        )}}))
        before = {name: state(name) for name in HOSTS}
        fake.reset_requests()
        check_rc, check_out = run_lockdown(inventory, "--check")
        check_writes = fake.writes
        after_check = {name: state(name) for name in HOSTS}
        fake.reset_requests()
        rc, out = run_lockdown(inventory)
        (tunnel,) = fake.objects("tunnels")
        yield SimpleNamespace(
            check_rc=check_rc, check_out=check_out, check_writes=check_writes, rc=rc, out=out,
            patches=[r.path for r in fake.calls("PATCH")], before=before, after_check=after_check,
            after={name: state(name) for name in HOSTS}, token=fake._token_for(tunnel), secret=tunnel["_secret"])


def test_check_mode_says_what_it_would_do_and_changes_nothing(lockdown):
    assert lockdown.check_rc == 0, lockdown.check_out[-3000:]
    assert "tunnel %s: would rotate the secret" % TUNNEL_NAME in lockdown.check_out
    for name in HOSTS:
        assert "cloudflared on %s: would restart with the new token" % name in lockdown.check_out
        assert recap(lockdown.check_out, name)[1] > 0, "check mode shows the secret and the restart to come"
    assert lockdown.check_writes == 0, "nothing written to Cloudflare"
    assert lockdown.after_check == lockdown.before


def test_the_tunnels_secret_is_rotated_at_cloudflare(lockdown):
    assert lockdown.rc == 0, lockdown.out[-3000:]
    assert lockdown.patches == ["/accounts/%s/cfd_tunnel/%s" % (ACCOUNT_TAG, TUNNEL_ID)]
    assert sha(lockdown.secret) != sha(TUNNEL_SECRET)
    assert "tunnel %s: secret rotated" % TUNNEL_NAME in lockdown.out


@pytest.mark.parametrize("name", HOSTS)
def test_each_connector_holds_the_new_secret_in_its_private_file(lockdown, name):
    """The Pi's token is the one the API now answers; the OSCAR host's credentials carry the new secret (before the
    fix, Ansible's no_log mask, or the old secret: 5c gave locally managed connectors the token only)."""
    new = lockdown.token if name == PI else lockdown.secret
    assert lockdown.before[name]["secret_sha"] != sha(new)
    assert lockdown.after[name]["secret_sha"] == sha(new)
    assert lockdown.after[name]["owner"] == lockdown.before[name]["owner"] == SECRET_FILE[name][1:]
    host = container(name)
    if name == OSCAR:
        credentials = json.loads(host.file(SECRET_FILE[name][0]).content_string)
        assert (credentials["AccountTag"], credentials["TunnelID"]) == (ACCOUNT_TAG, TUNNEL_ID)
    assert host.check_output("ls %s", CONFIG_DIR).split() == sorted(
        ["config.yml", "origin-ca.pem", os.path.basename(SECRET_FILE[name][0])])


@pytest.mark.parametrize("name", HOSTS)
def test_each_connector_restarted_and_runs_pinned_to_the_test_edge(lockdown, name):
    host = container(name)
    before, after = lockdown.before[name], lockdown.after[name]
    assert after["snapshot"]["invocation"] != before["snapshot"]["invocation"]
    assert after["pid"] not in ("0", before["pid"]) and after["started"] != before["started"]
    assert "cloudflared on %s: restarted with the new token" % name in lockdown.out
    # Up and starting, as converged: with no edge answering, Type=notify stays "activating" (never READY=1).
    assert service_property(host, "ActiveState") == "activating"
    assert service_property(host, "MainPID") == after["pid"]
    assert host.check_output("ps -o user= -p %s", after["pid"]) == "cloudflared"
    assert "--edge %s run" % TEST_EDGE in service_property(host, "ExecStart")
    log = connector_log(host)
    assert "edge:[%s]" % TEST_EDGE in log
    dialled = re.findall(r"\bip=(\S+)", log)
    assert dialled and set(dialled) == {"127.0.0.1"}, "it dials the local edge only: %s" % sorted(set(dialled))
    assert started_tunnel(host) == TUNNEL_ID
    # Nothing else of the connector changed.
    for key in ("config", "unit", "package", "binary"):
        assert after["snapshot"][key] == before["snapshot"][key], key


@pytest.mark.parametrize("name", HOSTS)
def test_no_secret_in_the_output_process_list_or_journal(lockdown, name):
    host = container(name)
    # The token's first characters encode the account tag (the same in every token of the account): its tail and
    # the secret, encoded and decoded, are what must not show.
    new = (lockdown.token, lockdown.token[-40:], lockdown.secret, lockdown.secret[:24],
           base64.b64decode(lockdown.secret).decode())
    places = {
        "check-mode output": lockdown.check_out,
        "output": lockdown.out,
        "ps": host.check_output("ps -eo args --no-headers"),
        "journal": host.check_output("journalctl -u cloudflared.service --no-pager -o cat"),
        "systemctl show": host.check_output("systemctl show cloudflared.service"),
    }
    found = {place: len(leaks(text)) + sum(marker in text for marker in new) for place, text in places.items()}
    assert found == dict.fromkeys(places, 0), "secrets found (counts only)"
