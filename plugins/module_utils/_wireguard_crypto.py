# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""WireGuard keys (Curve25519, RFC 7748) and Ansible Vault text for the wireguard modules.

PRIVATE to this collection: it may change without notice.

Keys are made the way ``wg genkey`` and ``wg pubkey`` make them: 32 random bytes from the
operating system, clamped, and the public key is the X25519 product with the base point. The
arithmetic is plain Python so the modules work before wireguard-tools is installed (check mode on
a new host) and on a controller without ``wg``. Nothing here is timing-sensitive: a key is
derived once per run, on the machine that owns it.

Vault text comes from the collection's one Vault implementation (``_vault.py``), which ``ansible-vault view``
opens.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import os

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _vault

KEY_BYTES = 32
_P = 2 ** 255 - 19
_A24 = 121665


class KeyFormatError(ValueError):
    """A string that is not a WireGuard key."""


def _clamp(scalar):
    data = bytearray(scalar)
    data[0] &= 248
    data[31] &= 127
    data[31] |= 64
    return bytes(data)


def _x25519(scalar, u_bytes):
    """RFC 7748 section 5: the Montgomery ladder on Curve25519."""
    k = int.from_bytes(_clamp(scalar), "little")
    u = bytearray(u_bytes)
    u[31] &= 127
    x1 = int.from_bytes(bytes(u), "little")
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = (x2 + z2) % _P
        aa = a * a % _P
        b = (x2 - z2) % _P
        bb = b * b % _P
        e = (aa - bb) % _P
        c = (x3 + z3) % _P
        d = (x3 - z3) % _P
        da = d * a % _P
        cb = c * b % _P
        x3 = (da + cb) % _P
        x3 = x3 * x3 % _P
        z3 = (da - cb) % _P
        z3 = x1 * (z3 * z3 % _P) % _P
        x2 = aa * bb % _P
        z2 = e * ((aa + _A24 * e) % _P) % _P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


def x25519(scalar, u_bytes):
    """The raw X25519 function (exposed for the RFC 7748 test vectors)."""
    if len(scalar) != KEY_BYTES or len(u_bytes) != KEY_BYTES:
        raise KeyFormatError("X25519 takes 32-byte inputs")
    return _x25519(scalar, u_bytes)


def decode_key(text):
    """The 32 bytes of a base64 WireGuard key, or KeyFormatError."""
    if not isinstance(text, str):
        raise KeyFormatError("a key is a string")
    text = text.strip()
    if len(text) != 44 or not text.endswith("="):
        raise KeyFormatError("a key is 44 characters of base64 ending in '='")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("a key is base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyFormatError("a key is 32 bytes")
    return raw


def is_key(text):
    try:
        decode_key(text)
    except KeyFormatError:
        return False
    return True


def encode_key(raw):
    return base64.b64encode(raw).decode("ascii")


def generate_private_key():
    """A new private key as ``wg genkey`` prints it (base64, clamped)."""
    return encode_key(_clamp(os.urandom(KEY_BYTES)))


def generate_preshared_key():
    """A new preshared key as ``wg genpsk`` prints it."""
    return encode_key(os.urandom(KEY_BYTES))


def public_key(private_key):
    """The public key of a base64 private key, as ``wg pubkey`` prints it."""
    raw = decode_key(private_key)
    base = (9).to_bytes(32, "little")
    return encode_key(_x25519(raw, base))


# Ansible Vault: the collection's one implementation (_vault.py), under the names the wireguard modules use.
vault_encrypt = _vault.encrypt
vault_decrypt = _vault.decrypt
is_vault = _vault.is_vault
VaultError = _vault.VaultError
HAS_CRYPTOGRAPHY = _vault.HAS_CRYPTOGRAPHY
