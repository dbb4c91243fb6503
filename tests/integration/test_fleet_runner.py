"""scripts/fleet.py through ansible-runner: one run per clinic, failures and unreachable hosts contained, a per-clinic
time limit, a concurrency cap, artifacts per clinic, the exit status, and the report (JSON, table, and the HTML page
opened in a real browser: Debian's Chromium driven by Playwright)."""

import datetime
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import fleet  # noqa: E402
import fleet_report  # noqa: E402

PLAYBOOK = """\
- name: Each clinic's own variables, a failure, a hang
  hosts: clinic
  gather_facts: false
  tasks:
    - name: Reach the host
      ansible.builtin.ping:
    - name: Write the clinic name seen by this run, and when it started and ended
      ansible.builtin.copy:
        content: "{{ clinic_name }} {{ now(utc=true).timestamp() }}\\n"
        dest: "{{ out_dir }}/{{ clinic_name }}.start"
        mode: "0600"
      delegate_to: localhost
    - name: Hang where the clinic asks for it
      ansible.builtin.pause:
        seconds: 600
      when: hang | default(false)
    - name: Fail where the clinic asks for it
      ansible.builtin.fail:
        msg: this clinic fails on purpose
      when: fail_here | default(false)
    - name: Take a little time
      ansible.builtin.pause:
        seconds: 2
    - name: Record the end
      ansible.builtin.copy:
        content: "{{ now(utc=true).timestamp() }}\\n"
        dest: "{{ out_dir }}/{{ clinic_name }}.end"
        mode: "0600"
      delegate_to: localhost
"""


def clinic(base, name, host_vars, **group_vars):
    inv = base / name
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    clinic:\n      hosts:\n        %s:\n%s" % (
            name + "-host", "".join(f"          {k}: {v}\n" for k, v in host_vars.items())))
    lines = [f"clinic_name: {name}"] + [f"{k}: {v}" for k, v in group_vars.items()]
    (inv / "group_vars" / "all" / "clinic.yml").write_text("\n".join(lines) + "\n")


LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.fixture()
def bed(tmp_path):
    inventories = tmp_path / "inventories"
    clinic(inventories, "alpha", LOCAL)
    clinic(inventories, "bravo", LOCAL, fail_here="true")
    # Nothing listens on loopback port 1: the host is unreachable.
    clinic(inventories, "charlie", {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                                    "ansible_ssh_common_args": "'-o ConnectTimeout=3'"})
    clinic(inventories, "delta", LOCAL, hang="true")
    clinic(inventories, "echo", LOCAL)
    (tmp_path / "out").mkdir()
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return tmp_path


def _runs_play(proc, play):
    try:
        return str(play).encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_fleet_contains_failures_and_reports(bed, capsys):
    out = bed / "run"
    rc = fleet.main([str(bed / "play.yml"), "--inventories", str(bed / "inventories"), "--out", str(out),
                     "--parallel", "2", "--timeout", "45", "--", "-e", f"out_dir={bed / 'out'}"])
    printed = capsys.readouterr().out
    assert rc == 1
    report = json.loads((out / "fleet-report.json").read_text())
    results = {c["clinic"]: c["result"] for c in report["clinics"]}
    assert results == {"alpha": "ok", "bravo": "failed", "charlie": "unreachable", "delta": "timeout", "echo": "ok"}
    # The timed-out clinic left nothing running (Ansible's workers escape ansible-runner's process-group kill).
    assert not [p for p in Path("/proc").glob("[0-9]*") if _runs_play(p, bed / "play.yml")]
    # Failed clinics first, then the others.
    assert [c["clinic"] for c in report["clinics"]][-2:] == ["alpha", "echo"]
    # Each clinic saw its own group_vars; the hung one never got past the pause.
    assert (bed / "out" / "alpha.end").exists() and (bed / "out" / "echo.end").exists()
    assert not (bed / "out" / "delta.end").exists()
    # Artifacts per clinic (ansible-runner's own layout) and a log per clinic.
    for name in ("alpha", "bravo", "charlie", "delta", "echo"):
        assert (out / "artifacts" / name / "status").exists()
        assert (out / f"{name}.log").exists()
    assert "this clinic fails on purpose" in (out / "bravo.log").read_text()
    # Progress lines: never more than two clinics running at once.
    running = [int(line.split(", ")[1].split()[0]) for line in printed.splitlines() if " running, " in line]
    assert running and max(running) <= 2
    assert "[5/5 done, 0 running, 3 failed]" in printed
    # Where each running clinic is: its play (from ansible-runner's events) and how many tasks it has started.
    assert "alpha (play 'Each clinic's own variables, a failure, a hang', 0 tasks)" in printed
    assert "alpha" in fleet_report.table(report)


