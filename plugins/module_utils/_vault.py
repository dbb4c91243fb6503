# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ansible Vault text for the modules that write Vault files.

PRIVATE to this collection: it may change without notice.

The modules that write Vault files (``cloudflare_secrets_file``, ``cloudflare_access_service_token``,
``wireguard_client_config``) share this one implementation of the documented Vault format 1.1/1.2 (AES256:
PBKDF2-HMAC-SHA256 with 10000 rounds derives an AES key, an HMAC key and a counter; the PKCS#7-padded text is
encrypted with AES-CTR and authenticated with HMAC-SHA256); tests hold it to ansible-core's ``VaultLib`` both ways.
Modules cannot import ansible-core's own Vault code: inside a module's AnsiballZ payload the ``ansible`` package is
the payload's ``module_utils``-only copy. Using ``VaultLib`` itself means moving the Vault step into action plugins.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import hmac
import os

try:
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as _error:  # pragma: no cover - ansible-core depends on cryptography
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = _error

VAULT_HEADER = HEADER = b"$ANSIBLE_VAULT"
ITERATIONS = 10000


class VaultError(Exception):
    pass


def is_vault(data):
    return data.lstrip().startswith(HEADER + b";")


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
    if not hmac.compare_digest(expected, mac_hex.strip()):
        raise VaultError("the Vault password does not open it")
    decryptor = Cipher(algorithms.AES(key1), modes.CTR(iv), default_backend()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()
