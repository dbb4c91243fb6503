"""What a patch run installs, when it may reboot, and what the health snapshot reads from real command output."""

import datetime
import json

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _clinic_health as health
from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _patch_plan as pp

# Real `apt-get -s dist-upgrade` lines (Debian 12), one from a security source, one new dependency.
APT_SIM = """\
NOTE: This is only a simulation!
Inst libssl3 [3.0.15-1~deb12u1] (3.0.17-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst base-files [12.4+deb12u11] (12.4+deb12u12 Debian:12.12/stable [amd64])
Inst tomcat10 [10.1.6-1+deb12u1] (10.1.6-1+deb12u2 Debian-Security:12/stable-security [all])
Inst libnew1 (1.0-1 Debian:12.12/stable [amd64])
Inst cloudflared [2025.2.1] (2026.8.2 . [amd64])
Conf libssl3 (3.0.17-1~deb12u2 Debian-Security:12/stable-security [amd64])
"""
HOLD = ["tomcat*", "openjdk-*", "mariadb-*"]


def names(pkgs):
    return [p["name"] for p in pkgs]


def test_apt_simulation_is_parsed_with_versions_and_security():
    pkgs = health.parse_apt_simulation(APT_SIM)
    assert names(pkgs) == ["libssl3", "base-files", "tomcat10", "libnew1", "cloudflared"]
    assert pkgs[0] == {"name": "libssl3", "current": "3.0.15-1~deb12u1", "candidate": "3.0.17-1~deb12u2",
                       "origins": "Debian-Security:12/stable-security", "security": True}
    assert pkgs[3]["current"] is None
    assert not pkgs[1]["security"]


@pytest.mark.parametrize("scope,cloudflared,install,held,skipped", [
    ("security", "latest", ["libssl3", "cloudflared"], ["tomcat10"], ["base-files"]),
    ("all", "latest", ["libssl3", "base-files", "cloudflared"], ["tomcat10"], []),
    ("none", "latest", ["cloudflared"], ["tomcat10"], ["libssl3", "base-files"]),
    ("security", "2025.2.1", ["libssl3"], ["tomcat10", "cloudflared"], ["base-files"]),
])
def test_plan_follows_scope_hold_list_and_cloudflared_pin(scope, cloudflared, install, held, skipped):
    plan = pp.plan(health.parse_apt_simulation(APT_SIM), scope, HOLD, cloudflared)
    assert (names(plan["install"]), names(plan["held"]), names(plan["skipped"])) == (install, held, skipped)


def test_opting_in_releases_a_held_package():
    plan = pp.plan(health.parse_apt_simulation(APT_SIM), "security", ["openjdk-*"], "latest")
    assert "tomcat10" in names(plan["install"])


WINDOW = {"timezone": "America/Toronto", "windows": [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "20:00", "end": "06:00"},
    {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]}


@pytest.mark.parametrize("now,expected", [
    ("2026-12-07T14:00:00-05:00", False),   # Monday afternoon in Toronto
    ("2026-12-07T21:30:00-05:00", True),    # Monday night
    ("2026-12-08T05:59:00-05:00", True),    # Tuesday early morning: Monday's window running past midnight
    ("2026-12-08T06:00:00-05:00", False),
    ("2026-12-05T12:00:00-05:00", True),    # Saturday
    ("2026-12-07T19:00:00+00:00", False),   # 14:00 in Toronto: the clinic's zone decides, not UTC
    ("2026-12-07T03:00:00-05:00", False),   # Monday 03:00: Sunday's window (00:00-24:00) ended at midnight
])
def test_maintenance_window_in_the_clinic_time_zone(now, expected):
    assert pp.window_open(WINDOW, "UTC", now) is expected


