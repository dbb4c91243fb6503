"""The IT provider's control node runs the clinic's site.yml over SSH through its management peer's tunnel (issue 15).

The control node is wireguard-temp's second tunnel, wgm (it-laptop, the management peer of the Pi's wg-it; the
`management` fixture of test_wireguard.py brings it up with the configuration the role issued). Ansible runs on the
controller, but every SSH connection it makes is a TCP connection opened inside wireguard-temp (ssh's ProxyCommand
runs netcat there), whose only way to the clinic is that tunnel: prepare.yml made the clinic LAN unreachable from the
device except through a tunnel, and sshd listens only on the management path's addresses (converge.yml's
management_ssh play). The inventory is the scenario's own, with the clinic hosts' `ansible_host` pointed at their
addresses through the tunnel, as a provider's would be (roles/wireguard/README.md, "The management peer").

Runs after test_wireguard.py (file name order; it reads what the runs before it left) and before test_zz_faults.py.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import test_wireguard as tw
from test_wireguard import CLIENT, LAN, OSCAR, OSCAR_LAN, PI, PI_LAN, PI_PUBLIC, STATE, TEMP, container

ROOT = Path(__file__).resolve().parents[3]
USER = "itadmin"  # prepare.yml: sudo without a password, no key yet (the test adds the control node's)
PI_TUNNEL = "10.74.2.1"  # the Pi's wg-it address: management_ssh_listen_addresses in molecule.yml
MANAGEMENT_PEER = "10.74.2.10"  # it-laptop's tunnel address (files/wireguard_peers.yml.j2)
THROUGH_TUNNEL = {PI: PI_TUNNEL, OSCAR: OSCAR_LAN}
COMMON = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
          "-o", "ConnectTimeout=5"]
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

management = tw.management


def proxy_command(device):
    """The TCP connection made inside ``device`` (its netcat), as ssh's ProxyCommand. Its standard error goes nowhere:
    ssh hands the command its own, and a podman exec that outlives a refused session would hold the test's pipe open
    (see molecule/firewall/tests/test_management_path.py). nc gives up after 8 s, after ssh's ConnectTimeout."""
    return "podman exec -i %s nc -w 8 %%h %%p 2>/dev/null" % device


