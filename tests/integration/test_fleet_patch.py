"""Proof of fleet patching: four clinics in containers, patched by playbooks/patch.yml through scripts/fleet.py.

- healthy: cloudflared 2026.8.2 installed, nothing to patch;
- pending: cloudflared 2025.2.1 installed (the real package from ../shared/cloudflared) and 2026.8.2 offered by a
  local apt repository this test builds; its inventory follows cloudflared_version: latest, so it gets patched;
- broken: the same pending update, but its OSCAR stand-in is down, so its health gate fails and it is left alone;
- regress: the same pending update, healthy, but its OSCAR stand-in stops once cloudflared is upgraded (an upgrade
  that breaks the application): the gate after patching fails and cloudflared 2025.2.1 is put back.

A check-mode run lists the packages and versions and changes nothing; the real run patches the first two, leaves
the third alone and rolls the fourth back, all reported; a second run changes nothing. Connectors are not run
(the clinics are not in cloudflared_connectors): the package is what is patched, and no connector may try to reach
Cloudflare.
Containers and network are this test's own (fleet-test-*, oscar-fleet-test), removed at the end.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "cloudflared"
OLD, NEW = "2025.2.1", "2026.8.2"
IMAGE = "localhost/oscar-testbed:bookworm"
NETWORK = "oscar-fleet-test"
CLINICS = {"healthy": NEW, "pending": OLD, "broken": OLD, "regress": OLD}
# OSCAR's stand-in per clinic: up; down (the health gate before fails); or up until cloudflared is no longer 2025.2.1,
# an upgrade that breaks the application, so the gate after patching fails and the run rolls cloudflared back.
STANDIN = {"healthy": "up", "pending": "up", "broken": "down", "regress": "breaks-on-upgrade"}
PREFIX = "fleet-test-"

pytestmark = pytest.mark.integration


def podman(*args, check=True, **kwargs):
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True, **kwargs)


def deb(version):
    return SHARED / f"cloudflared_{version}_amd64.deb"


def build_repository(repo: Path):
    """A flat apt repository (Packages index beside the .debs) holding both cloudflared releases."""
    repo.mkdir()
    stanzas = []
    for version in (OLD, NEW):
        target = repo / deb(version).name
        shutil.copyfile(deb(version), target)
        fields = subprocess.run(["dpkg-deb", "-f", str(target)], check=True, capture_output=True, text=True).stdout
        sha = subprocess.run(["sha256sum", str(target)], check=True, capture_output=True, text=True).stdout.split()[0]
        index = f"\nFilename: ./{target.name}\nSize: {target.stat().st_size}\nSHA256: {sha}\n"
        stanzas.append(fields.rstrip("\n") + index)
    (repo / "Packages").write_text("\n".join(stanzas))


def start_clinic(name: str, repo: Path, version: str, network: str = NETWORK, standin: str = "up"):
    """A clinic host: a container with cloudflared `version`, the local repository as an apt source and OSCAR's
    stand-in (any local HTTP server answering on Tomcat's port) as a systemd unit, as `standin` says (STANDIN)."""
    podman("run", "-d", "--name", name, "--hostname", name, "--network", network, "--systemd=always", IMAGE,
           "/sbin/init")
    podman("cp", str(repo), f"{name}:/srv/fleet-repo")
    script = (
        "for i in $(seq 50); do systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded' && break;"
        " sleep 0.2; done; "
        f"dpkg -i /srv/fleet-repo/{deb(version).name} >/dev/null && "
        "echo 'deb [trusted=yes] file:/srv/fleet-repo ./' > /etc/apt/sources.list.d/fleet-test.list")
    if standin == "up":
        script += (" && systemd-run --unit=oscar-standin --property=Restart=always "
                   "python3 -m http.server 8080 --bind 127.0.0.1 >/dev/null 2>&1")
    elif standin == "breaks-on-upgrade":
        script += (" && systemd-run --unit=oscar-standin sh -c 'python3 -m http.server 8080 --bind 127.0.0.1 & "
                   f"while cloudflared --version | grep -q {OLD}; do sleep 1; done; kill $!' >/dev/null 2>&1")
    podman("exec", name, "sh", "-c", script)


def write_inventory(base: Path, clinic: str, host: str = ""):
    inv = base / clinic
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    clinic:\n      children:\n        oscar_servers:\n          hosts:\n"
        f"            {host or PREFIX + clinic}:\n"
        # The test bed's pipelined podman connection (ansible.cfg, which scripts/fleet.py hands to ansible-runner).
        "  vars:\n    ansible_connection: podman_pipelined\n"
        "    ansible_python_interpreter: /usr/bin/python3\n")
    (inv / "group_vars" / "all" / "patch.yml").write_text(
        f"clinic_name: {clinic}\n"
        "cloudflared_version: latest\n"
        "patch_tomcat_url: http://127.0.0.1:8080/\n"
        "patch_health_extra_units: [oscar-standin.service]\n"
        "patch_health_settle_seconds: 10\n")