def test_host_time_zone_when_the_window_names_none():
    window = dict(WINDOW, timezone="")
    assert pp.window_open(window, "Europe/Paris", "2026-12-07T21:30:00+01:00") is True
    assert pp.window_open(window, "Europe/Paris", "2026-12-07T08:00:00-05:00") is False  # 14:00 Monday in Paris
    assert pp.window_open(window, "Europe/Paris", "2026-12-07T19:30:00+00:00") is True  # 20:30 in Paris
    assert pp.window_open(window, "", "2026-12-07T19:30:00+00:00") is False  # no zone anywhere: UTC


def test_window_errors_name_the_variable_and_value():
    bad_window = {"days": ["mon", "funday"], "start": "25:00", "end": "6"}
    errors = pp.window_errors({"timezone": "Mars/Olympus", "windows": [bad_window], "extra": 1})
    text = "; ".join(errors)
    assert "patch_maintenance_window: unknown keys extra" in text
    assert "patch_maintenance_window.timezone: 'Mars/Olympus'" in text
    assert "patch_maintenance_window.windows[0].days" in text and "funday" in text
    assert "windows[0].start: '25:00'" in text and "windows[0].end: '6'" in text
    assert pp.window_errors(WINDOW) == []


def test_needrestart_batch_output():
    out = "NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-25-amd64\nNEEDRESTART-KEXP: 6.1.0-28-amd64\n" \
          "NEEDRESTART-KSTA: 3\nNEEDRESTART-SVC: nginx.service\nNEEDRESTART-SVC: cron.service\n"
    assert pp.parse_needrestart(out) == {"services": ["nginx.service", "cron.service"], "kernel_reboot": True}
    assert pp.parse_needrestart("NEEDRESTART-KSTA: 1\n") == {"services": [], "kernel_reboot": False}


def test_expiring_peers():
    today = datetime.date(2026, 12, 6)
    peers = [{"name": "a", "expires": "2026-12-10"}, {"name": "b", "expires": "2027-06-01"},
             {"name": "c", "expires": "2026-12-01"}, {"name": "d", "expires": "2026-12-10", "enabled": False},
             {"name": "e"}]
    assert [p["name"] for p in pp.expiring(peers, 14, today)] == ["a", "c"]


def test_systemctl_show_and_handshakes_and_sources():
    out = "Id=nginx.service\nLoadState=loaded\nActiveState=active\nNRestarts=2\n\n" \
          "Id=nope.service\nLoadState=not-found\nActiveState=inactive\nNRestarts=0\n"
    units = health.parse_systemctl_show(out)
    assert units[0]["NRestarts"] == "2" and units[1]["LoadState"] == "not-found"
    assert health.parse_wg_handshakes("pubA= 1765000000\npubB= 0\n") == {"pubA=": 1765000000, "pubB=": 0}
    assert health.sources_have_security(["Types: deb\nURIs: http://deb.debian.org/debian-security\n"
                                         "Suites: bookworm-security\n"])
    assert not health.sources_have_security(["deb http://deb.debian.org/debian bookworm main\n",
                                             "# deb http://security.debian.org bookworm-security main\n"])


def test_snapshot_gates_only_on_gating_checks(tmp_path):
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[0] == "systemctl":
            return 0, "Id=a.service\nLoadState=loaded\nActiveState=failed\nNRestarts=5\n", ""
        return 127, "", "not installed"

    result = health.snapshot({"units": ["a.service"], "tomcat_url": "http://127.0.0.1:9/"}, run)
    assert result["healthy"] is False
    assert set(result["failed"]) == {"unit a.service", "tomcat"}
    assert result["units"]["a.service"] == {"active": "failed", "load": "loaded", "restarts": 5}
    assert ["systemctl", "show", "-p", "Id,LoadState,ActiveState,NRestarts", "a.service"] in calls


