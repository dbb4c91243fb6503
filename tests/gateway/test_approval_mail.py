"""Approvals by email: the gateway (in process) sends through its real smtplib client to a real SMTP server on loopback
(aiosmtpd, smtp_receiver.py). The mail's content, the link that only opens the approvals page (sign-in first), the
requester told the decision, revocation, expiry, the outbox's retries with backoff, permanent refusals, STARTTLS
required and used, the relay's login from its own file, and the admin command's listing."""

import json
import os
import re
import time

import pytest
from gwtest import ORIGIN, Client, csrf_of, enroll_totp, login, make_gateway, set_password
from smtp_receiver import Receiver, free_port
from test_standalone import _justify, events, form_token

PATH = "/oscar/sensitive/chart.jsp"
SENDER = "oscar-gateway@clinic.test"


def mail_settings(port, **extra):
    settings = {"relay_host": "127.0.0.1", "relay_port": port, "starttls": False, "from_address": SENDER,
                "retry_seconds": 60, "retry_max_seconds": 600, "max_attempts": 3}
    settings.update(extra)
    return settings


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def mailing(tmp_path, receiver):
    gateway = make_gateway(tmp_path, mail=mail_settings(receiver.port))
    for name in ("drsmith", "privacy", "reception"):
        set_password(gateway, name)
    return gateway


def ask(gateway, client, username="drsmith"):
    """Sign in, give the purpose and ask for approval of the sensitive policy; returns the request's row."""
    login(client, gateway, username, enroll_totp(gateway, username))
    _justify(client, "sensitive", PATH)
    page = client.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    client.post("/_gateway/approval", {"policy": "sensitive", "next": PATH, "csrf": csrf_of(page)})
    return gateway.store.one("SELECT * FROM approval_requests ORDER BY id DESC LIMIT 1")


def link_in(message):
    found = re.findall(r"https://\S+", message.get_content())
    assert len(found) == 1, found
    return found[0]


def test_the_approver_is_mailed_signs_in_from_the_link_and_decides_there(mailing, receiver):
    requester, approver = Client(mailing), Client(mailing, ip="198.51.100.9")
    row = ask(mailing, requester)
    waiting = requester.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    assert "The approvers have been emailed" in waiting.text
    assert mailing.outbox.deliver_due() == (1, 0)
    (rcpt, message, _tls), = receiver.wait_for(1)
    assert rcpt == ["privacy@clinic.test"]
    assert message["From"] == "Lakeside Family Clinic <%s>" % SENDER
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == "[Lakeside Family Clinic] Access request #%d: Dr. Ann Smith asks for sensitive" \
        % row["id"]
    text = message.get_content()
    for fact in ("Dr. Ann Smith (user drsmith, drsmith@clinic.test)", 'policy "sensitive"',
                 "Following up a privacy complaint", "From address:  198.51.100.7", "access for 8 hours"):
        assert fact in text, fact
    link = link_in(message)
    # The link opens the page and nothing else: it carries no decision, and signed out it asks for a sign-in first.
    assert link == ORIGIN + "/_gateway/approvals?request=%d" % row["id"]
    response = approver.get("/_gateway/approvals", query=link.split("?", 1)[1])
    assert response.status == 303 and "/_gateway/login?next=" in response.header("Location")
    assert mailing.store.approval_request(row["id"])["status"] == "pending"
    signed_in = login(approver, mailing, "privacy", enroll_totp(mailing, "privacy"),
                      next_path="/_gateway/approvals?request=%d" % row["id"])
    assert signed_in.header("Location") == link  # back on the approvals page, now with MFA
    page = approver.get("/_gateway/approvals", query="request=%d" % row["id"])
    assert "Following up a privacy complaint" in page.text and "198.51.100.7" in page.text
    approver.post("/_gateway/approvals", {"request_id": row["id"], "decision": "approve", "csrf": csrf_of(page)})
    assert requester.auth(PATH).status == 200
    # The requester is told, by mail and on the page they asked from.
    mailing.outbox.deliver_due()
    (told,) = receiver.to("drsmith@clinic.test")
    assert told["Subject"].endswith("Your access request #%d was approved" % row["id"])
    assert "was approved by Privacy Officer. You have access until" in told.get_content()
    page = requester.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    assert page.status == 303 and page.header("Location") == ORIGIN + PATH
    assert [e["event"] for e in events(mailing) if e["event"].startswith("mail_")] == [
        "mail_queued", "mail_sent", "mail_queued", "mail_sent"]
    # Sent mail keeps no body (the purpose stays in the audit log only).
    assert [r["body"] for r in mailing.store.all("SELECT body FROM mail_outbox")] == ["", ""]


