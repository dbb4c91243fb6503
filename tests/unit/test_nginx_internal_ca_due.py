"""The gate of the nginx role's internal CA: its seven community.crypto steps run only when something is due."""

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._nginx import nginx_internal_ca_due

CA_DIR = "/etc/oscar-remote-access/ca"
FILES = {"ca.key": "0600", "ca.csr": "0600", "ca.crt": "0644", "server.key": "0600", "server.csr": "0600",
         "server.crt": "0644"}
NAMES = ["emr.clinic.test", "nginx-oscar"]
IPS = ["127.0.0.1"]
CA_NAME = "Test Clinic internal CA"


def found(**changes):
    files = []
    for name, mode in FILES.items():
        entry = {"path": "%s/%s" % (CA_DIR, name), "isreg": True, "mode": mode, "pw_name": "root", "gr_name": "root"}
        entry.update(changes.get(name.replace(".", "_"), {}))
        if entry.get("gone"):
            continue
        files.append(entry)
    return {"files": files}


def cert(**changes):
    # The shape of community.crypto.x509_certificate_info's result (valid_at, subject, issuer, subject_alt_name).
    info = {"valid_at": {"renewal": True}, "subject": {"commonName": "emr.clinic.test"},
            "issuer": {"commonName": CA_NAME},
            "subject_alt_name": ["DNS:nginx-oscar", "DNS:emr.clinic.test", "IP:127.0.0.1"]}
    info.update(changes)
    return info


def due(info, files):
    return nginx_internal_ca_due(info, files, CA_DIR, FILES, NAMES, IPS, CA_NAME)


def test_nothing_is_due_for_a_current_certificate_and_its_files_in_place():
    assert due(cert(), found()) == []


@pytest.mark.parametrize("info, files, reason", [
    (cert(valid_at={"renewal": False}), found(), "server.crt is due for renewal"),
    ({"failed": False, "msg": "No such file"}, found(), "server.crt cannot be read"),
    (cert(subject_alt_name=["DNS:emr.clinic.test", "DNS:nginx-oscar"]), found(),
     "server.crt names DNS:emr.clinic.test, DNS:nginx-oscar, not DNS:emr.clinic.test, DNS:nginx-oscar, IP:127.0.0.1"),
    (cert(subject={"commonName": "old.clinic.test"}), found(),
     "server.crt is for old.clinic.test, not emr.clinic.test"),
    (cert(issuer={"commonName": "Another CA"}), found(), "server.crt was issued by Another CA, not " + CA_NAME),
    (cert(), found(server_key={"gone": True}), "server.key is missing"),
    (cert(), found(ca_key={"mode": "0644"}), "ca.key is 0644 root:root, not 0600 root:root"),
    (cert(), found(ca_crt={"isreg": False}), "ca.crt is missing"),
])
def test_each_reason_makes_the_steps_run(info, files, reason):
    assert reason in due(info, files)
