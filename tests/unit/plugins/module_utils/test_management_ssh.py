"""The management_ssh role's rules (issue 15): sshd listens only where the management path arrives, key-only, no
root login; each refusal names the variable and the value."""

import ipaddress
import shutil
import subprocess

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _management_ssh as ms


def errors_of(params, server=None):
    with pytest.raises(ms.ManagementSshError) as caught:
        ms.build_model(params, server)
    return caught.value.errors


def test_the_drop_in_listens_on_the_management_addresses_only_key_only_no_root():
    model = ms.build_model({"listen_addresses": ["10.90.2.1", "::1"], "port": 2222, "allow_users": ["ops"]})
    assert model["listen"] == ["10.90.2.1:2222", "[::1]:2222"]
    lines = model["text"].splitlines()
    assert [line for line in lines if line.startswith("ListenAddress")] == [
        "ListenAddress 10.90.2.1:2222", "ListenAddress [::1]:2222"]
    for setting in ("PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
                    "AuthenticationMethods publickey", "PubkeyAuthentication yes", "AllowUsers ops"):
        assert setting in lines


@pytest.mark.parametrize("params, where, words", [
    ({"listen_addresses": []}, "management_ssh_listen_addresses", "is empty"),
    ({"listen_addresses": ["0.0.0.0"]}, "management_ssh_listen_addresses[0]", "listens on every address"),
    ({"listen_addresses": ["10.90.2.1", "::"]}, "management_ssh_listen_addresses[1]", "listens on every address"),
    ({"listen_addresses": ["pi.local"]}, "management_ssh_listen_addresses[0]", "is not an IP address"),
    ({"listen_addresses": ["10.90.2.1"], "port": 0}, "management_ssh_port", "is not a port"),
    ({"listen_addresses": ["10.90.2.1"], "allow_users": ["root"]}, "management_ssh_allow_users[0]", "never root"),
    ({"listen_addresses": ["10.90.2.1"], "after_units": ["wg-quick@wg it"]}, "management_ssh_after_units[0]",
     "is not a systemd unit name"),
])
def test_each_refusal_names_the_variable(params, where, words):
    errors = errors_of(params)
    assert any(e.startswith(where + ":") and words in e for e in errors), errors


def test_listening_without_the_address_ansible_is_on_now_needs_consent():
    here = ms.connected_to("192.0.2.50 51000 192.168.1.20 22")
    assert here == ipaddress.ip_address("192.168.1.20")
    errors = errors_of({"listen_addresses": ["10.90.2.1"]}, here)
    assert errors[0].startswith("management_ssh_listen_addresses: Ansible is connected to 192.168.1.20")
    allowed = ms.build_model({"listen_addresses": ["10.90.2.1"], "allow_lockout": True}, here)
    assert "allowed by management_ssh_allow_lockout" in allowed["warnings"][0]
    assert ms.build_model({"listen_addresses": ["10.90.2.1", "192.168.1.20"]}, here)["warnings"] == []
    assert ms.connected_to("::ffff:127.0.0.1 4000 ::ffff:127.0.0.1 22") == ipaddress.ip_address("127.0.0.1")
    assert ms.connected_to("") is None


SSHD = shutil.which("sshd") or (shutil.which("sshd", path="/usr/sbin"))


@pytest.mark.skipif(SSHD is None, reason="openssh-server is not installed on this machine")
def test_the_drop_in_passes_sshd_t(tmp_path):
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    conf = tmp_path / "management.conf"
    conf.write_text(ms.build_model({"listen_addresses": ["127.0.0.1"]})["text"] + "HostKey %s\n" % key)
    result = subprocess.run([SSHD, "-t", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
