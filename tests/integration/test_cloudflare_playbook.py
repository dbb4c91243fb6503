"""playbooks/cloudflare.yml end to end against the fake: check mode, apply, re-run with no change, hand-off.

The fake also stands in for https://api.cloudflare.com (an HTTPS CONNECT proxy with a throw-away CA), so
community.general.cloudflare_dns, whose API address is built in, creates the tunnel's CNAME in it.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fake_cloudflare.harness import ansible_bin, run_playbook, running_fake

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "cloudflare.yml"
DEMO = ROOT / "inventories" / "demo_clinic"
HOST = "emr.demo-clinic.example"
SSH_HOST = "ssh.demo-clinic.example"  # access_policy.management_ssh.domain of the demo clinic


@pytest.fixture
def fake():
    with running_fake(tls_proxy=True) as server:
        yield server


@pytest.fixture
def inventory(tmp_path):
    """The demo clinic's variables with one local host standing in for the clinic's OSCAR host."""
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    for name in ("clinic.yml", "access_policy.yml", "cloudflare.yml"):
        shutil.copy(DEMO / "group_vars" / "all" / name, inv / "group_vars" / "all" / name)
    hosts = {"all": {"children": {"clinic": {"children": {"cloudflared_connectors": {"hosts": {"oscar": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    password = tmp_path / "vault-pass"
    password.write_text("demo clinic vault password\n")
    return inv, password


def secrets_of(fake):
    values = [t["_secret"] for t in fake.objects("tunnels")] + [t["_secret"] for t in fake.objects("service_tokens")]
    values += [fake._token_for(t) for t in fake.store["tunnels"].values()]
    return values


def vault_view(path, password):
    out = subprocess.run([ansible_bin("ansible-vault"), "view", "--vault-password-file", str(password), str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("\n", 1)[1])


def assert_ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]


def test_the_playbook_builds_the_clinic_then_changes_nothing(fake, inventory, tmp_path):
    inv, password = inventory
    # The vault files the run writes into the inventory are then read by every later run.
    write = ["-e", "cloudflare_write_secrets=true", "-e", "cloudflare_vault_password_file=%s" % password,
             "--vault-password-file", str(password)]

    # 1. Check mode on an empty account: reports what it would create, writes nothing.
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--check", "--diff", *write])
    assert_ok(proc)
    assert recap["localhost"]["changed"] > 0
    assert fake.writes == 0 and not fake.objects("policies")
    assert "demo-clinic: front-desk" in proc.stdout  # the diff names what would be created

    # 2. Apply.
    fake.reset_requests()
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--diff", *write])
    assert_ok(proc)
    assert recap["localhost"]["failed"] == 0 and recap["localhost"]["changed"] >= 7
    for secret in secrets_of(fake):
        assert secret not in proc.stdout and secret not in proc.stderr

    assert fake.organization_settings["mfa_required_for_all_apps"] is True
    assert fake.organization_settings["mfa_config"] == {
        "allowed_authenticators": ["biometrics", "security_key", "totp"], "session_duration": "12h"}
    assert fake.organization_settings["user_seat_expiration_inactive_time"] == "730h"
    assert [i["name"] for i in fake.objects("idps")] == ["Email one-time PIN"]
    assert sorted(g["name"] for g in fake.objects("groups")) == ["demo-clinic: front-desk", "demo-clinic: managers",
                                                                 "demo-clinic: physicians"]
    tokens = {t["name"]: t for t in fake.objects("service_tokens")}
    assert set(tokens) == {"demo-clinic: lab-integration", "demo-clinic: it-provider-ssh"}
    policies = {p["name"]: p for p in fake.objects("policies")}
    assert set(policies) == {"demo-clinic: pharmacy-integration", "demo-clinic: lab-integration",
                             "demo-clinic: clinicians", "demo-clinic: front-desk-outside-canada",
                             "demo-clinic: front-desk", "demo-clinic: management-ssh"}
    assert policies["demo-clinic: front-desk"]["approval_required"] is True
    apps = {a["domain"]: a for a in fake.objects("apps")}
    assert set(apps) == {HOST, HOST + "/oscar/ws", SSH_HOST}
    assert [link["precedence"] for link in apps[HOST + "/oscar/ws"]["_links"]] == [1, 2, 3, 4, 5]
    for domain in (HOST, HOST + "/oscar/ws"):  # access_policy.application.mfa reaches every OSCAR application
        assert apps[domain]["mfa_config"] == {"mfa_disabled": False, "session_duration": "12h",
                                              "allowed_authenticators": ["biometrics", "security_key", "totp"]}
    # The provider's SSH: one application whose only policy admits the provider's service token, and no person.
    ssh_app = apps[SSH_HOST]
    assert ssh_app["name"] == "OSCAR EMR - Demo Family Practice (SSH)"
    assert [link["id"] for link in ssh_app["_links"]] == [policies["demo-clinic: management-ssh"]["id"]]
    ssh_policy = policies["demo-clinic: management-ssh"]
    assert ssh_policy["decision"] == "non_identity"
    assert ssh_policy["include"] == [{"service_token": {"token_id": tokens["demo-clinic: it-provider-ssh"]["id"]}}]
    assert ssh_policy["require"] == [] and ssh_policy["exclude"] == []
    assert ssh_app["app_launcher_visible"] is False and ssh_app["mfa_config"] == {"mfa_disabled": True}
    assert not any(link["id"] == ssh_policy["id"] for a in apps.values() if a is not ssh_app for link in a["_links"])
    (tunnel,) = fake.objects("tunnels")
    config = fake.store["tunnel_configs"][tunnel["id"]]["config"]
    assert config["ingress"][0] == {"hostname": HOST, "service": "https://127.0.0.1:443",
                                    "originRequest": {"originServerName": HOST}}
    assert config["ingress"][1] == {"hostname": SSH_HOST, "service": "ssh://localhost:22"}
    oscar_auds = [apps[HOST]["aud"], apps[HOST + "/oscar/ws"]["aud"]]
    assert config["originRequest"]["access"] == {"required": True, "teamName": "demo-clinic",
                                                 "audTag": [*oscar_auds, ssh_app["aud"]]}
    records = {r["name"]: r for r in fake.objects("dns")}
    assert set(records) == {HOST, SSH_HOST}
    for record in records.values():
        assert (record["type"], record["content"], record["proxied"]) == \
            ("CNAME", tunnel["id"] + ".cfargotunnel.com", True)
    assert {r.path for r in fake.calls("CONNECT")} == {"api.cloudflare.com:443"}
    assert any(r.path.startswith("/zones") and r.host == "api.cloudflare.com" for r in fake.calls("POST"))

    secrets_dir = inv / "group_vars" / "all"
    handed = vault_view(secrets_dir / "cloudflare_secrets.vault.yml", password)
    assert handed["cloudflared_tunnel_token"] == fake._token_for(tunnel)
    # cloudflared checks the SSH application's tokens too; the gateway in front of OSCAR never accepts them.
    assert handed["cloudflared_access_aud_tags"] == [*oscar_auds, ssh_app["aud"]]
    assert handed["gateway_cloudflare_aud"] == oscar_auds
    assert handed["gateway_cloudflare_service_tokens"] == {
        "lab-integration": tokens["demo-clinic: lab-integration"]["client_id"],
        "it-provider-ssh": tokens["demo-clinic: it-provider-ssh"]["client_id"]}
    token_file = vault_view(secrets_dir / "cloudflare_service_token_lab_integration.vault.yml", password)
    assert token_file["cloudflare_service_token_lab_integration"]["client_secret"] == \
        tokens["demo-clinic: lab-integration"]["_secret"]
    # The provider's token, for its control node's token file (docs/management-path.md).
    ssh_token = vault_view(secrets_dir / "cloudflare_service_token_it_provider_ssh.vault.yml", password)
    assert ssh_token["cloudflare_service_token_it_provider_ssh"]["client_id"] == \
        tokens["demo-clinic: it-provider-ssh"]["client_id"]
    before = {p.name: p.read_bytes() for p in secrets_dir.glob("*.vault.yml")}

    # 3. Re-run, also checking the facts handed to the clinic's host: nothing changes anywhere.
    expected = {"expected": {"cloudflared_tunnel_token": handed["cloudflared_tunnel_token"],
                             "gateway_cloudflare_aud": handed["gateway_cloudflare_aud"],
                             "cloudflared_access_aud_tags": handed["cloudflared_access_aud_tags"],
                             "cloudflared_access_team_name": "demo-clinic", "cloudflared_tunnel_mode": "token",
                             "gateway_cloudflare_service_tokens": handed["gateway_cloudflare_service_tokens"]}}
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    wrapper = tmp_path / "site.yml"
    wrapper.write_text(yaml.safe_dump([
        {"name": "Cloudflare", "ansible.builtin.import_playbook": str(PLAYBOOK)},
        {"name": "The clinic's host got the Cloudflare facts", "hosts": "oscar", "gather_facts": False, "tasks": [
            {"name": "Compare", "no_log": True, "ansible.builtin.assert": {"that": [
                "cloudflared_tunnel_token == expected.cloudflared_tunnel_token",
                "gateway_cloudflare_aud == expected.gateway_cloudflare_aud",
                "cloudflared_access_aud_tags == expected.cloudflared_access_aud_tags",
                "cloudflared_access_team_name == expected.cloudflared_access_team_name",
                "cloudflared_tunnel_mode == expected.cloudflared_tunnel_mode",
                "gateway_cloudflare_team_domain == 'demo-clinic.cloudflareaccess.com'",
                "gateway_cloudflare_service_tokens == expected.gateway_cloudflare_service_tokens"]}}]},
    ], sort_keys=False))
    fake.reset_requests()
    proc, recap = run_playbook(wrapper, inv, fake, ["--diff", *write, "-e", "@%s" % (tmp_path / "expected.json")])
    assert_ok(proc)
    assert recap and all(counts["changed"] == 0 and counts["failed"] == 0 for counts in recap.values()), recap
    assert recap["oscar"]["ok"] >= 2
    assert fake.writes == 0
    assert {p.name: p.read_bytes() for p in secrets_dir.glob("*.vault.yml")} == before

    # 4. Check mode on the built account agrees: nothing to do.
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--check", "--diff", *write])
    assert_ok(proc)
    assert all(counts["changed"] == 0 for counts in recap.values()), recap

    # 5. A policy leaves the model: reported and kept; with consent, shown exactly in check mode, then deleted.
    #    Another clinic's policy in the same account (outside the prefix) survives.
    fake.store["policies"]["other"] = dict(next(iter(fake.store["policies"].values())), id="other",
                                           name="lakeside: front-desk-outside-canada")
    data = yaml.safe_load((inv / "group_vars" / "all" / "access_policy.yml").read_text())
    data["access_policy"]["policies"] = [p for p in data["access_policy"]["policies"]
                                         if p["name"] != "front-desk-outside-canada"]
    (tmp_path / "smaller.json").write_text(json.dumps(data))
    smaller = ["-e", "@%s" % (tmp_path / "smaller.json")]
    fake.reset_requests()
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--diff", *write, *smaller])
    assert_ok(proc)
    assert "demo-clinic: front-desk-outside-canada" in {p["name"] for p in fake.objects("policies")}
    assert "are no longer in its inventory and were kept: policy 'demo-clinic: front-desk-outside-canada'" in \
        " ".join((proc.stdout + proc.stderr).split())  # a warning, on stderr
    writes = fake.writes
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--check", "--diff", *write, *smaller,
                                                     "-e", "cloudflare_prune=true"])
    assert_ok(proc)
    assert fake.writes == writes and recap["localhost"]["changed"] == 1
    # the diff's "before" line (YAML or JSON, as the callback formats it) names the policy that would go
    assert re.search(r"^-\s.*demo-clinic: front-desk-outside-canada", proc.stdout, re.M), proc.stdout[-3000:]
    proc, recap = run_playbook(PLAYBOOK, inv, fake, [*write, *smaller, "-e", "cloudflare_prune=true"])
    assert_ok(proc)
    names = {p["name"] for p in fake.objects("policies")}
    assert "demo-clinic: front-desk-outside-canada" not in names and "lakeside: front-desk-outside-canada" in names
    assert len(names) == 6


def test_a_bad_access_policy_stops_the_playbook_before_any_request(fake, inventory, tmp_path):
    inv = inventory[0]
    data = yaml.safe_load((inv / "group_vars" / "all" / "access_policy.yml").read_text())
    data["access_policy"]["policies"][0]["include"]["ip_ranges"] = ["127.0.0.1/32"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["-e", "@%s" % (tmp_path / "bad.json")])
    assert proc.returncode != 0 and recap["localhost"]["failed"] == 1
    assert "access_policy.policies[0].include.ip_ranges[0]: '127.0.0.1/32' contains loopback addresses" in proc.stdout
    assert fake.calls() == []


def test_more_people_than_the_free_plan_seats_stop_the_playbook_before_any_request(fake, inventory, tmp_path):
    """Another clinic inventory beside this one names the same account: together they pass 50 seats."""
    inv = inventory[0]
    sibling = tmp_path / "lakeside_clinic" / "group_vars" / "all"
    sibling.mkdir(parents=True)
    people = ["person%d@lakeside.example" % i for i in range(48)]
    sibling.joinpath("all.yml").write_text(yaml.safe_dump({
        "cloudflare_account_id": fake.account_id,
        "access_policy": {"name_prefix": "lakeside: ",
                          "application": {"name": "Lakeside", "domain": "emr.lakeside.example"},
                          "policies": [{"name": "staff", "decision": "allow", "include": {"emails": people}}]}}))
    proc, recap = run_playbook(PLAYBOOK, inv, fake)
    assert proc.returncode != 0 and recap["localhost"]["failed"] == 1
    assert "53 people can be admitted by the 2 clinic(s) sharing Cloudflare account %s (inventory: 5, " \
           "lakeside_clinic: 48), more than the plan's 50 seats" % fake.account_id in proc.stdout
    assert fake.calls() == []
    proc, recap = run_playbook(PLAYBOOK, inv, fake, ["--check", "-e", "cloudflare_account_plan=paid"])
    assert proc.returncode == 0 and "more than the plan's 50 seats" in " ".join(proc.stderr.split())  # a warning