TWO_PLAYS = """\
- name: Reach the clinic
  hosts: clinic
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
- name: Reach the connectors
  hosts: connectors
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def test_a_run_that_did_nothing_fails(tmp_path, monkeypatch):
    """Ansible calls a run whose plays found no hosts successful; the runner does not. Paths relative to the working
    directory, as the demo gives them: ansible-runner took a relative inventory path for an inventory's text (a host
    named 'inventories/x/hosts.yml'), so every play of every clinic matched no hosts and the run passed."""
    monkeypatch.chdir(tmp_path)
    inventories = tmp_path / "inventories"
    clinic(inventories, "declared", LOCAL)
    # A group declared empty (a WireGuard-only clinic has no connectors): fine unless --require-hosts.
    with (inventories / "declared" / "hosts.yml").open("a") as hosts:
        hosts.write("    connectors:\n      hosts: {}\n")
    # A host in no group: neither play's pattern names anything in this inventory.
    (inventories / "ungrouped").mkdir()
    (inventories / "ungrouped" / "hosts.yml").write_text(
        "all:\n  hosts:\n    lonely:\n%s" % "".join(f"      {k}: {v}\n" for k, v in LOCAL.items()))
    (tmp_path / "two.yml").write_text(TWO_PLAYS)

    def run(name, *options):
        out = tmp_path / name
        rc = fleet.main(["two.yml", "--inventories", "inventories", "--out", name, *options])
        return rc, {c["clinic"]: c for c in json.loads((out / "fleet-report.json").read_text())["clinics"]}

    rc, clinics = run("default")
    assert rc == 1
    assert clinics["declared"]["result"] == "ok" and clinics["declared"]["hosts"][0]["host"] == "declared-host"
    ungrouped = clinics["ungrouped"]
    assert ungrouped["result"] == "failed"
    assert ungrouped["errors"] == [
        "play 'Reach the clinic' matched no hosts: the inventory has no group or host 'clinic'",
        "play 'Reach the connectors' matched no hosts: the inventory has no group or host 'connectors'",
        "no task ran on any host (did the inventory name the clinic's hosts?)"]

    rc, clinics = run("strict", "--clinic", "declared", "--require-hosts", "--expect-change")
    assert rc == 1
    assert clinics["declared"]["errors"] == [
        "play 'Reach the connectors' matched no hosts (pattern 'connectors')",
        "nothing changed, and this run was expected to change the clinic (--expect-change)"]


def test_no_clinics_is_exit_status_2(tmp_path):
    (tmp_path / "inventories").mkdir()
    assert fleet.main([str(tmp_path / "x.yml"), "--inventories", str(tmp_path / "inventories"),
                       "--out", str(tmp_path / "o")]) == 2


def synthetic_runs():
    snapshot = {"healthy": True, "failed_checks": [], "versions": {"os": "Debian GNU/Linux 12 (bookworm)",
                "nginx": "1.22.1", "cloudflared": "2025.2.1", "wireguard_tools": "1.0.20210914", "gateway": "1.0.0"},
                "units": {"nginx.service": {"active": "active", "restarts": 3}}, "tls_days_left": 9,
                "pending_updates": [{"name": "libssl3"}], "pending_security_updates": 1, "reboot_required": True,
                "security_source": True}
    ok = {"clinic": "lakeside", "status": "successful", "rc": 0, "seconds": 42.0,
          "started": "2026-12-06T01:00:00+00:00", "hosts": ["oscar"], "changed": 3, "failed": 0,
          "unreachable": [], "errors": [], "changed_tasks": [],
          "health": {"oscar": snapshot},
          "artifact_data": {"patch_hosts": {"oscar": {"outcome": "patched", "reboot": "pending"}},
                            "patch_expiring": {"oscar": [{"name": "dr-bob", "expires": "2026-12-10", "days_left": 4}]},
                            "patch_gateway_expiring": {"oscar": [
                                {"name": "locum", "expires": "2026-12-12", "days_left": 6},
                                {"name": "student", "expires": "2026-12-01", "days_left": -5}]}}}
    bad = {"clinic": "hillcrest", "status": "failed", "rc": 2, "seconds": 12.5, "hosts": ["oscar"], "changed": 0,
           "failed": 1, "unreachable": [], "errors": ["oscar: health: tomcat down"], "changed_tasks": [],
           "health": {"oscar": dict(snapshot, healthy=False, failed_checks=["tomcat"])},
           "artifact_data": {"patch_hosts": {"oscar": {"outcome": "left alone: unhealthy before patching"}}}}
    return [ok, bad]


def test_report_fields_and_restarts_since_last_run(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"lakeside": {"restarts": {"oscar": {"nginx.service": 1}},
                                              "last_successful_patch": "2026-11-01T01:00:00+00:00"}}))
    now = datetime.datetime(2026, 12, 6, tzinfo=datetime.timezone.utc)
    report = fleet_report.build(synthetic_runs(), "playbooks/patch.yml", state, now=now)
    first, second = report["clinics"]
    assert first["clinic"] == "hillcrest" and first["result"] == "unhealthy: left alone"
    host = second["hosts"][0]
    assert host["restarts_since_last_run"] == {"nginx.service": 2}
    assert host["cloudflared_age"] == {"days": 673, "supported": False}
    assert host["reboot_pending"] and host["tls_days_left"] == 9 and host["pending_security_updates"] == 1
    assert host["wireguard_peers_expiring"][0]["name"] == "dr-bob"
    assert [a["name"] for a in host["gateway_accounts_expiring"]] == ["locum", "student"]
    lakeside_row = next(line for line in fleet_report.table(report).splitlines() if line.startswith("lakeside"))
    assert lakeside_row.endswith("peer dr-bob (2026-12-10, 4 d), account locum (2026-12-12, 6 d), "
                                 "account student (2026-12-01, EXPIRED)")
    assert second["last_successful_patch"] == "2026-12-06T01:00:00+00:00"
    assert first["last_successful_patch"] is None
    assert json.loads(state.read_text())["lakeside"]["restarts"]["oscar"] == {"nginx.service": 3}


def test_a_failed_acme_renewal_shows_beside_the_days_left(tmp_path):
    """30 days left looks healthy; the failed renewal recorded by the nginx role is shown beside them in the JSON,
    the table and the HTML page, from the first failure on."""
    runs = synthetic_runs()
    renewal = {"result": "failed", "date": "2026-11-02T03:00:12Z", "reason": "renewal is due", "days_left": 30,
               "message": "ACME: no new certificate for emr.lakeside.example"}
    runs[0]["health"]["oscar"] = dict(runs[0]["health"]["oscar"], tls_days_left=30, tls_renewal=renewal)
    report = fleet_report.build(runs, "playbooks/site.yml", None)
    host = next(c for c in report["clinics"] if c["clinic"] == "lakeside")["hosts"][0]
    assert host["tls_days_left"] == 30 and host["tls_renewal"] == renewal
    assert fleet_report.host_line(host)["tls days"] == "30, RENEWAL FAILED 2026-11-02T03:00:12Z"
    assert "30, RENEWAL FAILED 2026-11-02" in fleet_report.table(report)
    fleet_report.write(report, tmp_path)
    assert ">30, RENEWAL FAILED 2026-11-02T03:00:12Z</td>" in (tmp_path / "fleet-report.html").read_text()
    assert json.loads((tmp_path / "fleet-report.json").read_text())["clinics"][1]["hosts"][0]["tls_renewal"] == renewal
    # Without a record, or after a renewal that went through, the days alone.
    other = next(c for c in report["clinics"] if c["clinic"] == "hillcrest")["hosts"][0]
    assert fleet_report.host_line(other)["tls days"] == "9"
    ok = dict(host, tls_renewal=dict(renewal, result="ok"))
    assert fleet_report.host_line(ok)["tls days"] == "30"


@pytest.mark.integration
def test_report_page_in_a_real_browser(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "gateway"))
    from test_browser import ARGS, CHROMIUM, ensure_chromium  # the gateway's browser test installs Debian's chromium

    try:
        ensure_chromium()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright not installed")
    report = fleet_report.build(synthetic_runs(), "playbooks/patch.yml", None)
    fleet_report.write(report, tmp_path)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto((tmp_path / "fleet-report.html").as_uri())
            sections = page.locator("section.clinic")
            assert sections.count() == 2
            assert sections.nth(0).get_attribute("data-clinic") == "hillcrest"
            assert "unhealthy: left alone" in sections.nth(0).locator("h2").inner_text()
            cell = page.locator('section[data-clinic="lakeside"] tr[data-host="oscar"] td[data-field="cloudflared"]')
            assert "2025.2.1" in cell.inner_text() and "UNSUPPORTED" in cell.inner_text()
            accounts = page.locator('section[data-clinic="lakeside"] tr[data-host="oscar"] '
                                    'td[data-field="accounts expiring"]').inner_text()
            assert accounts == "locum (2026-12-12, 6 d), student (2026-12-01, EXPIRED)"
            assert page.locator("#summary").inner_text().startswith("2 clinics, 1 failed")
            # A failed clinic is marked in red, visibly.
            color = sections.nth(0).locator("h2").evaluate("e => getComputedStyle(e).color")
            assert color == "rgb(170, 17, 17)"
            page.screenshot(path=str(tmp_path / "fleet-report.png"), full_page=True)
        finally:
            browser.close()
