"""playbooks/access_logs.yml end to end: the fake Cloudflare API's Access logs, the cloudflare_access_logs module on
the controller, the gateway's admin command and its real SQLite audit store (the host is this machine)."""

import datetime
import json
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


KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
PEERS = json.dumps([{"name": "front-desk-pi-peer", "owner": "", "public_key": KEY}])


def _look(handshake):
    """One look as the wireguard role's timer spools it on a WireGuard server without the gateway."""
    return "[look]\n[latest-handshakes]\n%s\t%d\n[endpoints]\n%s\t192.0.2.5:51820\n[peers]\n%s\n" % (
        KEY, handshake, KEY, PEERS)


def _inventory(tmp_path, fake, admin):
    """The gateway host (oscar) and a WireGuard server without the gateway (pi), both this machine."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"gateway_mode": "cloudflare", "cloudflare_account_id": fake.account_id,
                 "access_logs_admin_command": [str(admin)],
                 "access_logs_wireguard_spool_dir": str(tmp_path / "spool")},
        "children": {"front_door": {"hosts": {"oscar": local}}, "wireguard_servers": {"hosts": {"pi": local}}}}}))
    return inventory


def test_scheduled_pull_keeps_every_record_once_in_the_chain(clinic, tmp_path):
    gateway, admin = clinic
    with running_fake(max_per_page=2) as fake:
        inventory = _inventory(tmp_path, fake, admin)
        playbook = REPO_ROOT / "playbooks" / "access_logs.yml"
        added = [fake.add_access_log("dr.lee@clinic.example", created_at=_ago(200 - n), allowed=n != 1)
                 for n in range(3)]
        gateway.store.audit("access", username="dr.lee@clinic.example", path="/oscar/")
        spool = tmp_path / "spool" / "wg0.spool"
        spool.parent.mkdir()
        spool.write_text(_look(1796025600) + _look(1796025720) + _look(1796032800))

        checked, recap = run_playbook(playbook, inventory, fake, args=["--check"])
        assert recap["oscar"]["failed"] == 0 and recap["pi"]["failed"] == 0, checked.stdout + checked.stderr
        assert gateway.store.one("SELECT COUNT(*) FROM audit WHERE source_key IS NOT NULL")[0] == 0
        assert spool.exists() and not list(spool.parent.glob("*.sending"))

        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["failed"] == 0 and recap["oscar"]["changed"] == 1, proc.stdout + proc.stderr
        first = fake.calls("GET", "/access/logs/")
        assert len(first) == 2 + 2  # check mode's two pages, then this run's
        assert "3 record(s) read" in proc.stdout and "3 new" in proc.stdout
        # The Pi's spool went to the gateway (three looks: a first handshake, a rekey, a return) and is gone.
        assert recap["pi"]["failed"] == 0 and list(spool.parent.iterdir()) == []
        handshakes = gateway.store.all("SELECT * FROM audit WHERE event = 'wireguard_handshake' ORDER BY id")
        assert [(r["username"], r["ip"], r["time"]) for r in handshakes] == [
            ("front-desk-pi-peer", "192.0.2.5", 1796025600), ("front-desk-pi-peer", "192.0.2.5", 1796032800)]

        # The next run starts an hour before the newest record held and stores nothing twice.
        fake.add_access_log("front.desk@clinic.example", created_at=_ago(1))
        fake.reset_requests()
        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["failed"] == 0 and recap["oscar"]["changed"] == 1, proc.stdout + proc.stderr
        assert "4 record(s) read" in proc.stdout and "1 new, 3 already held" in proc.stdout
        since = fake.calls("GET", "/access/logs/")[0].query["since"]
        newest_held = datetime.datetime.fromisoformat(added[-1]["created_at"].replace("Z", "+00:00"))
        assert abs(datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
                   - (newest_held - datetime.timedelta(hours=1))) < datetime.timedelta(seconds=2)

        proc, recap = run_playbook(playbook, inventory, fake)
        assert recap["oscar"]["changed"] == 0 and "0 new" in proc.stdout

    rows = gateway.store.all("SELECT * FROM audit WHERE source_key LIKE 'cloudflare:%' ORDER BY id")
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
