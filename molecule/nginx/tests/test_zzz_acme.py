"""nginx_tls_mode acme against a real ACME server, last in the scenario (it switches the front door to acme).

Debian's pebble (Let's Encrypt's RFC 8555 test server) runs on the controller's loopback, requiring External Account
Binding (as some CAs do) and issuing certificates with a 400-second lifetime; its DNS-01 lookups go to a small test DNS
server that answers from the fake Cloudflare API's records, which the role writes with community.general.cloudflare_dns
(through the fake's CONNECT proxy, TLS verified). Nothing leaves the machine: the ACME exchange runs on the
controller, the front door only receives its certificate.

Eight runs, in order, each test relying on the one before (the module-scoped stack keeps pebble's state):
  1. the role's TLS tasks alone (tasks_from: tls) with a wrong EAB HMAC key: refused with a clear message, nothing
     served changes and the internal CA's client bundle stays;
  2. the whole role with the right key: issuance; the served chain checked with openssl in the container (complete
     to pebble's root, names, validity);
  3. the whole role again: nothing changes (no renewal due);
  4.-8. the TLS tasks alone with nginx_acme_renew_remaining_share 0.8, so the short lifetime makes renewal due 80 s
     after issuance (by then the runs above have taken most of it; the rest is waited for): check mode reports it and
     changes nothing; a Cloudflare token that reaches another zone too is refused before it is used; a failing
     challenge (the DNS server silent) leaves the certificate in service, fails the run with a clear message and
     records the failure on the host for the fleet report; so does a CA that does not answer (its URL a closed
     loopback port); then the renewal goes through and is served. Renewal runs
     take the TLS tasks only (validate, install, certificate, handlers), as a scheduled renewal job may; whole-role
     behaviour is proven by runs 2 and 3.
"""

import base64
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, for its test helpers

from frontdoor import run

from plugins.module_utils._clinic_health import acme_last_attempt
from tests.acme.pebble import Pebble, free_port
from tests.fake_cloudflare.dns import FakeCloudflareDNS
from tests.fake_cloudflare.harness import REPO_ROOT, ansible_bin, ansible_env, running_fake

SCENARIO = REPO_ROOT / "molecule" / "nginx"
# The scenario's front door (NGINX_ACME_FRONT names another container for a run outside Molecule).
FRONT = os.environ.get("NGINX_ACME_FRONT", "nginx-oscar")
ZONE = "clinic.test"
NAME = "emr.clinic.test"
# RENEW_SHARE (the most the role's validation allows) is reached 80 s after issuance, about when the runs before it
# end on a quiet machine; the second run asks for QUIET_SHARE (the least it allows), not reached for 380 s, so that
# it has nothing due even when a loaded machine makes a whole run take minutes.
LIFETIME = 400
RENEW_SHARE = 0.8
QUIET_SHARE = 0.05
ACME_DIR = "/etc/oscar-remote-access/acme"
LAST_ATTEMPT = ACME_DIR + "/last-attempt.json"
# Where the scenario's converge (internal_ca) exported the clinic CA for the client bundle.
EXPORTED_CA = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "exported-ca" / (FRONT + "-ca.crt")
ROOT_IN_FRONT = "/tmp/pebble-root.pem"
# The clinic CA of the internal_ca mode the scenario converged with.
INTERNAL_CA = "/etc/oscar-remote-access/ca/ca.crt"
EAB_KID = "clinic-kid-1"


def hmac_key():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


# The role's TLS tasks alone (its renewal-only entry point), after learning the client's address, which the
# scenario's inventory needs for nginx_integration_sources.
TLS_ONLY_PLAYBOOK = """
- name: Learn the client's address
  hosts: clients
  gather_facts: true
  gather_subset: [network]

- name: The front door's certificate alone
  hosts: front_door
  gather_facts: false
  tasks:
    - name: The nginx role's TLS tasks
      ansible.builtin.include_role:
        name: oscar_emr.remote_access.nginx
        tasks_from: tls
"""


