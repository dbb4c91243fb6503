"""A real browser (Debian's Chromium, driven by Playwright) signs in with a password and TOTP through
nginx, on a phone-sized and a desktop viewport, and with a passkey on Chromium's virtual authenticator (DevTools'
WebAuthn domain). Screenshots go to tests/output/gateway/.

Chromium comes from Debian (``apt-get install chromium``, installed here when missing and root);
Playwright only drives it: ``playwright install`` is never run.
"""

import os
import shutil
import sqlite3
import subprocess

import pyotp
import pytest
from gwtest import PASSWORD
from stack import HOST, ROOT, Stack, ensure_nginx
from test_nginx_integration import gateway_config, give_totp
from test_passkeys import KEYS_ONLY

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = ROOT / "tests" / "output" / "gateway"


def ensure_chromium():
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("Debian's chromium is not installed and cannot be installed here")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=900)
        if os.path.exists(CHROMIUM):
            return CHROMIUM
    raise RuntimeError("apt-get could not install chromium")


@pytest.fixture(scope="module")
def browser_stack(tmp_path_factory):
    try:
        ensure_nginx()
        ensure_chromium()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright not installed")
    tmp = tmp_path_factory.mktemp("browser")
    configs = {"sa": gateway_config(tmp)}
    configs["sa"]["access_policy"]["policies"].insert(-1, KEYS_ONLY)  # /oscar/billing: security keys only
    running = Stack(tmp / "stack", configs).start()
    running.configs = configs
    with playwright_api.sync_playwright() as driver:
        # emr.clinic.test:443 is the loopback nginx: the browser sees the real host name and port.
        rules = "--host-resolver-rules=MAP %s:443 127.0.0.1:%d" % (HOST, running.ports["sa"])
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, rules], headless=True)
        try:
            yield running, browser
        finally:
            browser.close()
            running.stop()


@pytest.mark.parametrize("viewport, name", [({"width": 390, "height": 844}, "phone"),
                                            ({"width": 1280, "height": 800}, "desktop")])
def test_login_with_totp_in_chromium(browser_stack, viewport, name):
    stack, browser = browser_stack
    username = "drsmith" if name == "phone" else "reception"
    secret = give_totp(stack.configs["sa"], username)
    context = browser.new_context(
        viewport=viewport, ignore_https_errors=True, is_mobile=name == "phone", has_touch=name == "phone",
        device_scale_factor=2 if name == "phone" else 1)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto("https://%s/oscar/demographic/search.jsp" % HOST, wait_until="load")
        assert "/_gateway/login" in page.url
        assert page.title() == "Sign in - Lakeside Family Clinic"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / ("login-%s.png" % name)), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], "the login page scrolls sideways"
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/_gateway/mfa" in page.url, page.content()
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        page.wait_for_url("**/oscar/demographic/search.jsp")
        assert '"reached": "oscar-standin"' in page.content()
        # Header names compared without case: the role's nginx speaks HTTP/2 to Chromium (lower-case names) and
        # passes the browser's headers on as it got them.
        seen = {k.lower(): v for k, v in stack.requests_seen()[-1]["headers"].items()}
        assert seen["remote-user"] == username
        assert seen.get("sec-fetch-mode") == "navigate"
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["__Host-oscar-gw"]
        assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_totp_enrolment_with_qr_code_in_chromium(browser_stack):
    stack, browser = browser_stack
    context = browser.new_context(viewport={"width": 390, "height": 844}, ignore_https_errors=True, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto("https://%s/oscar/" % HOST, wait_until="load")
        page.fill("#username", "privacy")  # no authenticator yet: enrolment follows the password
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/_gateway/enroll" in page.url, page.content()
        assert page.locator(".qr svg").count() == 1
        page.screenshot(path=str(OUTPUT / "enroll-phone.png"), full_page=True)
        secret = page.inner_text("code.secret").replace(" ", "")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("ol.codes li").count() == 10
        page.screenshot(path=str(OUTPUT / "recovery-codes-phone.png"), full_page=True)
        page.click("text=Continue to OSCAR")
        page.wait_for_url("**/oscar/")
        assert stack.requests_seen()[-1]["headers"]["Remote-User"] == "privacy"
    finally:
        context.close()


def test_passkey_enrolment_sign_in_policy_and_removal_in_chromium(browser_stack):
    stack, browser = browser_stack
    database = stack.configs["sa"]["database"]
    secret = give_totp(stack.configs["sa"], "drsmith")
    context = browser.new_context(viewport={"width": 390, "height": 844}, ignore_https_errors=True, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    authenticator = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        # Password and TOTP are not enough where the policy takes security keys only: the sign-in with a key.
        page.goto("https://%s/oscar/billing/invoice.jsp" % HOST, wait_until="load")
        page.fill("#username", "drsmith")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/_gateway/mfa")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("form:not([data-webauthn]) button[type=submit]")
        page.wait_for_url("**/_gateway/passkey?next=*")
        page.screenshot(path=str(OUTPUT / "passkey-needed-phone.png"), full_page=True)
        assert not [r for r in stack.requests_seen() if r["path"].startswith("/oscar/billing")]

        # Adding a passkey, with the TOTP session.
        page.goto("https://%s/_gateway/passkeys" % HOST, wait_until="load")
        page.fill("#name", "office key")
        page.click("#passkey-button")
        page.wait_for_selector("text=Passkey added.")
        page.screenshot(path=str(OUTPUT / "passkeys-phone.png"), full_page=True)
        credentials = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(credentials) == 1 and credentials[0]["isResidentCredential"]

        # The step up with it, to the page that takes security keys only.
        page.goto("https://%s/oscar/billing/invoice.jsp" % HOST, wait_until="load")
        assert "/_gateway/passkey" in page.url
        page.click("#passkey-button")
        page.wait_for_url("**/oscar/billing/invoice.jsp")
        assert stack.requests_seen()[-1]["headers"]["Remote-User"] == "drsmith"

        # The account chooses the passkey alone; a fresh browser signs in with it, no password.
        page.goto("https://%s/_gateway/passkeys" % HOST, wait_until="load")
        page.select_option("#mode", "only")
        page.click("form:not([data-webauthn]) button.secondary")
        page.wait_for_selector("text=Saved: you sign in with a passkey alone")
        context.clear_cookies()
        page.goto("https://%s/oscar/" % HOST, wait_until="load")
        page.click("text=Sign in with a passkey")
        page.wait_for_url("**/_gateway/passkey?next=*")
        page.screenshot(path=str(OUTPUT / "passkey-sign-in-phone.png"), full_page=True)
        page.click("#passkey-button")
        page.wait_for_url("**/oscar/")
        assert stack.requests_seen()[-1]["headers"]["Remote-User"] == "drsmith"
        conn = sqlite3.connect(database)
        try:
            methods = conn.execute("SELECT amr FROM sessions WHERE username = 'drsmith' AND revoked_at IS NULL"
                                   " ORDER BY created DESC LIMIT 1").fetchone()[0]
            assert methods == '["hwk", "mfa"]'
        finally:
            conn.close()

        # Removal: the account has no key left and signs in with password and second step again.
        page.goto("https://%s/_gateway/passkeys" % HOST, wait_until="load")
        page.click("button.danger")
        page.wait_for_selector("text=Passkey removed.")
        conn = sqlite3.connect(database)
        try:
            assert conn.execute("SELECT COUNT(*) FROM passkeys WHERE username = 'drsmith'").fetchone()[0] == 0
            mode = conn.execute("SELECT sign_in FROM passkey_accounts WHERE username = 'drsmith'").fetchone()[0]
            assert mode == "off"
        finally:
            conn.close()
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()
