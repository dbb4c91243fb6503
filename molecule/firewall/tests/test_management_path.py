"""The management path on a live sshd (issue 15): where sshd listens, what it accepts, and a firewall change that
would cut the path rolled back by commit-confirm.

The controller reaches the server's real sshd the way an IT provider's control node would, over SSH from the admin
workstation's address: ssh's ProxyCommand opens the TCP connection inside firewall-client, bound to ADMIN4, so
every connection crosses the server's firewall from a management source (and a new one is refused once that source
is gone). These tests run after test_firewall.py, whose restart test has rebooted the server: sshd came back on its
addresses after test-addresses.service.
"""

import subprocess

import pytest
from conftest import (
    ADMIN4,
    CLIENT,
    CLIENT4,
    RULESET,
    SERVER4,
    ctl_state,
    extra_vars,
    is_open,
    live_table,
    probe,
    run_playbook,
    snapshot,
    wait_for,
)

USER = "itadmin"  # created by prepare.yml, with passwordless sudo


@pytest.fixture(scope="module")
def key(tmp_path_factory, server):
    """A key pair of the controller; its public half authorised for itadmin, and for root too, where sshd must still
    refuse it."""
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "controller", "-f", str(path)], check=True)
    public = path.with_suffix(".pub").read_text().strip()
    for home, owner in (("/home/" + USER, USER), ("/root", "root")):
        server.check_output("install -d -m 0700 -o %s -g %s %s/.ssh", owner, owner, home)
        server.check_output("printf '%%s\\n' %s > %s/.ssh/authorized_keys", public, home)
        server.check_output("chown %s: %s/.ssh/authorized_keys && chmod 0600 %s/.ssh/authorized_keys",
                            owner, home, home)
    return path


def proxy_command(source=ADMIN4):
    """The TCP connection made inside firewall-client from ``source`` (its netcat), as ssh's ProxyCommand. Its
    standard error goes nowhere: ssh hands the command its own, and a podman exec that outlives the refused session
    would hold the test's pipe open until the timeout (the refusal itself came at once)."""
    return "podman exec -i %s nc -s %s %%h %%p 2>/dev/null" % (CLIENT, source)


COMMON = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
          "-o", "LogLevel=ERROR"]


def ssh(key_file, user, *command, options=()):
    return subprocess.run(["ssh", "-o", "ProxyCommand=" + proxy_command(), *COMMON, "-o", "BatchMode=yes",
                           "-i", str(key_file), *options, "%s@%s" % (user, SERVER4), *command],
                          capture_output=True, text=True, timeout=60, check=False)


def test_sshd_listens_only_on_the_management_addresses(server):
    listening = server.check_output("ss -Htln 'sport = :22'")
    addresses = sorted(line.split()[3] for line in listening.splitlines())
    assert addresses == ["198.51.100.10:22", "[2001:db8:71::10]:22"], listening
    assert server.service("ssh").is_running
    # Nothing answers on the server's loopback: sshd is not there.
    answers = probe(server, [("tcp", "", "127.0.0.1", 22)])
    assert not is_open(answers[("tcp", "", "127.0.0.1", 22)])


def test_a_key_gets_the_it_account_in_and_root_is_refused_with_the_same_key(key):
    ok = ssh(key, USER, "id", "-un")
    assert ok.returncode == 0 and ok.stdout.strip() == USER, ok.stderr
    root = ssh(key, "root", "id", "-un")
    assert root.returncode == 255 and "Permission denied" in root.stderr, (root.returncode, root.stderr)


def test_no_password_is_even_asked_for(key):
    """sshd offers publickey only: with public keys off, no method is left (the list in the refusal is sshd's own)."""
    proc = ssh(key, USER, "true", options=["-o", "PubkeyAuthentication=no",
                                           "-o", "PreferredAuthentications=password,keyboard-interactive"])
    assert proc.returncode == 255
    assert proc.stderr.strip().endswith("Permission denied (publickey)."), proc.stderr


def test_a_change_that_cuts_the_management_path_is_rolled_back(server, client, key):
    """Ansible over SSH from the admin address applies a ruleset without that address (the validator only warns:
    consent is given, as a provider sure of a wrong list would). The role's confirmation needs a fresh connection,
    which the new ruleset refuses, so the host restores the previous ruleset by itself and SSH works again."""
    before = snapshot(server)
    timeout = 20
    over_ssh = {
        "ansible_connection": "ssh", "ansible_host": SERVER4, "ansible_user": USER, "ansible_become": True,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": '-o "ProxyCommand=%s" %s' % (proxy_command(), " ".join(COMMON)),
    }
    rc, out = run_playbook(*extra_vars(firewall_management_sources=["198.51.100.99/32", "2001:db8:71::99/128"],
                                       firewall_allow_management_lockout=True, firewall_rollback_timeout=timeout,
                                       **over_ssh))
    assert rc != 0, out[-3000:]
    assert "could not be confirmed" in out, out[-3000:]
    # The cut ruleset went live (it is what refused the confirmation), then the host put the old one back.
    assert wait_for(lambda: ctl_state(server) != "pending", timeout + 15)
    assert ctl_state(server) == "in-sync"
    assert snapshot(server) == before
    assert 'tcp dport 22 ip saddr 198.51.100.21 accept comment "management"' in live_table(server)
    journal = server.check_output("journalctl -u oscar-remote-access-firewall-rollback.service --no-pager")
    assert "restored the previous live table" in journal
    back = ssh(key, USER, "true")
    assert back.returncode == 0, back.stderr
    # ...and only the management source: the client's other address is still refused.
    target = ("tcp", CLIENT4, SERVER4, 22)
    assert not is_open(probe(client, [target])[target])
    assert "198.51.100.99" not in server.file(RULESET).content_string
