"""playbooks/access_logs.yml end to end: the fake Cloudflare API's Access logs, the cloudflare_access_logs module on
the controller, the gateway's admin command and its real SQLite audit store (the host is this machine)."""

import datetime
import stat
import sys

import pytest
import yaml
from gwtest import GATEWAY_FILES, make_gateway

from tests.fake_cloudflare.harness import REPO_ROOT, run_playbook, running_fake

pytestmark = pytest.mark.integration


def _ago(minutes):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def clinic(tmp_path):
    gateway = make_gateway(tmp_path, mode="cloudflare")
    admin = tmp_path / "oscar-gateway-admin"
    admin.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m oscar_gateway.admin --config %s \"$@\"\n"
                     % (GATEWAY_FILES, sys.executable, tmp_path / "config.json"))
    admin.chmod(stat.S_IRWXU)
    return gateway, admin


def _inventory(tmp_path, fake, admin):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"front_door": {"hosts": {"oscar": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "gateway_mode": "cloudflare", "cloudflare_account_id": fake.account_id,
        "access_logs_admin_command": [str(admin)]}}}}}}))
    return inventory


def test_scheduled_pull_keeps_every_record_once_in_the_chain(clinic, tmp_path):
    gateway, admin = clinic
    with running_fake(max_per_page=2) as fake:
        inventory = _inventory(tmp_path, fake, admin)
        playbook = REPO_ROOT / "playbooks" / "access_logs.yml"
        for n in range(3):
            fake.add_access_log("dr.lee@clinic.example", created_at=_ago(200 - n), allowed=n != 1)
        gateway.store.audit("access", username="dr.lee@clinic.example", path="/oscar/")

        checked, recap = run_playbook(playbook, inventory, fake, args=["--check"])
        assert recap["oscar"]["failed"] == 0, checked.stdout + checked.stderr
        assert gateway.store.one("SELECT COUNT(*) FROM audit WHERE source_key IS NOT NULL")[0] == 0

        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["failed"] == 0 and recap["oscar"]["changed"] == 1, proc.stdout + proc.stderr
        first = fake.calls("GET", "/access/logs/")
        assert len(first) == 2 + 2  # check mode's two pages, then this run's
        assert "3 record(s) read" in proc.stdout and "3 new" in proc.stdout

        # The next run starts an hour before the newest record held and stores nothing twice.
        fake.add_access_log("front.desk@clinic.example", created_at=_ago(1))
        fake.reset_requests()
        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["failed"] == 0 and recap["oscar"]["changed"] == 1, proc.stdout + proc.stderr
        assert "4 record(s) read" in proc.stdout and "1 new, 3 already held" in proc.stdout
        since = fake.calls("GET", "/access/logs/")[0].query["since"]
        newest_held = datetime.datetime.fromisoformat(_ago(198)[:19] + "+00:00")
        assert abs(datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
                   - (newest_held - datetime.timedelta(hours=1))) < datetime.timedelta(minutes=1)

        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["changed"] == 0 and "0 new" in proc.stdout

    rows = gateway.store.all("SELECT * FROM audit WHERE source_key IS NOT NULL ORDER BY id")
    assert [r["event"] for r in rows] == ["cloudflare_login", "cloudflare_login_denied", "cloudflare_login",
                                          "cloudflare_login"]
    assert gateway.store.verify_audit_chain()[1] is None


def test_clinics_without_cloudflare_are_left_alone(clinic, tmp_path):
    _gateway, admin = clinic
    with running_fake() as fake:
        inventory = _inventory(tmp_path, fake, admin)
        text = inventory.read_text().replace("gateway_mode: cloudflare", "gateway_mode: standalone")
        inventory.write_text(text)
        proc, recap = run_playbook(REPO_ROOT / "playbooks" / "access_logs.yml", inventory, fake)
        assert proc.returncode == 0 and recap.get("oscar", {}).get("changed", 0) == 0, proc.stdout
        assert fake.calls("GET") == []