class Stack:
    def __init__(self, fake, dns, pebble, tmp, eab_key):
        self.fake, self.dns, self.pebble, self.tmp, self.eab_key = fake, dns, pebble, tmp, eab_key
        self.bundle = tmp / "ca-bundle.pem"
        self.bundle.write_text(fake.ca_file.read_text() + pebble.listener_ca.read_text())
        self.account_key = tmp / "private" / "acme-account.key"
        self.tls_only = tmp / "tls-only.yml"
        self.tls_only.write_text(TLS_ONLY_PLAYBOOK)

    def converge(self, *args, tls_only=False, **overrides):
        """The scenario's converge (or the role's TLS tasks alone) in acme mode; variables (the secrets too) in a
        0600 file, never on the command line."""
        values = {
            "nginx_tls_mode": "acme",
            "nginx_server_names": [NAME],
            "nginx_acme_directory_url": self.pebble.directory_url,
            "nginx_acme_terms_agreed": True,
            "nginx_acme_email": "it@clinic.test",
            "nginx_acme_eab_kid": EAB_KID,
            "nginx_acme_eab_hmac_key": self.eab_key,
            "nginx_acme_cloudflare_zone": ZONE,
            "nginx_acme_cloudflare_api_token": self.fake.token,
            "nginx_acme_account_key_file": str(self.account_key),
            "nginx_acme_dns_propagation_seconds": 0,
            **overrides,
        }
        extra = self.tmp / "acme-vars.json"
        extra.write_text(json.dumps(values))
        extra.chmod(0o600)
        env = ansible_env(self.fake, {"SSL_CERT_FILE": str(self.bundle)})
        env.pop("ANSIBLE_PYTHON_INTERPRETER")  # the containers' own Python; the controller tasks name theirs
        playbook = self.tls_only if tls_only else SCENARIO / "converge.yml"
        cmd = [ansible_bin("ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook),
               "-v", "-e", "@" + str(extra), *args]
        self.fake.reset_requests()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=900, check=False)
        # Secrets never shown, even with -v: the token, both EAB keys, the ACME account key, the host's key.
        for secret in (self.fake.token, self.eab_key, values["nginx_acme_eab_hmac_key"]):
            assert secret not in proc.stdout, "a secret was printed"
        for pem in (self.account_key.read_text() if self.account_key.exists() else "",
                    run(FRONT, "cat %s/server.key 2>/dev/null || true" % ACME_DIR).stdout):
            body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
            assert not body or body[:40] not in proc.stdout.replace("\n", ""), "a private key was printed"
        recap = re.search(r"^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(FRONT),
                          proc.stdout, re.M)
        assert recap, proc.stdout[-6000:]
        # One line, as the result callback may fold and quote a long message.
        return proc.returncode, int(recap.group(2)), " ".join(proc.stdout.replace('\\"', '"').split())


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acme")
    eab_key = hmac_key()
    with running_fake(tls_proxy=True, zones=(ZONE,)) as fake, FakeCloudflareDNS(fake) as dns, \
            Pebble(dns.address, LIFETIME, eab_keys={EAB_KID: eab_key}) as pebble:
        run(FRONT, "cat > %s" % ROOT_IN_FRONT, stdin=pebble.root())
        stack = Stack(fake, dns, pebble, tmp, eab_key)
        stack.exported_ca_before = EXPORTED_CA.exists()
        yield stack


def served_chain(name=NAME, cafile=ROOT_IN_FRONT, check_time=True):
    """The chain nginx serves for a name, verified by openssl in the front door against one CA file only (its
    validity too unless check_time is false: a certificate kept in service may expire while a loaded machine runs)."""
    proc = run(FRONT, "openssl s_client -connect 127.0.0.1:443 -servername %s -showcerts -CAfile %s %s"
                      "-verify_return_error -verify_hostname %s </dev/null 2>&1"
               % (name, cafile, "" if check_time else "-no_check_time ", name),
               check=False)
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout[-3000:]
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", proc.stdout, re.S)
    return [x509.load_pem_x509_certificate(p.encode()) for p in pems]


def file_in_front(path):
    return run(FRONT, "cat %s" % path).stdout


def leaf_in_service():
    return x509.load_pem_x509_certificate(file_in_front(ACME_DIR + "/fullchain.pem").encode())


def last_attempt():
    return json.loads(file_in_front(LAST_ATTEMPT))


