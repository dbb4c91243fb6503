# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write secrets straight into Ansible Vault files (format 1.1/1.2, AES256), idempotently.

PRIVATE to this collection: it may change without notice.

Modules run as separate processes and cannot use the controller's vault library, so this
implements the documented Vault AES256 format: PBKDF2-HMAC-SHA256 (10000 rounds) derives an AES
key, an HMAC key and a counter; the PKCS#7-padded text is encrypted with AES-CTR and
authenticated with HMAC-SHA256. ``ansible-vault view`` and inventories read the files as usual.
AES needs the ``cryptography`` library, which ansible-core already depends on.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import os
import tempfile

try:
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as _error:  # pragma: no cover - ansible-core depends on cryptography
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = _error

HEADER = b"$ANSIBLE_VAULT"
ITERATIONS = 10000


class VaultError(Exception):
    pass


def _keys(password, salt):
    derived = hashlib.pbkdf2_hmac("sha256", password, salt, ITERATIONS, dklen=2 * 32 + 16)
    return derived[:32], derived[32:64], derived[64:80]


def encrypt(plaintext, password, vault_id=None):
    """Vault text (bytes, ending with a newline) for ``plaintext`` (bytes) under ``password`` (str)."""
    if not HAS_CRYPTOGRAPHY:
        raise VaultError("the cryptography library is needed to write Vault files")
    salt = os.urandom(32)
    key1, key2, iv = _keys(password.encode("utf-8"), salt)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key1), modes.CTR(iv), default_backend()).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(key2, ciphertext, hashlib.sha256).hexdigest().encode("ascii")
    body = binascii.hexlify(b"\n".join([binascii.hexlify(salt), mac, binascii.hexlify(ciphertext)]))
    if vault_id and vault_id != "default":
        header = b";".join([HEADER, b"1.2", b"AES256", vault_id.encode("utf-8")])
    else:
        header = b";".join([HEADER, b"1.1", b"AES256"])
    lines = [header] + [body[i:i + 80] for i in range(0, len(body), 80)] + [b""]
    return b"\n".join(lines)


def decrypt(vaulttext, password):
    """The plaintext (bytes) of Vault text, or VaultError if the password or the data is wrong."""
    if not HAS_CRYPTOGRAPHY:
        raise VaultError("the cryptography library is needed to read Vault files")
    lines = vaulttext.strip().splitlines()
    if not lines or not lines[0].startswith(HEADER + b";"):
        raise VaultError("not an Ansible Vault file")
    fields = lines[0].split(b";")
    if len(fields) < 3 or fields[2].strip() != b"AES256":
        raise VaultError("unsupported Vault cipher %r" % (fields[2:3],))
    try:
        inner = binascii.unhexlify(b"".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, cipher_hex = inner.split(b"\n", 2)
        salt, ciphertext = binascii.unhexlify(salt_hex), binascii.unhexlify(cipher_hex)
    except (binascii.Error, ValueError):
        raise VaultError("damaged Vault data") from None
    key1, key2, iv = _keys(password.encode("utf-8"), salt)
    expected = hmac.new(key2, ciphertext, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, mac_hex):
        raise VaultError("the Vault password does not open this file")
    decryptor = Cipher(algorithms.AES(key1), modes.CTR(iv), default_backend()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def read_password_file(path):
    """A Vault password from a file, stripped of surrounding newlines as ansible-vault does."""
    with open(path, "rb") as handle:
        data = handle.read().strip(b"\r\n")
    if not data:
        raise VaultError("the Vault password file %s is empty" % path)
    return data.decode("utf-8")


def render_vars(variables, comment):
    """The plaintext of a vars file: a YAML comment and a JSON mapping (JSON is valid YAML)."""
    text = "# %s\n" % comment
    text += json.dumps(variables, indent=2, sort_keys=True) + "\n"
    return text.encode("utf-8")


def parse_vars(plaintext):
    lines = [line for line in plaintext.decode("utf-8").splitlines() if not line.lstrip().startswith("#")]
    try:
        return json.loads("\n".join(lines))
    except ValueError:
        return None


def write_vault_vars(path, variables, password, comment, check_mode=False, vault_id=None, mode=0o600):
    """Make ``path`` a Vault-encrypted vars file holding ``variables``; True if it was (or would be) written.

    An existing file that already decrypts to the same variables is left alone, so re-runs report no
    change. An existing file that the password cannot open is never overwritten.
    """
    if os.path.exists(path):
        with open(path, "rb") as handle:
            current = handle.read()
        try:
            old = parse_vars(decrypt(current, password))
        except VaultError as error:
            raise VaultError("%s exists but cannot be read with the given Vault password (%s); it is left alone"
                             % (path, error)) from None
        if old == variables:
            if not check_mode and (os.stat(path).st_mode & 0o777) != mode:
                os.chmod(path, mode)
            return False
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise VaultError("the directory %s does not exist" % directory)
    data = encrypt(render_vars(variables, comment), password, vault_id=vault_id)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".vault-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return True
