"""cloudflare_access_model (validate and plan) and cloudflare_secrets_file, run through ansible-playbook."""

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fake_cloudflare.harness import ansible_bin, run_module, run_tasks

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def demo_model():
    data = yaml.safe_load((ROOT / "inventories/demo_clinic/group_vars/all/access_policy.yml").read_text())
    data = data["access_policy"]
    data["application"]["domain"] = "emr.demo-clinic.example"
    return data


def test_the_model_module_validates_and_plans_without_secrets(tmp_path):
    data = demo_model()
    data["login_methods"].append({"name": "Entra", "type": "azure_ad", "config": {
        "client_id": "c", "directory_id": "d", "client_secret": "entra-secret-value"}})
    bad = copy.deepcopy(data)
    bad["policies"][0]["include"]["ip_ranges"] = ["127.0.0.1/32"]
    ok, failed = run_tasks(None, tmp_path, [("cloudflare_access_model", {"access_policy": data}),
                                            ("cloudflare_access_model", {"access_policy": bad})])
    assert ok["changed"] is False
    plan = ok["plan"]
    domains = [a["domain"] for a in plan["applications"]]
    assert domains == ["emr.demo-clinic.example", "emr.demo-clinic.example/oscar/ws", "ssh.demo-clinic.example"]
    assert [p["name"] for p in plan["policies"]] == ["demo-clinic: pharmacy-integration",
                                                     "demo-clinic: lab-integration", "demo-clinic: clinicians",
                                                     "demo-clinic: front-desk-outside-canada",
                                                     "demo-clinic: front-desk", "demo-clinic: management-ssh"]
    entra = next(i for i in plan["identity_providers"] if i["name"] == "Entra")
    assert "client_secret" not in entra["config"]
    assert ok["model"]["login_methods"][-1]["config"]["client_secret"] == "********"
    assert "entra-secret-value" not in json.dumps(ok)
    assert failed["failed"] is True
    assert failed["msg"].startswith("access_policy.policies[0].include.ip_ranges[0]: '127.0.0.1/32' contains "
                                    "loopback addresses")


def test_the_secrets_file_module_is_idempotent_and_encrypted(tmp_path):
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    target = tmp_path / "cloudflare_secrets.vault.yml"
    token = "eyJhIjoiZmFrZS10dW5uZWwtdG9rZW4ifQ=="
    aud = "4714c1358e65fe4b408ad6d432a5f878f08194bdb6752d2ef32e6d9fe4ed23df"
    args = {"path": str(target), "variables": {"cloudflared_tunnel_token": token, "gateway_cloudflare_aud": [aud]},
            "vault_password_file": str(password)}
    checked = run_module(None, tmp_path, "cloudflare_secrets_file", args, check=True)
    assert checked["changed"] is True and not target.exists()
    written = run_module(None, tmp_path, "cloudflare_secrets_file", args)
    assert written["changed"] is True and written["variables"] == ["cloudflared_tunnel_token",
                                                                   "gateway_cloudflare_aud"]
    assert token.encode() not in target.read_bytes() and target.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert token not in json.dumps(written["diff"])
    view = subprocess.run([ansible_bin("ansible-vault"), "view", "--vault-password-file", str(password), str(target)],
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(view.split("\n", 1)[1]) == args["variables"]
    content = target.read_bytes()
    assert run_module(None, tmp_path, "cloudflare_secrets_file", args)["changed"] is False
    assert target.read_bytes() == content
    new_variables = {"cloudflared_tunnel_token": token + "2", "gateway_cloudflare_aud": [aud]}
    changed = run_module(None, tmp_path, "cloudflare_secrets_file", dict(args, variables=new_variables))
    assert changed["changed"] is True
    assert changed["diff"]["after"] == {"cloudflared_tunnel_token": "(new value)", "gateway_cloudflare_aud":
                                        "(unchanged)"}
    wrong_args = dict(args, vault_password="another-password")
    del wrong_args["vault_password_file"]
    wrong = run_module(None, tmp_path, "cloudflare_secrets_file", wrong_args)
    assert wrong["failed"] is True and "cannot be read with the given Vault password" in wrong["msg"]
    bad_name = run_module(None, tmp_path, "cloudflare_secrets_file", dict(args, variables={"not valid": 1}))
    assert bad_name["failed"] is True and "'not valid' is not a valid Ansible variable name" in bad_name["msg"]
