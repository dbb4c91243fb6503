"""Credentials: argon2id passwords, TOTP with replay protection, recovery codes, login regulation.

Written to the oldest APIs the gateway supports (Debian 12: argon2-cffi 21.1, pyotp 2.6,
cryptography 38).
"""

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time

import argon2
import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RECOVERY_CODE_COUNT = 10
TOTP_WINDOW = 1  # one 30-second step either side, for clock drift


class Passwords:
    """argon2id hashing; at most two hashes at a time so the gateway stays under its memory budget."""

    def __init__(self, time_cost=2, memory_cost=19456, parallelism=1):
        self.hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=argon2.Type.ID)
        self._slots = threading.BoundedSemaphore(2)
        self._dummy = self.hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password):
        with self._slots:
            return self.hasher.hash(password)

    def verify(self, stored_hash, password):
        """True if ``password`` matches. With no stored hash a dummy hash is verified (same cost)."""
        target = stored_hash or self._dummy
        with self._slots:
            try:
                ok = self.hasher.verify(target, password)
            except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHash):
                ok = False
        return bool(ok and stored_hash)

    def needs_rehash(self, stored_hash):
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except Exception:  # noqa: BLE001 - a hash it cannot parse needs a new one
            return True


class SecretBox:
    """AES-GCM encryption of TOTP secrets at rest, with the secrets file's ``data_key``."""

    def __init__(self, key):
        self._aead = AESGCM(hashlib.sha256(b"oscar-gateway totp v1" + key).digest())

    def seal(self, plaintext, context):
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return "v1:" + base64.b64encode(nonce + data).decode("ascii")

    def open(self, sealed, context):
        if not sealed or not sealed.startswith("v1:"):
            raise ValueError("not a sealed secret")
        raw = base64.b64decode(sealed[3:])
        return self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")


def new_totp_secret():
    return pyotp.random_base32(32)


def provisioning_uri(secret, username, issuer):
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_match(secret, code, last_step, now=None):
    """Return the time step ``code`` belongs to if it is valid and newer than ``last_step``, else None.

    Replay protection (RFC 6238 section 5.2): a code is accepted once, and never a code of a step
    at or before the last accepted one.
    """
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    found = None
    for offset in range(-TOTP_WINDOW, TOTP_WINDOW + 1):
        expected = totp.at(now, offset)
        if hmac.compare_digest(expected, code):
            found = current + offset
    if found is None or found <= last_step:
        return None
    return found


def new_recovery_codes():
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _count in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _index in range(10))
        codes.append(raw[:5] + "-" + raw[5:])
    return codes


def recovery_code_hash(key, username, code):
    normalized = (code or "").strip().lower().replace(" ", "").replace("-", "")
    return hmac.new(key, ("recovery:%s:%s" % (username, normalized)).encode("utf-8"), hashlib.sha256).hexdigest()


def mac(key, *parts):
    # hmac.digest: the same HMAC-SHA256 as hmac.new(...).hexdigest(), in one call to OpenSSL (every decision checks a
    # cookie's signature).
    return hmac.digest(key, "\x1f".join(parts).encode("utf-8"), "sha256").hex()


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Regulation:
    """Brute-force regulation per user and per client IP, Authelia-style, persisted in SQLite.

    ``max_failures`` failures of a user name (``max_failures_per_address`` of a client address;
    the same as ``max_failures`` unless given) within ``find_seconds`` ban the key for
    ``ban_seconds``; each further ban of the same key doubles, up to ``ban_max_seconds`` (backoff).
    The address limit is apart because several people may share one address (a masquerading
    WireGuard gateway, an office NAT): one person's typos must not ban everyone. A successful login
    clears the user's failures; bans persist across restarts.
    """

    def __init__(self, store, max_failures, find_seconds, ban_seconds, ban_max_seconds,
                 max_failures_per_address=None):
        self.store = store
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures if max_failures_per_address is None else max_failures_per_address
        self.find_seconds = find_seconds
        self.ban_seconds = ban_seconds
        self.ban_max_seconds = ban_max_seconds

    @staticmethod
    def keys(username, ip):
        keys = ["ip:" + (ip or "")]
        if username:
            keys.append("user:" + username.lower()[:128])
        return keys

    def threshold(self, key):
        """Failures within ``find_seconds`` that ban ``key``: per address or per user name."""
        return self.max_failures_per_address if key.startswith("ip:") else self.max_failures

    def banned(self, keys, now=None):
        now = time.time() if now is None else now
        for key in keys:
            until = self.store.ban_until(key)
            if until is not None and until > now:
                return key
        return None

    def fail(self, keys, now=None):
        """Record a failure; returns the keys newly banned (for the audit log)."""
        now = time.time() if now is None else now
        return self.store.record_login_failures(
            keys, now, self.find_seconds, now - max(self.find_seconds, 86400), self.threshold,
            lambda level: min(self.ban_seconds * (2 ** min(level, 20)), self.ban_max_seconds))

    def succeed(self, username):
        self.store.forget_login_failures("user:" + username.lower())

    def clear(self, key):
        self.store.clear_login_key(key)
