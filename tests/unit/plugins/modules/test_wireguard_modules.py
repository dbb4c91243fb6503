"""In-process tests of the WireGuard modules (the live interface is covered by the Molecule scenario)."""

import json
import os
import stat

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _wireguard_crypto as crypto
from ansible_collections.oscar_emr.remote_access.plugins.modules import (
    wireguard_client_config,
    wireguard_info,
    wireguard_interface,
    wireguard_key,
    wireguard_peer,
    wireguard_validate,
)

KEY_A = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_B = "cYS5t5AqbvC5mSOJlBjKspHGs7wwUCWqx3oChRI3TA4="
KEY_C = "KEJ0ZjuSPKI/hq+iffrWvt6hynnC68DL/GTbOTZsHT4="
INTERFACES = [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}]


def run(module, args, capsys, check=False, diff=True):
    """Run a module's main() in-process; return its JSON result (failures have failed=true)."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# wireguard_key -----------------------------------------------------------------------------------------------------

def test_key_is_generated_once_and_kept(tmp_path, capsys):
    path = tmp_path / "keys" / "wg0.key"
    assert run(wireguard_key, {"path": str(path)}, capsys, check=True)["changed"]
    assert not path.exists()
    first = run(wireguard_key, {"path": str(path)}, capsys)
    assert first["changed"] and first["generated"]
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert first["public_key"] == crypto.public_key(path.read_text().strip())
    assert path.read_text().strip() not in json.dumps(first)
    again = run(wireguard_key, {"path": str(path)}, capsys)
    assert not again["changed"] and again["public_key"] == first["public_key"]
    assert not run(wireguard_key, {"path": str(path)}, capsys, check=True)["changed"]
    rotated = run(wireguard_key, {"path": str(path), "force": True}, capsys)
    assert rotated["changed"] and rotated["public_key"] != first["public_key"]


def test_key_file_mode_is_enforced_and_other_content_left_alone(tmp_path, capsys):
    path = tmp_path / "wg0.key"
    run(wireguard_key, {"path": str(path)}, capsys)
    os.chmod(path, 0o644)
    assert run(wireguard_key, {"path": str(path)}, capsys)["changed"] and mode(path) == 0o600
    other = tmp_path / "notes.key"
    other.write_text("not a key\n")
    result = run(wireguard_key, {"path": str(other)}, capsys)
    assert result["failed"] and "left alone" in result["msg"] and other.read_text() == "not a key\n"


def test_preshared_key_has_no_public_key(tmp_path, capsys):
    result = run(wireguard_key, {"path": str(tmp_path / "p.psk"), "type": "preshared"}, capsys)
    assert result["changed"] and result["public_key"] is None
    assert crypto.is_key((tmp_path / "p.psk").read_text().strip())


# wireguard_client_config -------------------------------------------------------------------------------------------

def present_args(directory, **extra):
    args = {"path": str(directory), "name": "laptop", "address": "10.90.1.10/32", "allowed_ips": ["192.168.1.20/32"],
            "endpoint": "vpn.clinic.example:51820", "server_public_key": KEY_A, "preshared_key": "PSK" * 14 + "ab=",
            "return_qr": True}
    args.update(extra)
    return args


def test_generated_peer_two_steps_then_stable(tmp_path, capsys):
    directory = tmp_path / "clients" / "clinic" / "pi"
    key_args = {"path": str(directory), "name": "laptop", "state": "key"}
    planned = run(wireguard_client_config, key_args, capsys, check=True)
    assert planned["changed"] and planned["public_key"] is None and not directory.exists()
    keyed = run(wireguard_client_config, {"path": str(directory), "name": "laptop", "state": "key"}, capsys)
    assert keyed["issued"] and keyed["public_key"]
    pending = directory / ".laptop.key"
    assert mode(pending) == 0o600 and mode(directory) == 0o700
    assert "PrivateKey" not in json.dumps(keyed) and pending.read_text().strip() not in json.dumps(keyed)
    written = run(wireguard_client_config, present_args(directory), capsys)
    assert written["changed"] and written["issued"] and written["public_key"] == keyed["public_key"]
    assert not pending.exists()
    conf = (directory / "laptop.conf").read_text()
    assert "AllowedIPs = 192.168.1.20/32\n" in conf and "Endpoint = vpn.clinic.example:51820" in conf
    assert mode(directory / "laptop.conf") == 0o600 and mode(directory / "laptop.png") == 0o600
    assert (directory / "laptop.png").read_bytes().startswith(b"\x89PNG")
    assert "\u2588" in written["qr_terminal"]
    # Later runs: same key, nothing written, no QR code shown again.
    again = run(wireguard_client_config, {"path": str(directory), "name": "laptop", "state": "key",
                                          "known_public_key": keyed["public_key"]}, capsys)
    assert not again["changed"] and not again["issued"] and again["public_key"] == keyed["public_key"]
    same = run(wireguard_client_config, present_args(directory), capsys)
    assert not same["changed"] and "qr_terminal" not in same
    # A setting changes (the endpoint): the configuration follows with the same key.
    moved = run(wireguard_client_config, present_args(directory, endpoint="vpn2.clinic.example:51820"), capsys)
    assert moved["changed"] and moved["public_key"] == keyed["public_key"] and not moved["issued"]


def test_a_second_controller_keeps_the_servers_key(tmp_path, capsys, monkeypatch):
    warnings = []
    monkeypatch.setattr(wireguard_client_config.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    result = run(wireguard_client_config, {"path": str(tmp_path), "name": "laptop", "state": "key",
                                           "known_public_key": KEY_A}, capsys)
    assert not result["changed"] and result["public_key"] == KEY_A
    assert "issued from another controller" in " ".join(warnings)
    assert not run(wireguard_client_config, present_args(tmp_path), capsys)["changed"]
    assert list(tmp_path.iterdir()) == []


def test_reissue_makes_a_new_key(tmp_path, capsys):
    run(wireguard_client_config, {"path": str(tmp_path), "name": "laptop", "state": "key"}, capsys)
    first = run(wireguard_client_config, present_args(tmp_path), capsys)["public_key"]
    keyed = run(wireguard_client_config, {"path": str(tmp_path), "name": "laptop", "state": "key", "reissue": True,
                                          "known_public_key": first}, capsys)
    assert keyed["issued"] and keyed["public_key"] != first
    written = run(wireguard_client_config, present_args(tmp_path, reissue=True), capsys)
    assert written["public_key"] == keyed["public_key"] and "qr_terminal" in written


def test_vault_encrypted_configuration(tmp_path, capsys):
    from ansible.parsing.vault import VaultLib, VaultSecret

    base = {"path": str(tmp_path), "name": "laptop", "vault_password": "pw", "vault_id": "clinic"}
    run(wireguard_client_config, dict(base, state="key"), capsys)
    assert (tmp_path / ".laptop.key").read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;clinic")
    result = run(wireguard_client_config, present_args(tmp_path, vault_password="pw", vault_id="clinic"), capsys)
    data = (tmp_path / "laptop.conf").read_bytes()
    plain = VaultLib([("clinic", VaultSecret(b"pw"))]).decrypt(data).decode()
    assert "PrivateKey = " in plain and "AllowedIPs = 192.168.1.20/32" in plain
    assert not (tmp_path / "laptop.png").exists()
    assert crypto.public_key(plain.split("PrivateKey = ")[1].split()[0]) == result["public_key"]
    again = run(wireguard_client_config, present_args(tmp_path, vault_password="pw", vault_id="clinic"), capsys)
    assert not again["changed"]
    refused = run(wireguard_client_config, present_args(tmp_path), capsys)
    assert refused["failed"] and "Vault-encrypted" in refused["msg"]


def test_device_with_its_own_keys_gets_a_configuration_without_private_key(tmp_path, capsys):
    result = run(wireguard_client_config, present_args(tmp_path, generate=False, public_key=KEY_A), capsys)
    conf = (tmp_path / "laptop.conf").read_text()
    assert result["changed"] and result["public_key"] == KEY_A
    assert "\nPrivateKey" not in conf and "# PrivateKey = (the device's own key" in conf
    assert not (tmp_path / "laptop.png").exists() and "qr_terminal" not in result


def test_absent_removes_every_file(tmp_path, capsys):
    run(wireguard_client_config, {"path": str(tmp_path), "name": "laptop", "state": "key"}, capsys)
    run(wireguard_client_config, present_args(tmp_path), capsys)
    assert run(wireguard_client_config, {"path": str(tmp_path), "name": "laptop", "state": "absent"}, capsys)["changed"]
    assert list(tmp_path.iterdir()) == []


# wireguard_interface (files only; the interface is not up) ------------------------------------------------------

def interface_args(tmp_path, peers, **extra):
    key = tmp_path / "keys" / "wgtest0.key"
    if not key.exists():
        key.parent.mkdir(parents=True)
        key.write_text(crypto.generate_private_key() + "\n")
    args = {"name": "wgtest0", "address": "10.90.1.1/24", "listen_port": 51820, "private_key_path": str(key),
            "peers": peers, "preshared_key_dir": str(tmp_path / "keys" / "wgtest0"), "conf_dir": str(tmp_path)}
    args.update(extra)
    return args


def test_interface_configuration_preshared_keys_and_record(tmp_path, capsys):
    peers = [{"name": "laptop", "public_key": KEY_A, "preshared_key": True, "allowed_ips": ["10.90.1.10/32"],
              "generate": False, "owner": "Dr. A"},
             {"name": "phone", "preshared_key": True, "allowed_ips": ["10.90.1.11/32"], "status": "expired",
              "generate": True}]
    planned = run(wireguard_interface, interface_args(tmp_path, peers), capsys, check=True)
    assert planned["changed"] and not (tmp_path / "wgtest0.conf").exists()
    first = run(wireguard_interface, interface_args(tmp_path, peers), capsys)
    assert first["changed"] and first["preshared_keys_generated"] == ["laptop"] and not first["live"]
    conf = (tmp_path / "wgtest0.conf").read_text()
    psk = (tmp_path / "keys" / "wgtest0" / "laptop.psk").read_text().strip()
    assert "PresharedKey = %s" % psk in conf and "10.90.1.11" not in conf
    assert mode(tmp_path / "wgtest0.conf") == 0o600 and mode(tmp_path / "keys" / "wgtest0" / "laptop.psk") == 0o600
    diff = json.dumps(first["diff"])
    assert psk not in diff and "(secret sha256:" in diff
    record = json.loads((tmp_path / "wgtest0.peers.json").read_text())
    assert [(p["name"], p["status"]) for p in record["peers"]] == [("laptop", "active"), ("phone", "expired")]
    assert psk not in json.dumps(record)
    assert not run(wireguard_interface, interface_args(tmp_path, peers), capsys)["changed"]
    assert not run(wireguard_interface, interface_args(tmp_path, peers), capsys, check=True)["changed"]
    # The laptop leaves the inventory: its preshared key goes too.
    gone = run(wireguard_interface, interface_args(tmp_path, peers[1:]), capsys)
    assert gone["changed"] and gone["preshared_keys_removed"] == ["laptop"]
    assert not (tmp_path / "keys" / "wgtest0" / "laptop.psk").exists()


def test_interface_takes_generated_peers_keys_and_rotates_on_reissue(tmp_path, capsys):
    peers = [{"name": "laptop", "preshared_key": True, "allowed_ips": ["10.90.1.10/32"], "generate": True}]
    missing = run(wireguard_interface, interface_args(tmp_path, peers), capsys)
    assert missing["failed"] and "no public key" in missing["msg"]
    run(wireguard_interface, interface_args(tmp_path, peers, public_keys={"laptop": KEY_A}), capsys)
    psk = (tmp_path / "keys" / "wgtest0" / "laptop.psk").read_text()
    rotated = run(wireguard_interface, interface_args(tmp_path, peers, public_keys={"laptop": KEY_A},
                                                      rotate_preshared_keys=["laptop"]), capsys)
    assert rotated["changed"] and (tmp_path / "keys" / "wgtest0" / "laptop.psk").read_text() != psk


def test_info_reads_the_record_and_only_the_preshared_keys_asked_for(tmp_path, capsys):
    peers = [{"name": "laptop", "public_key": KEY_A, "preshared_key": True, "allowed_ips": ["10.90.1.10/32"]}]
    run(wireguard_interface, interface_args(tmp_path, peers), capsys)
    info = run(wireguard_info, {"conf_dir": str(tmp_path), "keys_dir": str(tmp_path / "keys")}, capsys)
    peer = info["interfaces"]["wgtest0"]["peers"][0]
    assert peer["name"] == "laptop" and peer["configured"] is False and info["preshared_keys"] == {}
    secret = run(wireguard_info, {"conf_dir": str(tmp_path), "keys_dir": str(tmp_path / "keys"),
                                  "preshared_keys": ["wgtest0/laptop", "wgtest0/nobody"]}, capsys)
    assert list(secret["preshared_keys"]) == ["wgtest0/laptop"]
    assert run(wireguard_info, {"conf_dir": str(tmp_path), "preshared_keys": ["../etc"]}, capsys)["failed"]


def test_a_revoked_key_is_recorded_for_good_and_never_configured_again(tmp_path, capsys):
    """Issue 15: enabling a revoked peer put its old key back live."""
    peers = [{"name": "phone", "public_key": KEY_A, "allowed_ips": ["10.90.1.11/32"]},
             {"name": "laptop", "generate": True, "allowed_ips": ["10.90.1.10/32"]}]
    keys = {"laptop": KEY_B}
    run(wireguard_interface, interface_args(tmp_path, peers, public_keys=keys), capsys)
    revoked = [dict(p, status="disabled", enabled=False) for p in peers]
    run(wireguard_interface, interface_args(tmp_path, revoked, public_keys=keys), capsys)
    record = json.loads((tmp_path / "wgtest0.peers.json").read_text())
    assert record["revoked_keys"] == sorted([KEY_A, KEY_B])
    assert KEY_A not in (tmp_path / "wgtest0.conf").read_text()
    before = (tmp_path / "wgtest0.conf").read_text()
    for back in ([peers[0]], [peers[1]]):
        refused = run(wireguard_interface, interface_args(tmp_path, back, public_keys=keys), capsys)
        assert refused["failed"] and "revoked" in refused["msg"], refused
        assert (tmp_path / "wgtest0.conf").read_text() == before
    # Removed from the list altogether and added again later: still refused (the record keeps the key).
    run(wireguard_interface, interface_args(tmp_path, []), capsys)
    assert json.loads((tmp_path / "wgtest0.peers.json").read_text())["revoked_keys"] == sorted([KEY_A, KEY_B])
    assert run(wireguard_interface, interface_args(tmp_path, [peers[0]]), capsys)["failed"]
    # With a new key the peer is back, and the info module reports the revoked keys to the role's check.
    renewed = [dict(peers[0], public_key=KEY_C)]
    assert run(wireguard_interface, interface_args(tmp_path, renewed), capsys)["changed"]
    info = run(wireguard_info, {"conf_dir": str(tmp_path), "keys_dir": str(tmp_path / "keys")}, capsys)
    assert info["interfaces"]["wgtest0"]["revoked_keys"] == sorted([KEY_A, KEY_B])


def test_enabling_a_revoked_peer_through_the_peer_list_never_reuses_its_key(tmp_path, capsys):
    """Issue 15: peer_action=add on a revoked peer reported success and did nothing; enable put the old key back."""
    path = tmp_path / "wireguard_peers.yml"
    args = {"path": str(path), "interfaces": INTERFACES}
    run(wireguard_peer, dict(args, name="laptop"), capsys)
    run(wireguard_peer, dict(args, name="phone", public_key=KEY_A), capsys)
    for name in ("laptop", "phone"):
        run(wireguard_peer, dict(args, name=name, state="revoked"), capsys)
    # add (the playbook passes enabled: true for add and enable) on the revoked generated peer: enabled, new key.
    added = run(wireguard_peer, dict(args, name="laptop", enabled=True), capsys)
    assert added["changed"] and added["peer"]["enabled"] is True and added["new_key"] is True
    assert "new key" in added["msg"]
    # The own-key device: refused with its old key (nothing written), enabled with a new one.
    before = path.read_text()
    refused = run(wireguard_peer, dict(args, name="phone", enabled=True), capsys)
    assert refused["failed"] and "peer_public_key" in refused["msg"] and path.read_text() == before
    same = run(wireguard_peer, dict(args, name="phone", enabled=True, public_key=KEY_A), capsys)
    assert same["failed"] and path.read_text() == before
    renewed = run(wireguard_peer, dict(args, name="phone", enabled=True, public_key=KEY_C), capsys)
    assert renewed["changed"] and renewed["peer"]["public_key"] == KEY_C and not renewed["new_key"]
    # add on an active peer adds no enabled: true of its own.
    assert not run(wireguard_peer, dict(args, name="laptop", enabled=True), capsys)["changed"]
    fresh = run(wireguard_peer, dict(args, name="tablet", enabled=True), capsys)
    assert "enabled" not in fresh["peer"] and not fresh["new_key"]


# wireguard_peer ------------------------------------------------------------------------------------------------------

def test_peer_list_add_revoke_remove(tmp_path, capsys):
    path = tmp_path / "group_vars" / "wireguard_servers" / "wireguard_peers.yml"
    args = {"path": str(path), "interfaces": INTERFACES}
    added = run(wireguard_peer, dict(args, name="laptop", owner="Dr. A"), capsys)
    assert added["changed"] and added["peer"] == {"name": "laptop", "owner": "Dr. A", "address": "10.90.1.2"}
    run(wireguard_peer, dict(args, name="phone", expires="2026-08-31", public_key=KEY_A), capsys)
    data = yaml.safe_load(path.read_text())
    assert [p["name"] for p in data["wireguard_peers"]] == ["laptop", "phone"]
    assert data["wireguard_peers"][1]["address"] == "10.90.1.3"
    assert not run(wireguard_peer, dict(args, name="laptop", owner="Dr. A"), capsys)["changed"]
    planned = run(wireguard_peer, dict(args, name="phone", state="revoked"), capsys, check=True)
    assert planned["changed"] and "enabled" not in yaml.safe_load(path.read_text())["wireguard_peers"][1]
    revoked = run(wireguard_peer, dict(args, name="phone", state="revoked"), capsys)
    assert revoked["peer"]["enabled"] is False and "enabled: false" in revoked["diff"]["after"]
    # The phone has its own key: enabled again only with a new one (a revoked key never comes back).
    enabled = run(wireguard_peer, dict(args, name="phone", enabled=True, expires="", public_key=KEY_C), capsys)
    assert enabled["peer"]["enabled"] is True and "expires" not in enabled["peer"]
    run(wireguard_peer, dict(args, name="laptop", state="absent"), capsys)
    assert [p["name"] for p in yaml.safe_load(path.read_text())["wireguard_peers"]] == ["phone"]
    assert path.read_text().startswith("---\n# WireGuard peers of this clinic")


def test_peer_list_refuses_an_invalid_result_and_keeps_other_variables(tmp_path, capsys):
    path = tmp_path / "peers.yml"
    path.write_text("other_setting: 1\nwireguard_peers:\n  - name: laptop\n    address: 10.90.1.10\n")
    before = path.read_text()
    bad = run(wireguard_peer, {"path": str(path), "interfaces": INTERFACES, "name": "phone",
                               "address": "10.90.1.10"}, capsys)
    assert bad["failed"] and "wireguard_peers[1].address" in bad["msg"] and path.read_text() == before
    assert run(wireguard_peer, {"path": str(path), "interfaces": INTERFACES, "name": "nobody", "state": "revoked"},
               capsys)["failed"]
    run(wireguard_peer, {"path": str(path), "interfaces": INTERFACES, "name": "phone"}, capsys)
    assert yaml.safe_load(path.read_text())["other_setting"] == 1


def test_the_peer_list_takes_a_management_peer_and_refuses_ssh_for_staff(tmp_path, capsys):
    path = tmp_path / "wireguard_peers.yml"
    args = {"path": str(path), "interfaces": INTERFACES}
    added = run(wireguard_peer, dict(args, name="provider", kind="management", public_key=KEY_A), capsys)
    assert added["changed"] and added["peer"]["kind"] == "management"
    before = path.read_text()
    refused = run(wireguard_peer, dict(args, name="it", destinations=[
        {"address": "192.0.2.30", "port": 22, "protocol": "tcp"}]), capsys)
    assert refused["failed"] and "wireguard_peers[1].destinations[0].port" in refused["msg"]
    assert path.read_text() == before
    reach = run(wireguard_peer, dict(args, name="provider", destinations=[
        {"address": "192.0.2.30", "port": 443, "protocol": "tcp"}]), capsys)
    assert reach["failed"] and "wireguard_peers[0].destinations: a management peer" in reach["msg"]


# wireguard_validate ------------------------------------------------------------------------------------------------

def test_validate_fails_naming_the_variables(capsys):
    result = run(wireguard_validate, {
        "interfaces": INTERFACES, "oscar_address": "192.168.1.20", "endpoint": "vpn.clinic.example",
        "lan_interface": "eth0", "today": "2026-06-15",
        "peers": [{"name": "a", "address": "10.90.1.10"}, {"name": "a", "address": "10.90.1.11", "public_key": "x"}]},
        capsys)
    assert result["failed"]
    assert result["errors"] == [
        "wireguard_peers[1].name: 'a' is a duplicate of wireguard_peers[0].name",
        "wireguard_peers[1].public_key: is not a WireGuard public key (44 characters of base64 ending in '=', as"
        " `wg pubkey` prints)"]
    ok = run(wireguard_validate, {"interfaces": INTERFACES, "oscar_address": "192.168.1.20", "lan_interface": "eth0",
                                  "peers": [{"name": "a", "address": "10.90.1.10", "public_key": KEY_A}]}, capsys)
    assert not ok["changed"] and ok["model"]["interfaces"][0]["peers"][0]["status"] == "active"


def test_the_rewritten_peer_list_passes_the_repositorys_yaml_lint(tmp_path, capsys):
    """Inventories are linted (yamllint strict, ansible-lint): the file the playbook rewrites must stay clean."""
    from pathlib import Path

    from yamllint import linter
    from yamllint.config import YamlLintConfig

    path = tmp_path / "wireguard_peers.yml"
    args = {"path": str(path), "interfaces": INTERFACES}
    run(wireguard_peer, dict(args, name="laptop", owner="Dr. A"), capsys)
    run(wireguard_peer, dict(args, name="phone", expires="2026-08-31", public_key=KEY_A,
                             destinations=["192.0.2.40/32"]), capsys)
    config = YamlLintConfig(file=str(Path(__file__).resolve().parents[4] / ".yamllint"))
    problems = list(linter.run(path.read_text(), config, str(path)))
    assert problems == [], [str(p) for p in problems] + [path.read_text()]
    assert "  - name: laptop" in path.read_text()


def test_the_terminal_qr_code_survives_a_yaml_result_callback_and_holds_the_configuration(tmp_path):
    """ansible.cfg's callback_result_format = yaml folds long lines at spaces; a folded row is an unreadable code.
    Shown the way the role shows it: a debug task's msg, a list of the lines, through ansible-playbook."""
    import subprocess
    import sys
    from pathlib import Path

    import segno

    text = "[Interface]\nPrivateKey = " + "A" * 43 + "=\nAddress = 10.90.1.2/32\n[Peer]\nEndpoint = vpn.example:51820\n"
    lines = wireguard_client_config.qr_terminal(text).split("\n")
    (tmp_path / "qr.json").write_text(json.dumps({"qr": lines}))
    (tmp_path / "show.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: \"{{ qr }}\"\n")
    env = dict(os.environ, ANSIBLE_CALLBACK_RESULT_FORMAT="yaml", ANSIBLE_NOCOLOR="1", COLUMNS="200",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local",
                           "-e", "@" + str(tmp_path / "qr.json"), str(tmp_path / "show.yml")],
                          capture_output=True, text=True, env=env, check=True)
    shown = [row.strip().lstrip("- ").strip("'\"") for row in proc.stdout.splitlines()]
    assert all(line in shown for line in lines), proc.stdout
    # Back to modules: each character is two rows (top, bottom); light modules are drawn.
    halves = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0), "\u00a0": (1, 1)}
    drawn = []
    for line in lines:
        drawn.append([halves[ch][0] for ch in line])
        drawn.append([halves[ch][1] for ch in line])
    expected = [list(row) for row in segno.make(text, error="m", micro=False).matrix_iter(border=2)]
    assert drawn[:len(expected)] == [[int(bool(v)) for v in row] for row in expected]