def test_a_refusal_is_mailed_and_shown_and_the_approver_can_revoke_a_grant(mailing, receiver):
    requester, approver = Client(mailing), Client(mailing)
    row = ask(mailing, requester)
    login(approver, mailing, "privacy", enroll_totp(mailing, "privacy"))
    page = approver.get("/_gateway/approvals")
    approver.post("/_gateway/approvals", {"request_id": row["id"], "decision": "deny", "csrf": csrf_of(page)})
    mailing.outbox.deliver_due()
    (told,) = receiver.to("drsmith@clinic.test")
    assert "was denied by Privacy Officer" in told.get_content()
    page = requester.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    assert "was denied by Privacy Officer" in page.text and "Request access" in page.text

    second = ask(mailing, requester)
    page = approver.get("/_gateway/approvals")
    approver.post("/_gateway/approvals", {"request_id": second["id"], "decision": "approve", "csrf": csrf_of(page)})
    assert requester.auth(PATH).status == 200
    page = approver.get("/_gateway/approvals")
    assert 'id="grant-%d"' % second["id"] in page.text
    # Someone who is not an approver of the policy cannot revoke it.
    other = Client(mailing)
    login(other, mailing, "reception", enroll_totp(mailing, "reception"))
    refused = other.post("/_gateway/approvals", {"request_id": second["id"], "decision": "revoke",
                                                 "csrf": form_token(mailing, other, "approvals")})
    assert "not an approver" in refused.text and requester.auth(PATH).status == 200
    done = approver.post("/_gateway/approvals", {"request_id": second["id"], "decision": "revoke",
                                                 "csrf": csrf_of(page)})
    assert "revoked" in done.text
    assert requester.auth(PATH).status == 401
    page = requester.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    assert "was revoked by Privacy Officer" in page.text
    assert events(mailing, "approval_revoked")[0]["username"] == "drsmith"
    mailing.outbox.deliver_due()
    assert "was revoked by Privacy Officer" in receiver.to("drsmith@clinic.test")[-1].get_content()


def test_a_request_nobody_decides_expires_and_the_requester_is_told(mailing, receiver):
    requester = Client(mailing)
    row = ask(mailing, requester)
    mailing.store.execute("UPDATE approval_requests SET expires = ? WHERE id = ?", (time.time() - 1, row["id"]))
    mailing.approvals.expire_requests()  # what the outbox worker runs every few seconds
    assert mailing.store.approval_request(row["id"])["status"] == "expired"
    mailing.outbox.deliver_due()
    (told,) = receiver.to("drsmith@clinic.test")
    assert "expired: nobody decided in time" in told.get_content()
    page = requester.get("/_gateway/approval", query="policy=sensitive&next=" + PATH)
    assert "expired: nobody decided in time" in page.text
    assert len(events(mailing, "approval_expired")) == 1


def test_the_grant_lasts_the_policys_session_duration_capped_by_the_maximum(tmp_path, receiver):
    gateway = make_gateway(tmp_path, mail=mail_settings(receiver.port),
                           approvals={"grant_seconds": 3600, "max_grant_seconds": 7200})
    policy = gateway.approvals.policies["sensitive"]
    assert gateway.approvals.grant_seconds(policy) == 3600  # no session_duration: approvals.grant_seconds
    assert gateway.approvals.grant_seconds(dict(policy, session_duration="90m")) == 5400
    # The configuration check refuses a longer one; the gateway caps it all the same.
    assert gateway.approvals.grant_seconds(dict(policy, session_duration="4h")) == 7200


