"""A real browser (Debian's Chromium, driven by Playwright) signs in with a password and TOTP through
nginx, on a phone-sized and a desktop viewport; goes through approvals by email (a locum asks, the clinic
manager gets the mail from a real SMTP server, aiosmtpd on loopback, follows its link, signs in with TOTP and
approves, and the locum's waiting page moves on to OSCAR; a refusal and an expiry too); and signs in with a passkey on
Chromium's virtual authenticator (DevTools' WebAuthn domain). Screenshots go to tests/output/gateway/.

Chromium comes from Debian (``apt-get install chromium``, installed here when missing and root);
Playwright only drives it: ``playwright install`` is never run.
"""

import copy
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pyotp
import pytest
from gwtest import PASSWORD, POLICY, USERS
from smtp_receiver import Receiver
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
    receiver = Receiver().start()
    configs = {"sa": gateway_config(tmp, **approvals_by_email(receiver.port))}
    configs["sa"]["access_policy"]["policies"].insert(-1, KEYS_ONLY)  # /oscar/billing: security keys only
    running = Stack(tmp / "stack", configs).start()
    running.configs = configs
    running.receiver = receiver
    with playwright_api.sync_playwright() as driver:
        # emr.clinic.test:443 is the loopback nginx: the browser sees the real host name and port.
        rules = "--host-resolver-rules=MAP %s:443 127.0.0.1:%d" % (HOST, running.ports["sa"])
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, rules], headless=True)
        try:
            yield running, browser
        finally:
            browser.close()
            running.stop()
            receiver.stop()


def approvals_by_email(smtp_port):
    """The clinic's settings for approvals by email: locums need the manager's approval, mail goes to the loopback
    SMTP server (on loopback, so without STARTTLS), and the waiting page looks again every 2 seconds."""
    policy = copy.deepcopy(POLICY)
    policy["users"] += [{"name": "locum2", "email": "locum2@locums.test", "roles": ["physician"]},
                        {"name": "manager", "email": "manager@clinic.test", "roles": ["manager"]}]
    staff = [p["name"] for p in policy["policies"]].index("staff")
    policy["policies"].insert(staff, {
        "name": "locums", "decision": "allow", "paths": ["/oscar"], "targets": ["gateway"],
        "include": {"users": ["locum", "locum2"]}, "session_duration": "10h",
        "purpose_justification": {"required": True, "prompt": "Which clinic day are you covering?"},
        "approval": {"required": True, "groups": [{"name": "clinic manager", "emails": ["manager@clinic.test"]}]}})
    users = [*copy.deepcopy(USERS),
             {"username": "locum2", "display_name": "Dr. Second Locum", "email": "locum2@locums.test",
              "role": "physician"},
             {"username": "manager", "display_name": "Clinic Manager", "email": "manager@clinic.test",
              "role": "manager"}]
    return {"access_policy": policy, "users": users, "approvals": {"waiting_refresh_seconds": 2},
            "mail": {"relay_host": "127.0.0.1", "relay_port": smtp_port, "starttls": False,
                     "from_address": "oscar-access@clinic.test"}}


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
        sign_in(page, username, secret)
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


# An OSCAR page the stand-in answers with what reached it (its schedule page sends a visitor without an OSCAR session
# on to its own login).
TARGET = "/oscar/demographic/search.jsp"


def sign_in(page, username, secret):
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/_gateway/mfa" in page.url, page.content()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_load_state()


def steady(action, tries=3):
    """``action()`` on a page that reloads itself (the waiting page): a reload in the middle is tried again."""
    from playwright.sync_api import Error

    for attempt in range(tries):
        try:
            return action()
        except Error:
            if attempt == tries - 1:
                raise
    return None


