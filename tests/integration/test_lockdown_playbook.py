"""playbooks/lockdown.yml on this machine: the demo clinic's tunnel and service token in the fake Cloudflare API, a
real gateway store (the gateway's own code signed people in) behind the real oscar-gateway-admin on the "gateway
host" (a local connection), the inventory's WireGuard peer list. Check mode changes nothing; the lockdown then
preserves the audit store (nothing lost, chain verified, digest right), revokes every session, disables the
non-admin accounts, revokes the peers in the inventory, rotates the tunnel's secret and the service token, and keeps
the new secrets in the vault files. Applying the peer list to a real WireGuard server (the firewall and wireguard
roles, as playbooks/wireguard_peers.yml does) is not run here: lockdown_apply_wireguard: false leaves it to the next
run, as an operator would when the server cannot be reached."""

import hashlib
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from gwtest import GATEWAY_FILES, Client, enroll_totp, login, make_gateway, set_password  # noqa: E402

from tests.fake_cloudflare.harness import ansible_bin, run_playbook, run_tasks, running_fake  # noqa: E402

pytestmark = pytest.mark.integration
DEMO = ROOT / "inventories" / "demo_clinic"
LOCKDOWN = ROOT / "playbooks" / "lockdown.yml"


def vault_view(path, password):
    import subprocess

    out = subprocess.run([ansible_bin("ansible-vault"), "view", "--vault-password-file", str(password), str(path)],
                         capture_output=True, text=True, check=True).stdout
    return yaml.safe_load(out)


@pytest.fixture
def clinic(tmp_path):
    gateway_dir = tmp_path / "gateway"
    gateway_dir.mkdir()
    gateway = make_gateway(gateway_dir)
    for name in ("drsmith", "privacy"):
        set_password(gateway, name)
        login(Client(gateway, ip="10.90.1.10"), gateway, name, enroll_totp(gateway, name))
    admin = gateway_dir / "oscar-gateway-admin"
    admin.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m oscar_gateway.admin --config %s \"$@\"\n"
                     % (GATEWAY_FILES, sys.executable, gateway_dir / "config.json"))
    admin.chmod(0o700)

    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "wireguard_servers").mkdir(parents=True)
    for name in ("clinic.yml", "access_policy.yml", "cloudflare.yml"):
        shutil.copy(DEMO / "group_vars" / "all" / name, inv / "group_vars" / "all" / name)
    (inv / "group_vars" / "all" / "lockdown_test.yml").write_text(yaml.safe_dump({
        "access_report_admin_command": str(admin), "lockdown_preserve_dir": str(tmp_path / "preserved"),
        "lockdown_apply_wireguard": False}))
    (inv / "group_vars" / "wireguard_servers" / "wireguard.yml").write_text(yaml.safe_dump({
        "wireguard_interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}]}))
    (inv / "group_vars" / "wireguard_servers" / "wireguard_peers.yml").write_text(yaml.safe_dump({"wireguard_peers": [
        {"name": "front-desk-laptop", "owner": "Front desk", "address": "10.90.1.10"},
        {"name": "dr-smith-phone", "owner": "Dr. Ann Smith", "address": "10.90.1.11"}]}))
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"clinic": {"children": {
        "front_door": {"hosts": {"oscar": local}}, "wireguard_servers": {"hosts": {"pi": local}},
        "cloudflared_connectors": {"hosts": {}}}}}}}))
    password = tmp_path / "vault-pass"
    password.write_text("demo clinic vault password\n")
    return gateway, inv, password, tmp_path


