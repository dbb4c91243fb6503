"""The cloudflared_apt_key module: OpenPGP fingerprints computed in Python, and the refusal of unpinned keys.

Fingerprints are checked against GnuPG's own for freshly generated keys (when gpg is installed), and the
module is run end to end against a key served on loopback.
"""

import base64
import hashlib
import http.server
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.modules import cloudflared_apt_key as mod

ROOT = Path(__file__).resolve().parents[4]
COLLECTIONS = ROOT / ".build" / "collections"
HAVE_GPG = shutil.which("gpg") is not None


def new_packet(tag, body):
    """A new-format OpenPGP packet (five-octet length, to exercise that path)."""
    return bytes([0xC0 | tag, 255]) + struct.pack(">I", len(body)) + body


def old_packet(tag, body):
    """An old-format packet with a two-octet length."""
    return bytes([0x80 | (tag << 2) | 1]) + struct.pack(">H", len(body)) + body


def mpi(value):
    return struct.pack(">H", len(value) * 8) + value


def v4_rsa_body(seed):
    n = hashlib.sha512(seed).digest() * 4  # 2048 bits of "modulus"; the math is never checked
    return b"\x04" + struct.pack(">I", 1700000000) + b"\x01" + mpi(n) + mpi(b"\x01\x00\x01")


def v4_fingerprint(body):
    return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()


def test_v4_fingerprint_is_rfc4880():
    body = v4_rsa_body(b"a")
    assert mod.fingerprint(body) == v4_fingerprint(body)


def test_v5_and_v6_fingerprints_use_sha256():
    body5 = b"\x05" + b"\x00" * 20
    body6 = b"\x06" + b"\x00" * 20
    assert mod.fingerprint(body5) == hashlib.sha256(b"\x9a" + struct.pack(">I", 21) + body5).hexdigest().upper()
    assert mod.fingerprint(body6) == hashlib.sha256(b"\x9b" + struct.pack(">I", 21) + body6).hexdigest().upper()


def test_v3_keys_are_refused():
    with pytest.raises(mod.KeyFileError, match="version 3"):
        mod.fingerprint(b"\x03" + b"\x00" * 10)


def test_primary_keys_are_found_in_old_and_new_format_packets_and_subkeys_ignored():
    a, b = v4_rsa_body(b"a"), v4_rsa_body(b"b")
    uid = b"Test <test@invalid>"
    data = new_packet(6, a) + new_packet(13, uid) + new_packet(14, v4_rsa_body(b"sub")) + old_packet(6, b)
    assert mod.primary_fingerprints(data) == [v4_fingerprint(a), v4_fingerprint(b)]


def test_armoured_keys_are_dearmoured():
    body = v4_rsa_body(b"a")
    data = new_packet(6, body)
    armour = (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n"
              + base64.encodebytes(data) + b"=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n")
    assert mod.dearmor(armour) == data
    assert mod.primary_fingerprints(armour) == [v4_fingerprint(body)]


@pytest.mark.parametrize("data,message", [
    (b"", "no OpenPGP public key"),
    (b"<html>not a key</html>", "not OpenPGP data"),
    (new_packet(6, v4_rsa_body(b"a"))[:40], "truncated"),
    (new_packet(5, v4_rsa_body(b"a")), "secret key"),
    (new_packet(13, b"only a user id"), "no OpenPGP public key"),
])
def test_what_is_not_a_public_key_is_refused(data, message):
    with pytest.raises(mod.KeyFileError, match=message):
        mod.primary_fingerprints(data)


def test_check_accepts_pinned_fingerprints_written_any_way():
    body = v4_rsa_body(b"a")
    fpr = v4_fingerprint(body)
    spaced = " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()
    assert mod.check(new_packet(6, body), [spaced]) == [fpr]


def test_check_refuses_a_file_with_any_unpinned_primary_key():
    a, b = v4_rsa_body(b"a"), v4_rsa_body(b"b")
    with pytest.raises(mod.KeyFileError, match="not in the pinned list"):
        mod.check(new_packet(6, a) + new_packet(6, b), [v4_fingerprint(a)])


@pytest.fixture(scope="module")
def gpg_key(tmp_path_factory):
    """A real key made by GnuPG: (binary export, armoured export, GnuPG's fingerprint)."""
    if not HAVE_GPG:
        pytest.skip("gpg is not installed")
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)

    def run(*args):
        return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", *args],
                              check=True, capture_output=True).stdout

    run("--passphrase", "", "--quick-gen-key", "cloudflared unit test <test@invalid>", "ed25519", "sign", "1d")
    listing = run("--with-colons", "--list-keys").decode()
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    binary, armoured = run("--export", fpr), run("--export", "--armor", fpr)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
    return binary, armoured, fpr


def test_fingerprints_match_gnupgs(gpg_key):
    binary, armoured, fpr = gpg_key
    assert mod.primary_fingerprints(binary) == [fpr]
    assert mod.primary_fingerprints(armoured) == [fpr]


@pytest.fixture()
def key_server(gpg_key, tmp_path):
    (tmp_path / "key.asc").write_bytes(gpg_key[1])

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/key.asc" % server.server_address[1]
    server.shutdown()


def run_module(args, check=False):
    """Run the module through ansible (ad hoc, on localhost) and return its JSON result."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    cmd = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-e",
           "ansible_python_interpreter=%s" % sys.executable, "-m", "oscar_emr.remote_access.cloudflared_apt_key",
           "-a", json.dumps(args)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    result = json.loads(proc.stdout)
    return result["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_installs_a_pinned_key_idempotently_and_refuses_an_unpinned_one(gpg_key, key_server, tmp_path):
    binary, _armoured, fpr = gpg_key
    dest = tmp_path / "keyrings" / "cloudflared.gpg"
    dest.parent.mkdir()
    args = {"url": key_server, "dest": str(dest), "fingerprints": [fpr], "mode": "0644"}

    checked = run_module(args, check=True)
    assert checked["changed"] is True and not dest.exists(), "check mode writes nothing"
    assert fpr in checked["diff"]["after"]

    first = run_module(args)
    assert first["changed"] is True and first["fingerprints"] == [fpr]
    assert dest.read_bytes() == binary, "stored dearmoured, as signed-by expects for a .gpg file"
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    assert run_module(args)["changed"] is False

    refused = run_module(dict(args, fingerprints=["AB" * 20]))
    assert refused.get("failed") is True
    assert "not in the pinned list" in refused["msg"] and fpr in refused["msg"]
    assert dest.read_bytes() == binary, "the trusted keyring is left as it was"

    other = tmp_path / "keyrings" / "other.gpg"
    refused = run_module(dict(args, dest=str(other), fingerprints=["AB" * 20]))
    assert refused.get("failed") is True and not other.exists()