def ssh(key, device, address, *command):
    return subprocess.Popen(["ssh", "-o", "ProxyCommand=" + proxy_command(device), *COMMON, "-o", "BatchMode=yes",
                             "-i", str(key), "%s@%s" % (USER, address), *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sshd_log(host, since):
    """sshd's journal on ``host`` since ``since`` (seconds since the epoch)."""
    return host.check_output("journalctl -u ssh.service --no-pager -o cat --since %s", "@%d" % since)


def accepted_from(log):
    return re.findall(r"^Accepted publickey for (\S+) from (\S+) port \d+", log, re.M)


def wgm_bytes(device):
    """Bytes the control node received and sent through its management tunnel."""
    _peer, received, sent = device.check_output("wg show wgm transfer").split()
    return int(received) + int(sent)


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """The control node's SSH key pair, authorised for itadmin on the Pi and the OSCAR host (a provider's key)."""
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "control-node", "-f", str(path)], check=True)
    public = path.with_suffix(".pub").read_text().strip()
    for name in THROUGH_TUNNEL:
        host = container(name)
        host.check_output("install -d -m 0700 -o %s -g %s /home/%s/.ssh", USER, USER, USER)
        host.check_output("printf '%%s\\n' %s > /home/%s/.ssh/authorized_keys", public, USER)
        host.check_output("chown %s: /home/%s/.ssh/authorized_keys && chmod 0600 /home/%s/.ssh/authorized_keys",
                          USER, USER, USER)
    return path


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, key):
    """The scenario's inventory, then the provider's connection settings for the clinic hosts (host variables of a
    later inventory source win): SSH as itadmin to their addresses through the tunnel."""
    over_tunnel = {
        name: {
            "ansible_connection": "ssh", "ansible_host": address, "ansible_user": USER,
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": '-o "ProxyCommand=%s" %s' % (proxy_command(TEMP), " ".join(COMMON)),
        }
        for name, address in THROUGH_TUNNEL.items()
    }
    path = tmp_path_factory.mktemp("inventory") / "over_tunnel.yml"
    path.write_text(json.dumps({"all": {"hosts": over_tunnel}}))  # JSON is YAML
    return ["-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(path)]


def ansible(program, inventory, *args):
    # Ansible's SSH control sockets of this run only, in a directory of their own (short: a socket path has a limit).
    control = subprocess.run(["mktemp", "-d", "/tmp/wg-cp.XXXXXX"], capture_output=True, text=True,
                             check=True).stdout.strip()
    env = dict(os.environ, ANSIBLE_SSH_CONTROL_PATH_DIR=control)
    proc = subprocess.run([program, *inventory, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, check=False, env=env)
    return proc.returncode, proc.stdout


@pytest.fixture(scope="module")
def site_over_tunnel(management, inventory):
    """One run of playbooks/site.yml over the tunnel, after converge, idempotence, check mode and lifecycle.yml."""
    start = time.time()
    carried = wgm_bytes(management)
    rc, out = ansible("ansible-playbook", inventory, str(ROOT / "playbooks" / "site.yml"))
    (STATE / "site-over-tunnel.log").write_text(out)
    return {"rc": rc, "out": out, "start": start, "carried": wgm_bytes(management) - carried}


def test_sshd_listens_only_where_the_management_path_arrives():
    for name, address in THROUGH_TUNNEL.items():
        listening = container(name).check_output("ss -Htln 'sport = :22'")
        assert [line.split()[3] for line in listening.splitlines()] == ["%s:22" % address], (name, listening)


def test_site_yml_runs_over_the_management_peers_tunnel_and_changes_nothing(site_over_tunnel):
    out = site_over_tunnel["out"]
    assert site_over_tunnel["rc"] == 0, out[-4000:]
    recap = {host: [int(n) for n in counts] for host, *counts in RECAP.findall(out)}
    # site.yml's plays target the clinic group and the WireGuard server: the Pi here (the OSCAR host's front door
    # came from prepare.yml, without the gateway). It runs after converge and its idempotence run: nothing to change.
    assert list(recap) == [PI], recap
    ok, changed, unreachable, failed = recap[PI]
    assert ok > 20 and (changed, unreachable, failed) == (0, 0, 0), out[-4000:]
    # The firewall role saw the SSH connection's source, the management peer, and let it through (its lockout check).
    assert "could not tell the controller's address" not in out


def test_every_connection_of_that_run_came_through_the_tunnel_from_the_management_peer(site_over_tunnel):
    accepted = accepted_from(sshd_log(container(PI), site_over_tunnel["start"]))
    assert accepted and set(accepted) == {(USER, MANAGEMENT_PEER)}, accepted
    # ...carried by the control node's WireGuard tunnel (modules, facts and results: far more than keepalives).
    assert site_over_tunnel["carried"] > 200_000, site_over_tunnel["carried"]


def test_the_oscar_host_is_reached_through_the_tunnel_too(site_over_tunnel, inventory):
    """site.yml has nothing for the OSCAR host in this scenario; an ad hoc command as root (sudo) shows Ansible reaches
    it the same way. The Pi masquerades the management peer: the OSCAR host sees the Pi's LAN address."""
    start = time.time()
    rc, out = ansible("ansible", inventory, OSCAR, "--become", "-m", "ansible.builtin.command", "-a", "id -un")
    assert rc == 0 and re.search(r"^%s \| CHANGED \| rc=0 >>\s*\nroot\s*$" % OSCAR, out, re.M), out
    assert set(accepted_from(sshd_log(container(OSCAR), start))) == {(USER, PI_LAN)}


def test_the_same_ssh_is_refused_from_a_staff_peer_from_the_internet_and_from_the_clinic_lan(site_over_tunnel, key):
    """The control node's key and account, the same ssh command, from elsewhere: a staff laptop through its own tunnel
    (dropped by the Pi's forward chain), the laptop to the Pi's public address outside any tunnel (dropped by its
    firewall), a clinic LAN machine (wireguard-lan) to the Pi's LAN address (the firewall lets the LAN's SSH in, sshd
    is not there)."""
    attempts = {
        "staff peer": ssh(key, CLIENT, OSCAR_LAN, "true"),
        "internet": ssh(key, CLIENT, PI_PUBLIC, "true"),
        "clinic lan": ssh(key, LAN, PI_LAN, "true"),
    }
    results = {name: (proc.wait(timeout=60), proc.stdout.read(), proc.stderr.read())
               for name, proc in attempts.items()}
    for name in ("staff peer", "internet"):
        rc, _out, err = results[name]
        assert rc == 255 and "timed out during banner exchange" in err, (name, results[name])
    rc, _out, err = results["clinic lan"]
    assert rc == 255 and "Connection closed" in err, results["clinic lan"]
    # The control node's own path with the same command, as the control case of the three.
    own = ssh(key, TEMP, PI_TUNNEL, "id", "-un")
    assert own.wait(timeout=60) == 0 and own.stdout.read().strip() == USER, own.stderr.read()
