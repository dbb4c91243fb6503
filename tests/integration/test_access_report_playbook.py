"""playbooks/access_report.yml end to end on this machine: a real gateway store (the gateway's own code signed people
in and failed them), the real oscar-gateway-admin export on the "gateway host" (a local connection), the report
written on the controller as HTML, CSV and a PDF printed by Chromium. The PDF is checked page by page as images
(pdftoppm) and text (pdftotext); a real browser (Debian's Chromium driven by Playwright) opens the HTML. Then the same
playbook through the fleet runner for two clinics, one of them with an altered audit log."""

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
sys.path.insert(0, str(ROOT / "scripts"))
from gwtest import GATEWAY_FILES, PASSWORD, Client, csrf_of, enroll_totp, login, make_gateway, set_password  # noqa: E402

from tests.fake_cloudflare.harness import run_playbook  # noqa: E402

pytestmark = pytest.mark.integration
PLAYBOOK = ROOT / "playbooks" / "access_report.yml"
PERIOD_NOW = None  # set by the fixture: the current UTC month, the one the gateway's records fall in
CHROMIUM = "/usr/bin/chromium"


def ensure_debian_package(binary, package):
    """Debian's ``package`` (for ``binary``), installed when missing and root, as the browser tests do."""
    if shutil.which(binary):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("%s (Debian package %s) is not installed and cannot be installed here" % (binary, package))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "--no-install-recommends", package], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=900)
        if shutil.which(binary):
            return
    raise RuntimeError("apt-get could not install %s" % package)


def clinic_inventory(base, name, gateway_dir):
    """A clinic inventory whose gateway host is this machine, its oscar-gateway-admin the real admin code."""
    admin = gateway_dir / "oscar-gateway-admin"
    admin.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m oscar_gateway.admin --config %s \"$@\"\n"
                     % (GATEWAY_FILES, sys.executable, gateway_dir / "config.json"))
    admin.chmod(0o700)
    inv = base / name
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "wireguard_servers").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    clinic:\n      children:\n"
        "        front_door:\n          hosts:\n            oscar:\n"
        "        wireguard_servers:\n          hosts:\n            pi:\n"
        "  vars:\n    ansible_connection: local\n    ansible_become: false\n"
        "    ansible_python_interpreter: %s\n" % sys.executable)
    (inv / "group_vars" / "all" / "clinic.yml").write_text(
        "clinic_name: %s Family Health\naccess_report_admin_command: %s\n" % (name.title(), admin))
    (inv / "group_vars" / "wireguard_servers" / "wireguard.yml").write_text(
        "wireguard_interfaces:\n  - {name: wg0, address: 10.90.1.1/24, listen_port: 51820}\n"
        "wireguard_peers:\n  - {name: dr-smith-laptop, owner: Dr. Ann Smith, address: 10.90.1.10}\n")
    return inv


def a_month_of_use(tmp):
    gateway = make_gateway(tmp)
    set_password(gateway, "drsmith")
    login(Client(gateway, ip="10.90.1.10"), gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    guesser = Client(gateway, ip="192.0.2.77")
    page = guesser.get("/_gateway/login", query="next=/oscar/")
    guesser.post("/_gateway/login", {"username": "drsmith", "password": PASSWORD + "x", "csrf": csrf_of(page)})
    return gateway


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    import datetime

    global PERIOD_NOW
    PERIOD_NOW = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    ensure_debian_package("pdftoppm", "poppler-utils")
    ensure_debian_package("chromium", "chromium")
    base = tmp_path_factory.mktemp("access-report")
    inventories = base / "inventories"
    for name in ("alpha", "bravo"):
        (base / name).mkdir()
        gateway = a_month_of_use(base / name)
        clinic_inventory(inventories, name, base / name)
        if name == "bravo":  # someone with the file rewrote a record
            conn = sqlite3.connect(gateway.cfg["database"])
            conn.execute("DROP TRIGGER audit_no_update")
            conn.execute("UPDATE audit SET ip = '127.0.0.1' WHERE event = 'login_failed'")
            conn.commit()
            conn.close()
    return base


def test_check_mode_writes_nothing(bed):
    out = bed / "check"
    proc, recap = run_playbook(PLAYBOOK, bed / "inventories" / "alpha", args=[
        "-e", "period=%s" % PERIOD_NOW, "-e", "access_report_root=%s" % out, "--check"])
    assert recap["oscar"]["failed"] == 0, proc.stdout + proc.stderr
    assert "access-report-%s.html" % PERIOD_NOW in proc.stdout and not out.exists()


def test_a_bad_period_is_named(bed):
    proc, recap = run_playbook(PLAYBOOK, bed / "inventories" / "alpha", args=["-e", "period=2026-13"])
    assert recap["oscar"]["failed"] == 1 and "period: 2026-13 is not a month like 2026-11" in proc.stdout


@pytest.fixture(scope="module")
def report(bed):
    out = bed / "reports"
    proc, recap = run_playbook(PLAYBOOK, bed / "inventories" / "alpha", args=[
        "-e", "period=%s" % PERIOD_NOW, "-e", "access_report_root=%s" % out])
    assert recap["oscar"]["failed"] == 0, proc.stdout + proc.stderr
    assert "Audit hash chain: intact" in proc.stdout
    return out / "alpha" / PERIOD_NOW


def test_html_csv_and_pdf_are_written_private(report):
    names = sorted(p.name for p in report.iterdir())
    assert "access-report-%s.html" % PERIOD_NOW in names and "access-report-%s.pdf" % PERIOD_NOW in names
    assert "%s-sessions.csv" % PERIOD_NOW in names and "%s-failed_signins.csv" % PERIOD_NOW in names
    assert oct(report.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in report.iterdir())
    with open(report / ("%s-sessions.csv" % PERIOD_NOW), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["account"], r["address"], r["way_in"]) for r in rows] == [("drsmith", "10.90.1.10", "WireGuard")]
    with open(report / ("%s-failed_signins.csv" % PERIOD_NOW), newline="") as handle:
        assert [(r["account"], r["address"]) for r in csv.DictReader(handle)] == [("drsmith", "192.0.2.77")]