def ask_for_access(browser, stack, username, reason):
    """A locum signs in, gives the purpose and presses Request access; returns (context, page) on the waiting page."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, ignore_https_errors=True, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.goto("https://%s%s" % (HOST, TARGET), wait_until="load")
    sign_in(page, username, give_totp(stack.configs["sa"], username))
    assert "/_gateway/justify" in page.url, page.content()
    assert "Which clinic day are you covering?" in page.content()
    page.fill("#reason", reason)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/_gateway/approval?" in page.url, page.content()
    assert "clinic manager" in page.content()
    page.click("text=Request access")
    page.wait_for_selector("text=The approvers have been emailed")
    return context, page


def test_a_locum_is_let_in_after_the_manager_approves_from_the_mail(browser_stack):
    stack, browser = browser_stack
    receiver = stack.receiver
    locum, waiting = ask_for_access(browser, stack, "locum", "Covering Dr. Smith's Tuesday clinic")
    try:
        steady(lambda: waiting.screenshot(path=str(OUTPUT / "approval-waiting.png"), full_page=True))
        mail = receiver.wait_until(lambda r, m: r == ["manager@clinic.test"] and "Dr. Locum asks" in m["Subject"])
        text = mail.get_content()
        for fact in ("Dr. Locum (user locum, locum@locums.test)", 'policy "locums"',
                     "Covering Dr. Smith's Tuesday clinic", "From address:  127.0.0.1", "access for 10 hours"):
            assert fact in text, (fact, text)
        (link,) = re.findall(r"https://\S+", text)
        assert re.fullmatch(r"https://emr\.clinic\.test/_gateway/approvals\?request=\d+", link), link

        manager = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
        try:
            page = manager.new_page()
            page.goto(link, wait_until="load")
            assert "/_gateway/login" in page.url  # the link opens the page; signing in comes first
            sign_in(page, "manager", give_totp(stack.configs["sa"], "manager"))
            assert page.url == link, page.url
            row = page.locator("tr", has_text="Dr. Locum")
            assert "Covering Dr. Smith's Tuesday clinic" in row.inner_text() and "127.0.0.1" in row.inner_text()
            page.screenshot(path=str(OUTPUT / "approval-manager.png"), full_page=True)
            row.locator("button", has_text="Approve").click()
            page.wait_for_selector("text=approved")
            assert page.locator("h2", has_text="Access granted now").count() == 1
        finally:
            manager.close()

        # The locum's waiting page moves on by itself to the OSCAR page asked for.
        waiting.wait_for_url("**" + TARGET, timeout=20000)
        assert '"reached": "oscar-standin"' in waiting.content()
        seen = {k.lower(): v for k, v in stack.requests_seen()[-1]["headers"].items()}
        assert seen["remote-user"] == "locum"
        waiting.screenshot(path=str(OUTPUT / "approval-granted.png"), full_page=True)
        told = receiver.wait_until(lambda r, m: r == ["locum@locums.test"] and "approved" in m["Subject"])
        assert "was approved by Clinic Manager" in told.get_content()
    finally:
        locum.close()


def test_a_refusal_and_an_expiry_reach_the_locums_page_and_mailbox(browser_stack):
    stack, browser = browser_stack
    receiver = stack.receiver
    locum, waiting = ask_for_access(browser, stack, "locum2", "Covering the walk-in clinic on Saturday")
    manager = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    try:
        page = manager.new_page()
        page.goto("https://%s/_gateway/approvals" % HOST, wait_until="load")
        sign_in(page, "manager", give_totp(stack.configs["sa"], "manager"))
        page.locator("tr", has_text="Dr. Second Locum").locator("button", has_text="Deny").click()
        page.wait_for_selector("text=denied")
        # The waiting page shows the refusal by itself, and offers to ask again.
        waiting.wait_for_selector("text=was denied by Clinic Manager", timeout=20000)
        receiver.wait_until(lambda r, m: r == ["locum2@locums.test"] and "was denied" in m["Subject"])

        # Asked again, and nobody decides: the request expires (its time set past here, as an hour passing would).
        waiting.click("text=Request access")
        waiting.wait_for_selector("text=The approvers have been emailed")
        conn = sqlite3.connect(stack.configs["sa"]["database"])
        with conn:
            conn.execute("UPDATE approval_requests SET expires = ? WHERE username = 'locum2' AND status = 'pending'",
                         (time.time() - 1,))
        conn.close()
        waiting.wait_for_selector("text=expired: nobody decided in time", timeout=20000)
        told = receiver.wait_until(lambda r, m: r == ["locum2@locums.test"] and "expired" in m["Subject"])
        assert "expired: nobody decided in time" in told.get_content()
    finally:
        manager.close()
        locum.close()


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