def audit_rows(database):
    conn = sqlite3.connect(database)
    try:
        return conn.execute("SELECT id, time, event, username, detail, chain FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def lab_token(fake):
    return next(t for t in fake.objects("service_tokens") if t["name"] == "demo-clinic: lab-integration")


def test_lockdown_does_each_step_and_loses_nothing(clinic):
    gateway, inv, password, tmp_path = clinic
    write = ["-e", "cloudflare_write_secrets=true", "-e", "cloudflare_vault_password_file=%s" % password,
             "--vault-password-file", str(password)]
    with running_fake() as fake:
        # The clinic's tunnel and service tokens (the lab's, and the IT provider's for SSH), as playbooks/cloudflare.yml
        # names them (only these: the lockdown touches nothing else at Cloudflare).
        made = run_tasks(fake, tmp_path, [
            ("cloudflare_tunnel", {"name": "demo-clinic-oscar", "config_src": "cloudflare", "return_secrets": False}),
            ("cloudflare_access_service_token", {"name": "demo-clinic: lab-integration", "duration": "8760h"}),
            ("cloudflare_access_service_token", {"name": "demo-clinic: it-provider-ssh", "duration": "8760h"})],
            no_log=True)
        assert not any(result.get("failed") for result in made), made
        (tunnel,) = fake.objects("tunnels")
        token_before = fake._token_for(tunnel)
        service_token = lab_token(fake)
        secret_before = service_token["_secret"]
        peers_file = inv / "group_vars" / "wireguard_servers" / "wireguard_peers.yml"
        peers_before = peers_file.read_bytes()
        audit_before = audit_rows(gateway.cfg["database"])
        assert len(gateway.store.live_sessions(1800)) == 2

        # Check mode: says what it would do, changes nothing anywhere.
        fake.reset_requests()
        everything = ["-e", "lockdown_disable_all_non_admin=true", "-e", "lockdown_revoke_all_peers=true"]
        proc, recap = run_playbook(LOCKDOWN, inv, fake, write + everything + ["--check"])
        (tmp_path / "check.out").write_text(proc.stdout)
        assert all(c["failed"] == 0 for c in recap.values()), proc.stdout[-4000:]
        for line in ("would preserve the audit store", "would revoke every gateway session",
                     "would disable: drsmith, locum, reception",
                     "would revoke peers: front-desk-laptop, dr-smith-phone",
                     "would rotate the secret",
                     "would rotate service tokens: demo-clinic: lab-integration, demo-clinic: it-provider-ssh"):
            assert line in proc.stdout, line
        assert fake.writes == 0 and fake._token_for(fake.objects("tunnels")[0]) == token_before
        assert peers_file.read_bytes() == peers_before and not (tmp_path / "preserved").exists()
        assert len(gateway.store.live_sessions(1800)) == 2 and audit_rows(gateway.cfg["database"]) == audit_before

        # The lockdown.
        proc, recap = run_playbook(LOCKDOWN, inv, fake, write + everything)
        assert all(c["failed"] == 0 for c in recap.values()), proc.stdout[-4000:] + proc.stderr[-2000:]

        # 1. The preserved copy holds every record there was, its chain intact, and its digest is the one printed.
        (copy,) = (tmp_path / "preserved").glob("gateway-*.db")
        assert oct(copy.stat().st_mode & 0o777) == "0o600"
        assert audit_rows(str(copy))[:len(audit_before)] == audit_before
        digest = hashlib.sha256(copy.read_bytes()).hexdigest()
        assert "sha256 %s" % digest in proc.stdout and "chain intact" in proc.stdout
        # ... and the live store lost nothing either; the lockdown's own steps are audited after the old records.
        live = audit_rows(gateway.cfg["database"])
        assert live[:len(audit_before)] == audit_before
        assert [r[2] for r in live[len(audit_before):]][:2] == ["audit_preserved", "sessions_revoked"]
        assert gateway.store.verify_audit_chain()[1] is None
        # 2. Every session revoked.
        assert gateway.store.live_sessions(1800) == []
        assert "2 session(s) revoked" in proc.stdout
        # 3. Every non-admin account disabled, the admin kept (someone must be able to sign in and investigate).
        disabled = {r["username"] for r in gateway.store.users() if r["admin_disabled"]}
        assert disabled == {"drsmith", "locum", "reception"}
        # 4. Every peer revoked in the inventory, kept on record with its address.
        peers = yaml.safe_load(peers_file.read_text())["wireguard_peers"]
        assert [(p["name"], p["address"], p["enabled"]) for p in peers] == [
            ("front-desk-laptop", "10.90.1.10", False), ("dr-smith-phone", "10.90.1.11", False)]
        # 5. The tunnel's token and the service token's secret are new, the old ones gone, the vault files follow.
        (tunnel,) = fake.objects("tunnels")
        assert fake._token_for(tunnel) != token_before
        secrets_dir = inv / "group_vars" / "all"
        handoff = vault_view(secrets_dir / "cloudflare_secrets.vault.yml", password)
        assert handoff["cloudflared_tunnel_token"] == fake._token_for(tunnel)
        # The credentials file of a locally managed connector carries the new secret too (not Ansible's no_log mask).
        assert handoff["cloudflared_tunnel_credentials"] == {
            "AccountTag": fake.account_id, "TunnelID": tunnel["id"], "TunnelName": "demo-clinic-oscar",
            "TunnelSecret": tunnel["_secret"]}
        service_token = lab_token(fake)
        assert service_token["_secret"] != secret_before
        assert service_token.get("_previous_secret") in (None, "") or service_token.get(
            "_previous_secret_expires_at") in (None, "")
        token_file = vault_view(secrets_dir / "cloudflare_service_token_lab_integration.vault.yml", password)
        assert token_file["cloudflare_service_token_lab_integration"]["client_secret"] == service_token["_secret"]
        for secret in (fake._token_for(tunnel), service_token["_secret"], token_before, secret_before):
            assert secret not in proc.stdout and secret not in proc.stderr
        assert "service tokens rotated: demo-clinic: lab-integration, demo-clinic: it-provider-ssh" in proc.stdout
        assert "revoked peers: front-desk-laptop, dr-smith-phone" in proc.stdout


def test_named_accounts_and_unknown_names(clinic):
    gateway, inv, _password, _tmp = clinic
    args = ["-e", "lockdown_rotate_cloudflare=false", "-e", json.dumps({"lockdown_disable_accounts": ["nobody"]})]
    proc, recap = run_playbook(LOCKDOWN, inv, None, args)
    assert recap["oscar"]["failed"] == 1 and "no such gateway account: nobody" in proc.stdout
    assert len(gateway.store.live_sessions(1800)) == 2  # refused before anything changed
    proc, recap = run_playbook(LOCKDOWN, inv, None, ["-e", "lockdown_rotate_cloudflare=false", "-e", json.dumps(
        {"lockdown_disable_accounts": ["reception"], "lockdown_revoke_peers": ["dr-smith-phone"]})])
    assert all(c["failed"] == 0 for c in recap.values()), proc.stdout[-4000:]
    assert {r["username"] for r in gateway.store.users() if r["admin_disabled"]} == {"reception"}
    peers = yaml.safe_load((inv / "group_vars" / "wireguard_servers" / "wireguard_peers.yml").read_text())
    assert [p.get("enabled", True) for p in peers["wireguard_peers"]] == [True, False]
    assert "Cloudflare: nothing rotated" in proc.stdout