def test_a_relay_that_is_down_blocks_nobody_and_is_retried_with_backoff(tmp_path):
    port = free_port()  # nothing listens there yet
    gateway = make_gateway(tmp_path, mail=mail_settings(port))
    for name in ("drsmith", "reception"):
        set_password(gateway, name)
    row = ask(gateway, Client(gateway))
    # Someone who needs no approval signs in and reaches OSCAR while the relay is down.
    staff = Client(gateway)
    login(staff, gateway, "reception", enroll_totp(gateway, "reception"))
    assert staff.auth("/oscar/provider/providercontrol.jsp").status == 200
    before = time.time()
    assert gateway.outbox.deliver_due() == (0, 1)
    mail = gateway.store.one("SELECT * FROM mail_outbox")
    assert mail["status"] == "queued" and mail["attempts"] == 1 and mail["request_id"] == row["id"]
    assert "ConnectionRefusedError" in mail["last_error"]
    assert before + 60 <= mail["next_attempt"] <= time.time() + 60  # retry_seconds after the first failure
    assert gateway.outbox.deliver_due() == (0, 0)  # not due yet: nothing is tried
    assert gateway.outbox.deliver_due(now=mail["next_attempt"]) == (0, 1)
    mail = gateway.store.one("SELECT * FROM mail_outbox")
    assert mail["attempts"] == 2 and mail["next_attempt"] >= time.time() + 119  # doubled
    assert [gateway.outbox.retry_delay(n) for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 480, 600]
    # The relay comes up: the message goes at its next attempt.
    receiver = Receiver(port=port).start()
    try:
        assert gateway.outbox.deliver_due(now=mail["next_attempt"]) == (1, 0)
        assert receiver.wait_for(1)[0][0] == ["privacy@clinic.test"]
    finally:
        receiver.stop()
    assert gateway.store.one("SELECT status FROM mail_outbox")[0] == "sent"
    assert [e["event"] for e in events(gateway) if e["event"].startswith("mail_")] == [
        "mail_queued", "mail_attempt_failed", "mail_attempt_failed", "mail_sent"]


