"""cloudflare_access_service_token, run through ansible-playbook against the fake Cloudflare API."""

import datetime
import json
import subprocess

import pytest

from tests.fake_cloudflare.harness import ansible_bin, run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def view(path, password_file):
    out = subprocess.run([ansible_bin("ansible-vault"), "view", "--vault-password-file", str(password_file),
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("\n", 1)[1])


def test_create_into_a_vault_file_rerun_update_rotate_and_delete(fake, tmp_path):
    password = tmp_path / "vault-pass"
    password.write_text("clinic vault password\n")
    secret_file = tmp_path / "lab.vault.yml"
    args = {"name": "demo-clinic: lab-integration", "duration": "8760h", "secret_file": str(secret_file),
            "vault_password_file": str(password)}

    refused = run_module(fake, tmp_path, "cloudflare_access_service_token", {"name": "lab"})
    assert refused["failed"] is True and "refusing to create service token 'lab'" in refused["msg"]
    assert refused["_writes"] == 0 and not fake.objects("service_tokens")

    checked = run_module(fake, tmp_path, "cloudflare_access_service_token", args, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0 and not secret_file.exists()

    created = run_module(fake, tmp_path, "cloudflare_access_service_token", args)
    assert created["changed"] is True and created["_writes"] == 1 and fake.calls("POST")[0].status == 201
    (token,) = fake.objects("service_tokens")
    assert created["client_id"] == token["client_id"] and created["secret_issued"] is True
    assert "client_secret" not in created  # the task has no no_log: the secret went to the file only
    assert token["_secret"] not in created["_stdout"]
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    stored = view(secret_file, password)
    assert stored == {"cloudflare_service_token_demo_clinic_lab_integration": {
        "id": token["id"], "name": "demo-clinic: lab-integration", "client_id": token["client_id"],
        "client_secret": token["_secret"]}}
    content = secret_file.read_bytes()

    again = run_module(fake, tmp_path, "cloudflare_access_service_token", args)
    assert again["changed"] is False and (again["_reads"], again["_writes"]) == (1, 0)
    assert secret_file.read_bytes() == content

    shorter = dict(args, duration="4380h")
    checked = run_module(fake, tmp_path, "cloudflare_access_service_token", shorter, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert (checked["diff"]["before"]["duration"], checked["diff"]["after"]["duration"]) == ("8760h", "4380h")
    updated = run_module(fake, tmp_path, "cloudflare_access_service_token", shorter)
    assert updated["changed"] is True and [c.method for c in fake.calls()] == ["GET", "PUT"]
    assert fake.objects("service_tokens")[0]["duration"] == "4380h"

    not_due = run_module(fake, tmp_path, "cloudflare_access_service_token", dict(shorter, refresh_within="720h"))
    assert not_due["changed"] is False and not_due["_writes"] == 0
    fake.store["service_tokens"][token["id"]]["expires_at"] = (
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    due = run_module(fake, tmp_path, "cloudflare_access_service_token", dict(shorter, refresh_within="720h"))
    assert due["changed"] is True and fake.calls("POST")[0].path.endswith("/refresh")

    rotated = run_module(fake, tmp_path, "cloudflare_access_service_token", dict(shorter, rotate=True), no_log=True)
    new_secret = fake.objects("service_tokens")[0]["_secret"]
    assert rotated["changed"] is True and rotated["client_secret"] == new_secret != token["_secret"]
    assert fake.calls("POST")[0].path.endswith("/rotate")
    assert view(secret_file, password)["cloudflare_service_token_demo_clinic_lab_integration"]["client_secret"] \
        == new_secret

    absent = {"name": "demo-clinic: lab-integration", "state": "absent"}
    deleted = run_module(fake, tmp_path, "cloudflare_access_service_token", absent)
    assert deleted["changed"] is True and not fake.objects("service_tokens")
    assert fake.calls("DELETE")[0].status == 200
    assert run_module(fake, tmp_path, "cloudflare_access_service_token", absent)["changed"] is False


def test_with_no_log_the_secret_is_returned_once(fake, tmp_path):
    first = run_module(fake, tmp_path, "cloudflare_access_service_token", {"name": "fax"}, no_log=True)
    assert first["client_secret"] == fake.objects("service_tokens")[0]["_secret"]
    second = run_module(fake, tmp_path, "cloudflare_access_service_token", {"name": "fax"}, no_log=True)
    assert second["changed"] is False and "client_secret" not in second


def test_bad_arguments(fake, tmp_path):
    cases = [
        ({"name": "t", "duration": "1y"}, "invalid argument: duration: '1y' is not a valid duration"),
        ({"name": "t", "duration": "0s"}, "invalid argument: duration: '0s' must be longer than zero"),
        ({"name": "t", "refresh_within": "soon"}, "invalid argument: refresh_within: 'soon' is not a valid duration"),
        ({"name": "t", "secret_file": str(tmp_path / "x.yml")}, "secret_file needs vault_password or"),
        ({"name": "t", "secret_file": str(tmp_path / "x.yml"), "vault_password": "a-long-vault-password",
          "vault_password_file": str(tmp_path / "p")}, "parameters are mutually exclusive"),
        ({"name": "t", "secret_file": str(tmp_path / "x.yml"), "vault_password": "a-long-vault-password",
          "secret_file_variable": "not a name"}, "is not a valid Ansible variable name"),
    ]
    results = run_tasks(fake, tmp_path, [("cloudflare_access_service_token", case[0]) for case in cases])
    for (args, message), result in zip(cases, results):
        assert result["failed"] is True, args
        assert message in result["msg"], (args, result["msg"])
    assert fake.calls() == []


def test_rotation_with_a_grace_period_keeps_the_previous_secret_valid(fake, tmp_path):
    created = run_module(fake, tmp_path, "cloudflare_access_service_token", {"name": "booking"}, no_log=True)
    (token,) = fake.objects("service_tokens")
    assert created["expires_at"] == token["expires_at"]  # for the fleet report
    args = {"name": "booking", "rotate": True, "rotate_grace_period": "24h"}

    checked = run_module(fake, tmp_path, "cloudflare_access_service_token", args, check=True, no_log=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    planned = parse_time(checked["previous_client_secret_expires_at"])
    assert abs((planned - now_plus(hours=24)).total_seconds()) < 120
    assert checked["diff"]["after"]["previous_client_secret_expires_at"] == checked["previous_client_secret_expires_at"]
    assert fake.objects("service_tokens")[0]["_secret"] == token["_secret"]

    rotated = run_module(fake, tmp_path, "cloudflare_access_service_token", args, no_log=True)
    (call,) = fake.calls("POST")
    assert call.path.endswith("/%s/rotate" % token["id"])
    sent = parse_time(call.body["previous_client_secret_expires_at"])
    assert abs((sent - now_plus(hours=24)).total_seconds()) < 120
    assert rotated["previous_client_secret_expires_at"] == call.body["previous_client_secret_expires_at"]
    stored = fake.objects("service_tokens")[0]
    assert stored["_previous_secret"] == token["_secret"] and rotated["client_secret"] == stored["_secret"]
    assert stored["_secret"] not in json.dumps(rotated["diff"])

    at_once = run_module(fake, tmp_path, "cloudflare_access_service_token", {"name": "booking", "rotate": True},
                         no_log=True)
    (call,) = fake.calls("POST")
    assert call.body == {} and at_once["diff"]["after"]["previous_client_secret_expires_at"].startswith("(now")
    assert fake.objects("service_tokens")[0]["_previous_secret"] is None


def test_a_token_may_last_forever_and_is_then_never_refreshed(fake, tmp_path):
    args = {"name": "fax-gateway", "duration": "forever", "refresh_within": "720h"}
    created = run_module(fake, tmp_path, "cloudflare_access_service_token", args, no_log=True)
    assert created["changed"] is True and fake.calls("POST")[0].body == {"name": "fax-gateway", "duration": "forever"}
    assert created["expires_at"] is None and created["service_token"]["duration"] == "forever"
    again = run_module(fake, tmp_path, "cloudflare_access_service_token", args, no_log=True)
    assert again["changed"] is False and again["_writes"] == 0
    limited = run_module(fake, tmp_path, "cloudflare_access_service_token", dict(args, duration="8760h"))
    assert limited["changed"] is True and fake.calls("PUT")[0].body == {"name": "fax-gateway", "duration": "8760h"}
    assert (limited["diff"]["before"]["duration"], limited["diff"]["after"]["duration"]) == ("forever", "8760h")


def test_grace_period_arguments_are_checked(fake, tmp_path):
    cases = [
        ({"name": "t", "rotate_grace_period": "24h"}, "rotate_grace_period: applies to a rotation: set rotate: true"),
        ({"name": "t", "rotate": True, "rotate_grace_period": "1 day"}, "rotate_grace_period: '1 day' is not a valid"),
        ({"name": "t", "duration": "for ever"}, "duration: 'for ever' is not a valid duration"),
    ]
    results = run_tasks(fake, tmp_path, [("cloudflare_access_service_token", c[0]) for c in cases], no_log=True)
    for (args, message), result in zip(cases, results):
        assert result["failed"] is True and message in result["msg"], (args, result.get("msg"))
    assert fake.calls() == []


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_plus(**delta):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)