def _gray_image(path):
    """(width, height, pixels) of a binary PGM, what pdftoppm -gray writes."""
    data = path.read_bytes()
    fields, offset = [], 0
    while len(fields) < 4:
        while data[offset:offset + 1].isspace():
            offset += 1
        end = offset
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[offset:end])
        offset = end
    assert fields[0] == b"P5"
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[offset + 1:offset + 1 + width * height]


def test_pdf_pages_as_images_carry_the_report(report, tmp_path):
    pdf = report / ("access-report-%s.pdf" % PERIOD_NOW)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 1
    subprocess.run(["pdftoppm", "-gray", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.pgm"))
    assert len(images) == pages
    text_of_all = ""
    for number, image in enumerate(images, start=1):
        width, height, pixels = _gray_image(image)
        assert width > 600 and height > 400  # A4 landscape at 60 dpi
        dark = sum(1 for value in pixels if value < 128)
        assert dark > 0.002 * width * height, "page %d is blank" % number
        text = subprocess.run(["pdftotext", "-layout", "-f", str(number), "-l", str(number), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert text.strip(), "page %d has no text" % number
        text_of_all += text
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "Remote access report %s - Alpha Family Health" % PERIOD_NOW in first
    for expected in ("Remote sessions (1)", "drsmith", "10.90.1.10", "WireGuard", "Failed sign-ins and lockouts (1)",
                     "192.0.2.77", "Audit hash chain", "intact"):
        assert expected in text_of_all, expected


def test_a_real_browser_opens_the_html_report(report):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright not installed")
    html = report / ("access-report-%s.html" % PERIOD_NOW)
    requested = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("request", lambda req: requested.append(req.url))
            page.goto(html.as_uri(), wait_until="load")
            assert page.title() == "Remote access report %s - Alpha Family Health" % PERIOD_NOW
            assert page.locator("#chain-verdict").inner_text() == "intact"
            cells = page.locator("#table-sessions tbody tr td").all_inner_texts()
            assert "drsmith" in cells and "WireGuard" in cells and "10.90.1.10" in cells
            assert page.locator("#table-failed_signins tbody tr").count() == 1
            assert page.locator("h2").count() == 9
            out = ROOT / "tests" / "output" / "access_report"
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / "report-desktop.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert requested == [html.as_uri()]  # the page alone: nothing else fetched


def test_every_clinic_through_the_fleet_runner(bed):
    out = bed / "fleet-reports"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fleet.py"), str(PLAYBOOK), "--inventories", str(bed / "inventories"),
         "--out", str(bed / "fleet"), "--parallel", "2", "--",
         "-e", "period=%s" % PERIOD_NOW, "-e", "access_report_root=%s" % out],
        capture_output=True, text=True, cwd=str(ROOT), timeout=600, check=False)
    # bravo's audit log was altered: its run fails and says so; alpha's report is written all the same.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (out / "alpha" / PERIOD_NOW / ("access-report-%s.pdf" % PERIOD_NOW)).exists()
    bravo = (out / "bravo" / PERIOD_NOW / ("access-report-%s.html" % PERIOD_NOW)).read_text()
    assert "BROKEN" in bravo
    events = (bed / "fleet" / "artifacts" / "bravo" / "stdout").read_text()
    assert "audit hash chain is BROKEN on oscar" in events