def test_the_roles_rules_name_the_variable_and_the_value():
    """The patch role's check (patch_validate, issue 13's one idiom), once three asserts with one joined message."""
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils._patch_plan import patch_input_errors

    good = {"patch_maintenance_window": {"timezone": "", "windows": []},
            "patch_hold_packages": ["tomcat*", "mariadb-*"], "patch_reboot_timeout": 900,
            "patch_health_settle_seconds": "60"}
    assert patch_input_errors(good) == []
    errors = patch_input_errors(dict(good, patch_hold_packages=["tomcat*", "bad name;rm"], patch_reboot_timeout=30,
                                     patch_health_settle_seconds=-1, patch_maintenance_window=[]))
    assert errors == [
        "patch_maintenance_window: [] is not a mapping with timezone and windows",
        "patch_hold_packages[1]: 'bad name;rm' is not a package-name pattern (letters, digits, . + - and * ? [ ])",
        "patch_reboot_timeout: 30 is not at least 60 seconds",
        "patch_health_settle_seconds: -1 is not 0 or more seconds",
    ]


def test_expiring_gateway_accounts_by_username():
    """The same rule for gateway accounts (gateway_users, named by username) as for WireGuard peers."""
    today = datetime.date(2026, 12, 6)
    users = [{"username": "locum", "expires": "2026-12-12"}, {"username": "staff"},
             {"username": "student", "expires": datetime.date(2026, 12, 1)}]
    assert pp.expiring(users, 14, today, name_key="username") == [
        {"name": "locum", "expires": "2026-12-12", "days_left": 6},
        {"name": "student", "expires": "2026-12-01", "days_left": -5}]


# The record the nginx role writes after each ACME attempt (roles/nginx/tasks/acme.yml), as it writes it.
ACME_FAILED = """{
    "date": "2026-11-02T03:00:12Z",
    "message": "ACME: no new certificate for emr.lakeside.example ... stays in service. Failed at \\"Let the CA \
check the challenge\\": timeout",
    "reason": "renewal is due (valid until 20261202010000Z)",
    "result": "failed"
}
"""


def test_a_failed_acme_renewal_is_reported_from_the_first_failure_with_the_days_left(tmp_path):
    """A month before expiry the days left look fine (30 > the 21-day warning): the record of the failed renewal is
    what makes it visible then, with its date and the days left."""
    attempt, renewal = health.acme_last_attempt(ACME_FAILED, 30)
    assert attempt == {"result": "failed", "date": "2026-11-02T03:00:12Z", "days_left": 30,
                       "reason": "renewal is due (valid until 20261202010000Z)",
                       "message": json.loads(ACME_FAILED)["message"]}
    assert renewal["ok"] is False and renewal["gate"] is False
    assert renewal["detail"].startswith("ACME renewal failed on 2026-11-02T03:00:12Z, the certificate in service "
                                        "expires in 30 days: ACME: no new certificate")

    ok_attempt, ok_check = health.acme_last_attempt(ACME_FAILED.replace('"failed"', '"ok"'), 89)
    assert ok_attempt["result"] == "ok" and ok_check["ok"]
    assert health.acme_last_attempt("{not json", None)[1]["ok"] is False

    # Through the snapshot: a warning (reported, not a gate), next to the certificate's own check, which passes.
    record = tmp_path / "last-attempt.json"
    record.write_text(ACME_FAILED)
    cert = tmp_path / "fullchain.pem"
    cert.write_text("")
    not_after = (datetime.datetime.utcnow() + datetime.timedelta(days=30, hours=1)).strftime("%b %d %H:%M:%S %Y GMT")

    def run(argv):
        if argv[0] == "openssl":
            return 0, "notAfter=%s\n" % not_after, ""
        return 127, "", "not installed"

    result = health.snapshot({"tls_certificate": str(cert), "expiry_days": 21, "acme_last_attempt": str(record)},
                             run)
    assert result["healthy"] is True
    assert result["tls_days_left"] == 30 and result["tls_renewal"]["result"] == "failed"
    assert result["tls_renewal"]["days_left"] == 30
    assert [w for w in result["warnings"] if w.startswith("ACME renewal failed on 2026-11-02")]
    assert not [w for w in result["warnings"] if "expires in 30 days" in w and "ACME" not in w]
    # Without a record (another mode, or no attempt yet) nothing is reported about renewals.
    assert health.snapshot({"tls_certificate": str(cert)}, run)["tls_renewal"] is None
