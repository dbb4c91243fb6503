"""The access gateway behind the nginx front door on Debian 12 and 13, probed from a client through nginx.

The sign-in tests are for the standalone front door (Debian 12); Debian 13's runs in Cloudflare mode
(test_cloudflare_mode.py). Commands run in the scenario's containers through podman exec; HTTP goes only to the
scenario's containers.
"""

import email
import email.policy
import json
import re
import subprocess
import uuid
from pathlib import Path

import pyotp
import pytest

CLIENT = "gateway-client"
# Standalone mode (password + TOTP sign-in); every front door for what does not depend on the mode.
FRONT_DOORS = ["gateway-oscar"]
ALL_FRONT_DOORS = ["gateway-oscar", "gateway-trixie"]
NAME = "emr.clinic.test"
BASE = "https://" + NAME
STANDIN_RECORD = "/var/log/oscar-standin/requests.jsonl"
PASSWORD = "molecule gateway pass phrase 7"
SOFTAUTHN = Path(__file__).resolve().parents[3] / "tests" / "gateway" / "softauthn.py"


def run(container, command, stdin=None, check=True):
    proc = subprocess.run(["podman", "exec", "-i", container, "bash", "-c", command], input=stdin,
                          capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError("%s: %s failed (%s): %s %s" % (container, command, proc.returncode, proc.stdout,
                                                           proc.stderr))
    return proc


class Client:
    """curl in the client container with its own cookie jar, reaching one front door as emr.clinic.test."""

    def __init__(self, front):
        self.front = front
        self.jar = "/tmp/jar-%s" % uuid.uuid4().hex[:8]
        self.ca = "/tmp/ca-%s.crt" % front
        run(CLIENT, "cat > %s" % self.ca, stdin=run(front, "cat /etc/oscar-remote-access/ca/ca.crt").stdout)

    def request(self, path, data=None):
        args = ["curl", "-s", "--path-as-is", "--max-time", "30", "--cacert", self.ca,
                "--connect-to", "%s:443:%s:443" % (NAME, self.front), "-b", self.jar, "-c", self.jar,
                "-D", "/tmp/head", "-o", "/tmp/body", "-w", "%{http_code}"]
        for key, value in (data or {}).items():
            args += ["--data-urlencode", "%s=%s" % (key, value)]
        args.append(BASE + path)
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        status = int(run(CLIENT, quoted).stdout or 0)
        head = run(CLIENT, "cat /tmp/head").stdout
        body = run(CLIENT, "cat /tmp/body").stdout
        headers = {}
        for line in head.splitlines()[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        return status, headers, body


def csrf(body):
    return re.search(r'name="csrf" value="([^"]+)"', body).group(1)


def records(front):
    text = run(front, "cat %s 2>/dev/null || true" % STANDIN_RECORD).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def admin(front, args, stdin=None, check=True):
    return run(front, "oscar-gateway-admin " + args, stdin=stdin, check=check)


@pytest.fixture(scope="module", params=FRONT_DOORS)
def front(request):
    return request.param


@pytest.fixture(scope="module", params=ALL_FRONT_DOORS)
def any_front(request):
    return request.param


@pytest.fixture(scope="module")
def signed_in(front):
    """drsmith signs in through nginx: password (set with the admin command), then TOTP enrolment."""
    admin(front, "set-password drsmith", stdin=PASSWORD + "\n")
    admin(front, "reset-totp drsmith", check=False)
    client = Client(front)
    mark = uuid.uuid4().hex[:12]
    status, headers, _ = client.request("/oscar/provider/providercontrol.jsp?m=" + mark)
    assert status == 302
    assert headers["location"].startswith(BASE + "/_gateway/login?next=")
    assert not [r for r in records(front) if mark in json.dumps(r)]

    status, _, body = client.request("/_gateway/login?next=/oscar/index.jsp")
    assert status == 200
    status, headers, body = client.request("/_gateway/login", {
        "username": "drsmith", "password": PASSWORD, "csrf": csrf(body), "next": "/oscar/index.jsp"})
    assert status == 303, body
    assert headers["location"] == BASE + "/_gateway/enroll"
    status, _, body = client.request("/_gateway/enroll")
    assert status == 200
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', body).group(1).replace(" ", "")
    status, headers, body = client.request("/_gateway/enroll", {
        "code": pyotp.TOTP(secret).now(), "csrf": csrf(body), "next": "/oscar/index.jsp"})
    assert status == 200, body
    assert "recovery codes" in body
    return client


def test_unauthenticated_request_is_sent_to_login(front):
    status, headers, _ = Client(front).request("/oscar/index.jsp")
    assert status == 302
    assert headers["location"] == BASE + "/_gateway/login?next=%2Foscar%2Findex.jsp"


def test_login_with_password_and_totp_reaches_oscar_with_remote_user(front, signed_in):
    mark = uuid.uuid4().hex[:12]
    status, _, body = signed_in.request("/oscar/demographic/search.jsp?m=" + mark)
    assert status == 200, body
    seen = [r for r in records(front) if mark in json.dumps(r)]
    assert seen, "the request did not reach the OSCAR stand-in"
    assert seen[-1]["headers"]["Remote-User"] == "drsmith"
    assert seen[-1]["headers"]["Remote-Email"] == "drsmith@clinic.test"


def test_blocked_and_policy_denied_paths_are_refused(front, signed_in):
    mark = uuid.uuid4().hex[:12]
    status, _, _ = signed_in.request("/oscar/monitoring?m=" + mark)
    assert status == 404
    status, _, _ = signed_in.request("/oscar/admin/users.jsp?m=" + mark)
    assert status == 403
    assert not [r for r in records(front) if mark in json.dumps(r)]


def test_audit_records_the_login(front, signed_in):
    rows = json.loads(admin(front, "audit --event login --user drsmith --format json").stdout)
    assert any(r["username"] == "drsmith" for r in rows)
    assert admin(front, "audit --verify", check=False).returncode == 0


def test_service_runs_as_its_own_user_with_a_strict_sandbox(any_front):
    user = run(any_front, "systemctl show -p User --value oscar-gateway.service").stdout.strip()
    assert user == "oscar-gateway"
    pid = run(any_front, "systemctl show -p MainPID --value oscar-gateway.service").stdout.strip()
    assert run(any_front, "ps -o user= -p %s" % pid).stdout.strip() == "oscar-gateway"
    out = run(any_front, "systemd-analyze security oscar-gateway.service --no-pager").stdout
    score = float(re.search(r"Overall exposure level for oscar-gateway.service: ([0-9.]+)", out).group(1))
    assert score <= 2.5, out


def test_socket_and_secret_file_modes(any_front):
    for path in ("/run/oscar-gateway/gateway.sock", "/run/oscar-gateway/auth.sock"):
        assert run(any_front, "stat -c '%a %U %G' " + path).stdout.split() == ["660", "oscar-gateway", "www-data"]
    secrets = run(any_front, "stat -c '%a %U %G' /etc/oscar-gateway/secrets.json").stdout.split()
    assert secrets == ["600", "oscar-gateway", "oscar-gateway"]
    config = run(any_front, "stat -c '%a %U %G' /etc/oscar-gateway/config.json").stdout.split()
    assert config == ["640", "root", "oscar-gateway"]
    db = run(any_front, "stat -c '%a %U' /var/lib/oscar-gateway/gateway.db").stdout.split()
    assert db == ["600", "oscar-gateway"]
    assert "session_key" not in run(any_front, "cat /etc/oscar-gateway/config.json").stdout
    for package in ("python3-jwt", "python3-pyotp", "python3-argon2", "python3-segno", "python3-waitress",
                    "python3-fido2"):
        run(any_front, "dpkg -s %s" % package)


# Registration and sign-in with a passkey through the gateway's own relying party (oscar_gateway/webauthn.py), on the
# host's python3-fido2, answered by the tests' software authenticator (tests/gateway/softauthn.py, copied in).
PASSKEY_ROUND_TRIP = """
import sys
sys.path[:0] = ["/usr/lib/oscar-gateway", "/tmp"]
import fido2.server
from oscar_gateway import webauthn
from softauthn import SoftAuthenticator
rp = webauthn.RelyingParty("emr.clinic.test", "Molecule Test Clinic")
key = SoftAuthenticator("https://emr.clinic.test")
options, state = rp.registration(b"u" * 32, "drsmith", "Dr Smith", [])
credential_id, stored, _counter = rp.register(state, key.create(options))
options, state = rp.assertion([stored], "required")
assert rp.verify(state, [stored], key.get(options))[0] == credential_id
options, state = rp.assertion([stored], "required")
try:
    rp.verify(state, [stored], key.get(options, origin="https://evil.test"))
except webauthn.Refused:
    print("passkey round trip ok", fido2.server.__file__)
"""


def test_passkeys_work_on_the_hosts_python3_fido2(any_front):
    """Debian 12 ships python3-fido2 0.9, Debian 13 1.2: the gateway's relying party works with both."""
    version = run(any_front, "dpkg-query -W -f '${Version}' python3-fido2").stdout
    assert version.startswith("0.9" if any_front == "gateway-oscar" else "1."), version
    with open(SOFTAUTHN) as handle:
        run(any_front, "cat > /tmp/softauthn.py", stdin=handle.read())
    out = run(any_front, "runuser -u oscar-gateway -- python3 -", stdin=PASSKEY_ROUND_TRIP).stdout
    assert "passkey round trip ok /usr/lib/python3/dist-packages/fido2/server.py" in out, out


def test_the_approval_mail_settings_reach_the_gateway(any_front):
    """molecule.yml: gateway-oscar mails through a relay on loopback with a login, gateway-trixie through a provider's
    relay with STARTTLS and no login."""
    mail = json.loads(run(any_front, "cat /etc/oscar-gateway/config.json").stdout)["mail"]
    login_file = "/etc/oscar-gateway/mail-credentials.json"
    if any_front == "gateway-oscar":
        assert (mail["relay_host"], mail["relay_port"], mail["starttls"]) == ("127.0.0.1", 2525, False)
        assert mail["credentials_file"] == login_file
        assert run(any_front, "stat -c '%a %U %G' " + login_file).stdout.split() == ["640", "root", "oscar-gateway"]
        assert json.loads(run(any_front, "cat " + login_file).stdout)["username"] == "molecule-gateway"
        assert "relay pass phrase" not in run(any_front, "cat /etc/oscar-gateway/config.json").stdout
    else:
        assert (mail["relay_host"], mail["relay_port"], mail["starttls"]) == ("smtp.clinic.test", 587, True)
        assert mail["credentials_file"] == ""
        assert run(any_front, "test -e " + login_file, check=False).returncode == 1
    assert mail["from_address"] == "oscar-access@clinic.test"
    # The relay is reached over the network (loopback too, which PrivateNetwork= would hide).
    shown = run(any_front, "systemctl show -p PrivateNetwork -p RestrictAddressFamilies oscar-gateway.service").stdout
    assert "PrivateNetwork=no" in shown and "AF_INET" in shown, shown
    # The gateway started with the settings (its loader checked them) and its outbox is empty.
    assert json.loads(admin(any_front, "outbox --format json").stdout) == []


# The clinic's relay, played by the tests' own SMTP server (aiosmtpd, tests/gateway/smtp_receiver.py) on the Debian 12
# host's loopback port 2525 with the login molecule.yml gives the role; each message it takes is written to a file.
SMTP_DRIVER = """
import email.policy, pathlib, sys, threading
sys.path[:0] = ["/opt/molecule-smtp"]
from smtp_receiver import Receiver
out = pathlib.Path("/var/tmp/molecule-mail")
out.mkdir(exist_ok=True)
receiver = Receiver(login=("molecule-gateway", "molecule relay pass phrase"), port=2525).start()
written = 0
while True:
    with receiver.arrived:
        receiver.arrived.wait_for(lambda: len(receiver.messages) > written)
        batch = receiver.messages[written:]
    for rcpt, message, _tls in batch:
        written += 1
        (out / ("%d.rcpt" % written)).write_text(" ".join(rcpt))
        (out / ("%d.tmp" % written)).write_bytes(message.as_bytes(policy=email.policy.SMTP))
        (out / ("%d.tmp" % written)).rename(out / ("%d.eml" % written))
"""
SMTP_PACKAGES = ("aiosmtpd", "public", "attr", "attrs")


def test_an_approval_request_is_mailed_through_the_hosts_relay(front, signed_in):
    """Approvals by email through the role on Debian 12: drsmith asks for the sensitive-charts policy through nginx;
    the role's gateway (its outbox thread, its smtplib client, the relay login from the 0640 file, the unit's sandbox)
    hands the mail to the relay on loopback, with the link that only opens the approvals page."""
    site = Path(pytest.importorskip("aiosmtpd").__file__).parents[1]
    receiver = Path(__file__).resolve().parents[3] / "tests" / "gateway" / "smtp_receiver.py"
    bundle = subprocess.run(["tar", "-C", str(site), "-cf", "-", *SMTP_PACKAGES], capture_output=True, check=True)
    subprocess.run(["podman", "exec", "-i", front, "bash", "-c",
                    "rm -rf /opt/molecule-smtp /var/tmp/molecule-mail && mkdir -p /opt/molecule-smtp"
                    " && tar -C /opt/molecule-smtp -xf -"], input=bundle.stdout, check=True)
    run(front, "cat > /opt/molecule-smtp/smtp_receiver.py", stdin=receiver.read_text())
    run(front, "cat > /opt/molecule-smtp/driver.py", stdin=SMTP_DRIVER)
    run(front, "systemctl stop molecule-smtp 2>/dev/null; systemd-run --unit molecule-smtp /usr/bin/python3 "
               "/opt/molecule-smtp/driver.py && for i in $(seq 50); do"
               " (: </dev/tcp/127.0.0.1/2525) 2>/dev/null && exit 0; sleep 0.2; done;"
               " journalctl -u molecule-smtp --no-pager; exit 1")
    try:
        target = "/oscar/sensitive/chart.jsp"
        status, _, body = signed_in.request("/_gateway/justify?policy=sensitive-charts&next=" + target)
        assert status == 200, body
        status, _, body = signed_in.request("/_gateway/justify", {
            "policy": "sensitive-charts", "next": target, "reason": "Covering the Tuesday clinic",
            "csrf": csrf(body)})
        assert status == 303, body
        status, _, body = signed_in.request("/_gateway/approval?policy=sensitive-charts&next=" + target)
        assert status == 200, body
        status, _, body = signed_in.request("/_gateway/approval", {
            "policy": "sensitive-charts", "next": target, "csrf": csrf(body)})
        assert status in (200, 303), body
        # The outbox thread sends within seconds; wait for the file rather than a fixed time.
        run(front, "for i in $(seq 150); do test -s /var/tmp/molecule-mail/1.eml && exit 0; sleep 0.2; done; "
                   "oscar-gateway-admin outbox --all; journalctl -u oscar-gateway --no-pager | tail -20; exit 1")
        assert run(front, "cat /var/tmp/molecule-mail/1.rcpt").stdout.split() == ["reception@clinic.test"]
        raw = run(front, "cat /var/tmp/molecule-mail/1.eml").stdout
        mail = email.message_from_string(raw, policy=email.policy.default)
        assert mail["From"] == "Molecule Test Clinic <oscar-access@clinic.test>", mail["From"]
        text = mail.get_content()
        for fact in ("Dr. Ann Smith", '"sensitive-charts"', "Covering the Tuesday clinic"):
            assert fact in text, (fact, text)
        assert re.search(r"https://emr\.clinic\.test/_gateway/approvals\?request=\d+", text), text
        assert "molecule relay pass phrase" not in raw
        # The outbox marks it sent once the relay's answer is in (just after the relay wrote the file).
        run(front, "for i in $(seq 50); do oscar-gateway-admin outbox --all --format json | grep -q '\"sent\"'"
                   " && exit 0; sleep 0.2; done; exit 1")
        sent = json.loads(admin(front, "outbox --all --format json").stdout)
        assert [(m["recipient"], m["status"]) for m in sent] == [("reception@clinic.test", "sent")], sent
    finally:
        run(front, "systemctl stop molecule-smtp", check=False)


def test_upgrade_from_schema_v1_kept_users_sessions_and_audit():
    front = "gateway-oscar"
    backups = run(front, "ls /var/lib/oscar-gateway/").stdout.split()
    assert any(name.startswith("gateway.db.bak-v1-") for name in backups), backups
    assert run(front, "stat -c %a /var/lib/oscar-gateway/gateway.db.bak-v1-*").stdout.split() == ["600"]
    users = {u["username"]: u for u in json.loads(admin(front, "users --format json").stdout)}
    assert {"drsmith", "reception", "formerstaff"} <= set(users)
    query = ("runuser -u oscar-gateway -- python3 -c \"import sqlite3; c = sqlite3.connect("
             "'file:/var/lib/oscar-gateway/gateway.db?mode=ro', uri=True); "
             "print(c.execute('PRAGMA user_version').fetchone()[0]); "
             "print(c.execute(\\\"SELECT revoked_at IS NULL FROM sessions WHERE id_hash='seeded-session-v1'\\\")"
             ".fetchone()[0]); "
             "print(c.execute(\\\"SELECT count(*) FROM audit WHERE detail LIKE '%seeded%'\\\").fetchone()[0])\"")
    version, seeded_session_live, seeded_audit = run(front, query).stdout.split()
    assert int(version) >= 2
    assert seeded_session_live == "1"
    assert seeded_audit == "1"


def test_user_removed_from_inventory_is_disabled_and_its_sessions_revoked():
    front = "gateway-oscar"
    users = {u["username"]: u for u in json.loads(admin(front, "users --format json").stdout)}
    assert not users["formerstaff"]["enabled"]
    query = ("runuser -u oscar-gateway -- python3 -c \"import sqlite3; c = sqlite3.connect("
             "'file:/var/lib/oscar-gateway/gateway.db?mode=ro', uri=True); "
             "print(c.execute(\\\"SELECT revoked_at IS NOT NULL FROM sessions "
             "WHERE id_hash='seeded-session-former'\\\")"
             ".fetchone()[0])\"")
    assert run(front, query).stdout.strip() == "1"


def test_bad_access_policy_fails_on_the_controller_before_any_change(tmp_path):
    front = "gateway-oscar"
    before = run(front, "sha256sum /etc/oscar-gateway/config.json").stdout
    playbook = tmp_path / "bad.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  roles:\n    - role: oscar_emr.remote_access.gateway\n"
        "      vars:\n        gateway_clinic_name: Molecule Test Clinic\n        gateway_public_host: emr.clinic.test\n"
        "        access_policy:\n          application: {name: OSCAR, domain: emr.clinic.test}\n"
        "          policies:\n            - name: lan\n              decision: allow\n"
        "              include: {ip_ranges: [10.0.0.300/32]}\n")
    proc = subprocess.run(["ansible-playbook", "-i", front + ",", "-e", "ansible_connection=containers.podman.podman",
                           str(playbook)], capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr  # ansible-core 2.19 prints the failure on stderr
    assert proc.returncode != 0
    assert "access_policy.policies[0].include.ip_ranges[0]" in output, output[-3000:]
    assert "nothing was changed on the host" in output
    assert run(front, "sha256sum /etc/oscar-gateway/config.json").stdout == before