def test_after_the_last_attempt_a_message_is_given_up_listed_and_can_be_retried(tmp_path, capsys):
    from oscar_gateway import admin

    gateway = make_gateway(tmp_path, mail=mail_settings(free_port(), max_attempts=2))
    set_password(gateway, "drsmith")
    ask(gateway, Client(gateway))
    gateway.outbox.deliver_due()
    gateway.outbox.deliver_due(now=time.time() + 3600)
    mail = gateway.store.one("SELECT * FROM mail_outbox")
    assert mail["status"] == "failed" and mail["attempts"] == 2
    assert events(gateway, "mail_failed")
    assert gateway.outbox.deliver_due(now=time.time() + 86400) == (0, 0)
    config = str(tmp_path / "config.json")
    assert admin.main(["--config", config, "outbox", "--format", "json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert [(m["id"], m["status"], m["recipient"], m["attempts"]) for m in listed] == [
        (mail["id"], "failed", "privacy@clinic.test", 2)]
    assert "ConnectionRefusedError" in listed[0]["last_error"]
    assert admin.main(["--config", config, "outbox", "--retry", str(mail["id"])]) == 0
    assert gateway.store.one("SELECT status, attempts FROM mail_outbox")[:] == ("queued", 0)


def test_an_ipv6_relay_written_in_brackets_is_reached(tmp_path):
    # The configuration check accepts "[::1]" (as mail servers' relay settings write an IPv6 relay): the outbox
    # must then reach it, not look "[::1]" up as a host name.
    receiver = Receiver(hostname="::1").start()
    try:
        gateway = make_gateway(tmp_path, mail=mail_settings(receiver.port, relay_host="[::1]"))
        set_password(gateway, "drsmith")
        ask(gateway, Client(gateway))
        assert gateway.outbox.deliver_due() == (1, 0)
        assert receiver.wait_for(1)[0][0] == ["privacy@clinic.test"]
    finally:
        receiver.stop()


def test_a_permanent_refusal_is_not_retried(tmp_path):
    receiver = Receiver(refuse={"privacy@clinic.test"}).start()
    try:
        gateway = make_gateway(tmp_path, mail=mail_settings(receiver.port))
        set_password(gateway, "drsmith")
        ask(gateway, Client(gateway))
        assert gateway.outbox.deliver_due() == (0, 1)
    finally:
        receiver.stop()
    mail = gateway.store.one("SELECT * FROM mail_outbox")
    assert mail["status"] == "failed" and mail["attempts"] == 1 and "550" in mail["last_error"]


def test_starttls_is_required_when_configured_and_the_login_comes_from_its_file(tmp_path):
    # A relay that offers no STARTTLS: the gateway does not fall back to plain text.
    for sub in ("plain", "tls"):
        (tmp_path / sub).mkdir()
    plain = Receiver().start()
    try:
        gateway = make_gateway(tmp_path / "plain", mail=mail_settings(plain.port, starttls=True))
        set_password(gateway, "drsmith")
        ask(gateway, Client(gateway))
        assert gateway.outbox.deliver_due() == (0, 1)
        assert "STARTTLS" in gateway.store.one("SELECT last_error FROM mail_outbox")[0]
        assert plain.messages == []
    finally:
        plain.stop()
    # A relay with STARTTLS and a login: the message goes encrypted, the login read from a file others cannot read.
    relay = Receiver(tls_dir=tmp_path / "relay", login=("gateway", "relay pass phrase")).start()
    try:
        credentials = tmp_path / "mail-credentials.json"
        fd = os.open(str(credentials), os.O_WRONLY | os.O_CREAT, 0o640)
        with os.fdopen(fd, "w") as handle:
            json.dump({"username": "gateway", "password": "relay pass phrase"}, handle)
        gateway = make_gateway(tmp_path / "tls", mail=mail_settings(
            relay.port, starttls=True, ca_file=relay.ca_file, credentials_file=str(credentials)))
        set_password(gateway, "drsmith")
        ask(gateway, Client(gateway))
        assert gateway.outbox.deliver_due() == (1, 0)
        (_rcpt, _message, over_tls), = relay.wait_for(1)
        assert over_tls
        # The password is in no configuration, audit record or outbox row.
        for path in (tmp_path / "tls" / "config.json", tmp_path / "tls" / "audit.jsonl"):
            assert "relay pass phrase" not in path.read_text()
        os.chmod(credentials, 0o644)
        from oscar_gateway import config, outbox
        with pytest.raises(config.ConfigError, match="lets others read it"):
            outbox.load_credentials(str(credentials))
    finally:
        relay.stop()


def test_without_a_relay_nothing_is_queued(tmp_path):
    gateway = make_gateway(tmp_path)
    set_password(gateway, "drsmith")
    client = Client(gateway)
    ask(gateway, client)
    assert gateway.store.outbox(include_sent=True) == []
    assert "An approver opens" in client.get("/_gateway/approval", query="policy=sensitive&next=" + PATH).text


def test_the_fleet_health_snapshot_reports_given_up_mail(tmp_path):
    """The gateway as served (waitress on its UNIX socket, the outbox worker started) answers /healthz/mail, and the
    fleet's health snapshot turns it into a reported, never gating, check."""
    import subprocess
    import sys

    from gwtest import GATEWAY_FILES
    from stack import _unix_open, wait_for

    from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _clinic_health

    gateway = make_gateway(tmp_path, mail=mail_settings(free_port(), max_attempts=1))
    set_password(gateway, "drsmith")
    ask(gateway, Client(gateway))
    gateway.outbox.deliver_due()  # the relay is down and one attempt is all: given up
    assert gateway.outbox.health()["failed"] == 1
    server = subprocess.Popen([sys.executable, "-m", "oscar_gateway", "--config", str(tmp_path / "config.json")],
                              env=dict(os.environ, PYTHONPATH=str(GATEWAY_FILES)), stderr=subprocess.PIPE)
    try:
        sock = str(tmp_path / "gw.sock")
        wait_for(lambda: _unix_open(sock), what="gateway")
        found = _clinic_health.gateway_mail_check(sock)
    finally:
        server.terminate()
        server.wait(10)
    assert found == {"name": "gateway mail", "ok": False, "gate": False,
                     "detail": "approval mail: 0 queued, 1 given up (oscar-gateway-admin outbox)"}
    # Without a relay there is nothing to report.
    (tmp_path / "quiet").mkdir()
    quiet = make_gateway(tmp_path / "quiet")
    assert Client(quiet).get("/healthz/mail").text.startswith('{"enabled": false')