def wait_until_due(cert):
    """Sleep until less than RENEW_SHARE of the certificate's lifetime is left (plus a margin); 0 s when the runs
    before took that long already."""
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    due = cert.not_valid_after_utc - lifetime * RENEW_SHARE + datetime.timedelta(seconds=2)
    delay = (due - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def txt_records(fake):
    return [r for r in fake.objects("dns") if r["type"] == "TXT"]


def test_a_wrong_eab_key_is_refused_and_nothing_served_changes(acme):
    """The CA requires External Account Binding and the HMAC key is wrong: the account is refused, the run fails
    naming the EAB variables, and the front door keeps its internal CA certificate and client bundle."""
    served_before = served_chain(NAME, INTERNAL_CA)[0].serial_number
    rc, _changed, out = acme.converge(tls_only=True, nginx_acme_eab_hmac_key=hmac_key())
    assert rc != 0
    assert "ACME: no new certificate for %s" % NAME in out, out[-8000:]
    assert "nginx keeps its present configuration" in out
    assert "The CA refused the ACME account: check nginx_acme_eab_kid and nginx_acme_eab_hmac_key" in out
    assert 'Failed at "Register the ACME account' in out
    # Refused before any order: no record written to the DNS, no certificate, the internal CA still served and shipped.
    assert acme.fake.writes == 0
    assert run(FRONT, "test -e %s/fullchain.pem" % ACME_DIR, check=False).returncode == 1
    assert served_chain(NAME, INTERNAL_CA)[0].serial_number == served_before
    assert acme.exported_ca_before and EXPORTED_CA.exists(), EXPORTED_CA
    assert last_attempt()["result"] == "failed"


def test_the_front_door_gets_a_public_certificate_by_dns_01(acme):
    rc, changed, out = acme.converge()
    assert rc == 0, out[-8000:]
    assert changed > 0

    chain = served_chain()
    leaf, intermediates = chain[0], chain[1:]
    root = x509.load_pem_x509_certificate(acme.pebble.root().encode())
    # Complete chain: the leaf and every intermediate up to (not including) the root, each issued by the next.
    assert intermediates, "nginx serves the leaf alone"
    for child, parent in zip(chain, [*chain[1:], root]):
        assert child.issuer == parent.subject
        child.verify_directly_issued_by(parent)
    assert all(c.subject != root.subject for c in chain), "the root is served"
    # Names and validity.
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [NAME]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME
    now = datetime.datetime.now(datetime.timezone.utc)
    assert leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == pytest.approx(LIFETIME, abs=2)
    assert leaf.serial_number == leaf_in_service().serial_number

    # The DNS-01 answer came through the Cloudflare API's records, which are gone again.
    assert ("_acme-challenge." + NAME, "TXT") in acme.dns.queries
    assert len(acme.fake.calls("POST", r"/zones/[^/]+/dns_records$")) == 1
    assert len(acme.fake.calls("DELETE", r"/dns_records/")) == 1
    assert not txt_records(acme.fake)

    # Secrets: the host key, the record and their directory root-only; the account key on the controller 0600 in a
    # 0700 directory.
    assert run(FRONT, "stat -c '%%a %%U' %s/server.key %s %s" % (ACME_DIR, LAST_ATTEMPT, ACME_DIR)).stdout.split(
        "\n")[:3] == ["600 root", "600 root", "700 root"]
    assert oct(acme.account_key.stat().st_mode & 0o777) == "0o600"
    assert oct(acme.account_key.parent.stat().st_mode & 0o777) == "0o700"

    # The attempt recorded for the fleet report, the failure of the wrong key replaced.
    attempt = last_attempt()
    assert attempt["result"] == "ok" and attempt["reason"] == "no certificate in service" and not attempt["message"]

    # The client bundle no longer carries the internal CA the scenario's first converge exported.
    assert not EXPORTED_CA.exists()


def test_a_second_run_changes_nothing(acme):
    before = leaf_in_service().serial_number
    record = file_in_front(LAST_ATTEMPT)
    rc, changed, out = acme.converge(nginx_acme_renew_remaining_share=QUIET_SHARE)
    assert rc == 0, out[-8000:]
    assert changed == 0, out[-8000:]
    assert acme.fake.writes == 0
    assert leaf_in_service().serial_number == before
    assert file_in_front(LAST_ATTEMPT) == record


def test_check_mode_reports_a_due_renewal_and_changes_nothing(acme):
    old_pem = file_in_front(ACME_DIR + "/fullchain.pem")
    record = file_in_front(LAST_ATTEMPT)
    wait_until_due(leaf_in_service())
    rc, changed, out = acme.converge("--check", tls_only=True, nginx_acme_renew_remaining_share=RENEW_SHARE)
    assert rc == 0, out[-8000:]
    assert changed == 1, out[-8000:]
    assert "would request a certificate for %s: renewal is due" % NAME in out
    assert acme.fake.writes == 0
    assert file_in_front(ACME_DIR + "/fullchain.pem") == old_pem
    assert file_in_front(LAST_ATTEMPT) == record



def test_a_token_reaching_other_zones_is_refused_before_it_is_used(acme):
    """The token can rewrite every record it reaches: when Cloudflare lists it another zone too, the run fails naming
    the variable and the zones, before any order or record, and the certificate stays in service."""
    old_pem = file_in_front(ACME_DIR + "/fullchain.pem")
    wait_until_due(leaf_in_service())
    zones = acme.fake.store["zones"]
    other = dict(next(iter(zones.values())), id=secrets.token_hex(16), name="other-clinic.test")
    zones[other["id"]] = other
    try:
        rc, _changed, out = acme.converge(tls_only=True, nginx_acme_renew_remaining_share=RENEW_SHARE)
    finally:
        del zones[other["id"]]
    assert rc != 0
    assert ("nginx_acme_cloudflare_api_token: reaches the zones %s, other-clinic.test, not %s alone: give the role a "
            "token with Zone, DNS, Edit on %s only" % (ZONE, ZONE, ZONE)) in out, out[-8000:]
    assert "stays in service" in out
    assert acme.fake.writes == 0
    assert file_in_front(ACME_DIR + "/fullchain.pem") == old_pem
    assert last_attempt()["result"] == "failed"

def test_a_failing_challenge_leaves_the_certificate_in_service_and_is_reported(acme):
    old_pem = file_in_front(ACME_DIR + "/fullchain.pem")
    old = leaf_in_service()
    wait_until_due(old)
    acme.dns.blackout = True
    try:
        rc, _changed, out = acme.converge(tls_only=True, nginx_acme_renew_remaining_share=RENEW_SHARE)
    finally:
        acme.dns.blackout = False
    assert rc != 0
    assert "ACME: no new certificate for %s" % NAME in out, out[-8000:]
    assert "stays in service" in out
    # pebble found no TXT record: the order's authorization is invalid, named with the name it was for.
    assert "dns:%s (status='invalid')" % NAME in out, out[-8000:]
    assert file_in_front(ACME_DIR + "/fullchain.pem") == old_pem
    assert served_chain(check_time=False)[0].serial_number == old.serial_number
    # The records written for the failed challenge are removed all the same.
    assert len(acme.fake.calls("POST", r"/zones/[^/]+/dns_records$")) == 1
    assert not txt_records(acme.fake)
    # The failure is recorded on the host, and the health snapshot's reading of the record (what the fleet report
    # shows) is a failed check with its date and the days left.
    attempt = last_attempt()
    assert attempt["result"] == "failed" and "dns:%s (status='invalid')" % NAME in attempt["message"]
    assert attempt["reason"].startswith("renewal is due")
    reported, check = acme_last_attempt(file_in_front(LAST_ATTEMPT), 0)
    assert reported["result"] == "failed" and not check["ok"] and not check["gate"]
    assert check["detail"].startswith("ACME renewal failed on %s, the certificate in service expires in 0 days"
                                      % attempt["date"])


def test_an_unreachable_ca_leaves_the_certificate_in_service_and_is_reported(acme):
    """The CA does not answer while renewal is decided (its directory URL names a loopback port nobody listens on):
    the run fails at once naming the CA, the certificate stays in service and served, nothing is written to the DNS,
    and the failure is recorded for the fleet report. The next run (the test below) tries again and renews."""
    old_pem = file_in_front(ACME_DIR + "/fullchain.pem")
    old = leaf_in_service()
    closed = "https://127.0.0.1:%d/dir" % free_port()
    rc, _changed, out = acme.converge(tls_only=True, nginx_acme_renew_remaining_share=RENEW_SHARE,
                                      nginx_acme_directory_url=closed)
    assert rc != 0
    assert ("ACME: could not check the certificate for %s against %s; the certificate in service stays in service "
            "and the next run tries again." % (NAME, closed)) in out, out[-8000:]
    assert "Failed at \"Reach the ACME CA's directory\"" in out and "Connection refused" in out, out[-8000:]
    assert acme.fake.writes == 0
    assert file_in_front(ACME_DIR + "/fullchain.pem") == old_pem
    assert served_chain(check_time=False)[0].serial_number == old.serial_number
    attempt = last_attempt()
    assert attempt["result"] == "failed" and closed in attempt["message"]
    reported, check = acme_last_attempt(file_in_front(LAST_ATTEMPT), 0)
    assert reported["result"] == "failed" and not check["ok"] and not check["gate"]
    assert check["detail"].startswith("ACME renewal failed on %s" % attempt["date"])


def test_a_certificate_past_its_renewal_point_is_renewed_and_served(acme):
    old = leaf_in_service()
    wait_until_due(old)
    rc, changed, out = acme.converge(tls_only=True, nginx_acme_renew_remaining_share=RENEW_SHARE)
    assert rc == 0, out[-8000:]
    assert changed > 0
    assert "renewal is due" in out
    new = leaf_in_service()
    assert new.serial_number != old.serial_number
    assert new.not_valid_after_utc > old.not_valid_after_utc
    # nginx was reloaded (after nginx -t): the new certificate is the one served.
    assert served_chain()[0].serial_number == new.serial_number
    assert new.public_key() == old.public_key()
    assert not txt_records(acme.fake)
    # The record says the renewal went through, replacing the failure.
    assert last_attempt()["result"] == "ok"