def fleet(inventories: Path, out: Path, *extra):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "fleet.py"), str(ROOT / "playbooks" / "patch.yml"),
                           "--inventories", str(inventories), "--out", str(out), "--parallel", "4",
                           "--timeout", "900", *(["--", *extra] if extra else [])],
                          env=env, capture_output=True, text=True, check=False, timeout=1800)


def installed(clinic):
    return podman("exec", PREFIX + clinic, "dpkg-query", "-W", "-f=${Version}", "cloudflared").stdout


@pytest.fixture(scope="module")
def fleet_bed(tmp_path_factory):
    if not shutil.which("podman") or podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.skip(f"podman or {IMAGE} missing: run scripts/testbed.sh")
    if not deb(OLD).exists() or not deb(NEW).exists():
        pytest.skip(f"{SHARED} (the real cloudflared packages) is not there")
    tmp = tmp_path_factory.mktemp("fleet")
    build_repository(tmp / "repo")
    for clinic in CLINICS:
        podman("rm", "-f", PREFIX + clinic, check=False)
    podman("network", "rm", "-f", NETWORK, check=False)
    podman("network", "create", "--subnet", "10.89.214.0/24", NETWORK)
    try:
        for clinic, version in CLINICS.items():
            start_clinic(PREFIX + clinic, tmp / "repo", version, standin=STANDIN[clinic])
            write_inventory(tmp / "inventories", clinic)
        yield tmp
    finally:
        for clinic in CLINICS:
            podman("rm", "-f", PREFIX + clinic, check=False)
        podman("network", "rm", "-f", NETWORK, check=False)


def report(out: Path):
    data = json.loads((out / "fleet-report.json").read_text())
    return {c["clinic"]: c for c in data["clinics"]}, data


def test_fleet_patch_check_then_apply_then_nothing(fleet_bed):
    inventories = fleet_bed / "inventories"

    # Check mode: lists what would be installed, with versions, and installs nothing.
    checked = fleet(inventories, fleet_bed / "run-check", "--check", "--diff")
    assert checked.returncode == 1, checked.stdout + checked.stderr  # the broken clinic fails its gate
    log = (fleet_bed / "run-check" / "pending.log").read_text()
    assert f"cloudflared {OLD} {NEW}" in log, log[-3000:]
    assert installed("pending") == OLD

    first = fleet(inventories, fleet_bed / "run-1")
    assert first.returncode == 1, first.stdout + first.stderr
    clinics, data = report(fleet_bed / "run-1")
    assert [c["clinic"] for c in data["clinics"]] == ["broken", "regress", "healthy", "pending"]  # failed first
    assert clinics["broken"]["result"] == "unhealthy: left alone"
    assert "tomcat" in clinics["broken"]["hosts"][0]["failed_checks"]
    assert clinics["pending"]["result"] == "ok" and clinics["healthy"]["result"] == "ok"
    assert clinics["pending"]["hosts"][0]["patch"]["outcome"] == "patched"
    assert clinics["pending"]["hosts"][0]["patch"]["upgraded"] == ["cloudflared"]
    assert clinics["healthy"]["hosts"][0]["patch"]["outcome"] == "up to date"
    assert clinics["healthy"]["changed"] == 0
    assert clinics["healthy"]["hosts"][0]["versions"]["cloudflared"] == NEW
    assert clinics["broken"]["hosts"][0]["versions"]["cloudflared"] == OLD
    assert clinics["pending"]["last_successful_patch"] and not clinics["broken"]["last_successful_patch"]
    # The upgrade broke the regress clinic's application: the gate after failed, cloudflared was put back.
    assert clinics["regress"]["result"] == "failed"
    regress = clinics["regress"]["hosts"][0]["patch"]
    assert regress["outcome"] == "failed" and regress["rolled_back"][0] == f"cloudflared {OLD}", regress
    assert "health gate after patching failed" in regress["error"] and "tomcat" in regress["error"]
    assert installed("regress") == OLD
    assert installed("pending") == NEW
    assert installed("healthy") == NEW
    assert installed("broken") == OLD  # untouched
    page = (fleet_bed / "run-1" / "fleet-report.html").read_text()
    assert page.index('data-clinic="broken"') < page.index('data-clinic="healthy"')
    assert "unhealthy: left alone" in first.stdout

    second = fleet(inventories, fleet_bed / "run-2")
    clinics, _data = report(fleet_bed / "run-2")
    assert clinics["pending"]["changed"] == 0, (fleet_bed / "run-2" / "pending.log").read_text()[-3000:]
    assert clinics["healthy"]["changed"] == 0
    assert clinics["pending"]["hosts"][0]["patch"]["outcome"] == "up to date"
    assert clinics["pending"]["hosts"][0]["versions"]["cloudflared"] == NEW
    assert clinics["broken"]["result"] == "unhealthy: left alone"
    assert installed("broken") == OLD
    # After the failed patch the regress clinic's application is down: now it is left alone, not patched again.
    assert clinics["regress"]["result"] == "unhealthy: left alone"
    assert installed("regress") == OLD
    assert second.returncode == 1
