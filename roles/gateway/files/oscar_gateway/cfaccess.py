"""Cloudflare Access at the origin: verify the ``Cf-Access-Jwt-Assertion`` header.

* One token in compact form, strict unpadded base64url only (a second header, which reaches the gateway joined
  to the first by a comma, is refused with it);
* RS256 only (hard-coded); the key is chosen by ``kid`` from the team's JWK set.
* The JWK set is fetched with a timeout (PyJWT 2.6's ``PyJWKClient`` has none), cached, refreshed
  in the background when older than ``jwks_ttl_seconds`` and refetched synchronously on an
  unknown ``kid`` at most once per ``jwks_min_refetch_seconds``. When the endpoint is unreachable
  the cached keys keep working; with no usable key every token is refused (fail closed).
* With no key yet (the fetch at start-up failed: the network or the name server not up at boot),
  that interval would refuse every user for a minute: then a failed fetch is retried after 1 s,
  doubling up to ``jwks_min_refetch_seconds``, so the gateway serves as soon as the endpoint answers.
* ``iss`` must equal ``https://<team>.cloudflareaccess.com`` exactly; ``aud`` must contain one of
  the application's AUD tags; ``exp``, ``iat`` required, ``exp``/``nbf`` checked with a small
  leeway; a ``crit`` header is refused (nothing here understands extensions).
* User tokens need a non-empty ``sub`` and an ``email``; service-token tokens have
  ``common_name`` and an empty ``sub``. The caller authorizes each kind with its own policies.
"""

import json
import re
import threading
import time
import urllib.request

import jwt
from jwt.algorithms import RSAAlgorithm

MAX_TOKEN_LENGTH = 16384
# header.payload.signature, each strict unpadded base64url (RFC 7515 section 2 and 7.1). Anything else is refused before
# a lenient base64 decoder can skip characters: two headers joined by a comma, padding, the standard alphabet.
# A segment of 4n+1 characters cannot be base64url at all.
_SEGMENT = r"(?=[A-Za-z0-9_-])(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?"
_COMPACT_JWS = re.compile(r"\A%s\.%s\.%s\Z" % (_SEGMENT, _SEGMENT, _SEGMENT))
MAX_JWKS_BYTES = 256 * 1024
# With no key at all, the first retry after a failed fetch (then doubling, up to min_refetch_seconds).
NO_KEYS_FIRST_RETRY_SECONDS = 1.0


class TokenRejected(Exception):
    """The token is missing or invalid: the gateway answers 403."""


class Identity:
    __slots__ = ("amr", "claims", "common_name", "country", "email", "issued_at", "kind", "subject")

    def __init__(self, kind, email, subject, common_name, claims):
        self.kind = kind  # "user" or "service"
        self.email = email
        self.subject = subject
        self.common_name = common_name
        self.claims = claims
        amr = claims.get("amr")
        self.amr = [a for a in amr if isinstance(a, str)] if isinstance(amr, list) else []
        country = claims.get("country")
        self.country = country.upper() if isinstance(country, str) else ""
        iat = claims.get("iat")
        self.issued_at = float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else 0.0


class KeySet:
    def __init__(self, certs_url, ttl_seconds=3600, min_refetch_seconds=60, timeout_seconds=3, log=None,
                 opener=None, clock=time.monotonic):
        self.certs_url = certs_url
        self.ttl = ttl_seconds
        self.min_refetch = min_refetch_seconds
        self.timeout = timeout_seconds
        self.log = log or (lambda message: None)
        self._opener = opener or urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._clock = clock
        self._keys = {}
        self._fetched_at = 0.0
        self._last_attempt = -1e18
        # Seconds before the next attempt may follow the last one: min_refetch, or shorter while there is no key.
        self._wait = 0.0
        self._no_key_failures = 0
        self._lock = threading.Lock()
        self._refreshing = False

    def _fetch(self):
        headers = {"Accept": "application/json", "User-Agent": "oscar-gateway"}
        request = urllib.request.Request(self.certs_url, headers=headers)  # noqa: S310 - https (loopback in tests)
        # The URL is https://<team>.cloudflareaccess.com/... (or loopback in tests), checked by config.
        with self._opener.open(request, timeout=self.timeout) as response:
            if response.status != 200:
                raise ValueError("HTTP %d" % response.status)
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWK set too large")
        data = json.loads(body.decode("utf-8"))
        keys = {}
        for jwk in data.get("keys", []) if isinstance(data, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
            except (ValueError, TypeError, KeyError, jwt.exceptions.InvalidKeyError):
                continue
        if not keys:
            raise ValueError("no usable RS256 keys")
        return keys

    def refresh(self, force=False):
        """Fetch the JWK set if allowed by the rate limit. Returns True if new keys were loaded."""
        now = self._clock()
        with self._lock:
            if not force and now - self._last_attempt < self._wait:
                return False
            self._last_attempt = now
            # Until this attempt ends, others wait the whole interval (no stampede of concurrent fetches).
            self._wait = self.min_refetch
        try:
            keys = self._fetch()
        except Exception as exc:  # noqa: BLE001 - any failure keeps the cached keys
            with self._lock:
                if not self._keys:
                    # Nothing to verify with: every token is refused until a fetch succeeds, so retry soon.
                    self._no_key_failures += 1
                    self._wait = min(self.min_refetch,
                                     NO_KEYS_FIRST_RETRY_SECONDS * 2 ** min(self._no_key_failures - 1, 16))
            self.log("cloudflare: cannot fetch %s: %s (keeping %d cached keys; next attempt in %g s at the earliest)"
                     % (self.certs_url, exc.__class__.__name__, len(self._keys), self._wait))
            return False
        with self._lock:
            self._keys = keys
            self._fetched_at = self._clock()
            self._no_key_failures = 0
        return True

    def _refresh_in_background(self):
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run():
            try:
                self.refresh()
            finally:
                self._refreshing = False

        threading.Thread(target=run, name="jwks-refresh", daemon=True).start()

    def key_for(self, kid):
        key = self._keys.get(kid)
        if key is not None:
            if self._clock() - self._fetched_at > self.ttl:
                self._refresh_in_background()
            return key
        # Unknown kid: one synchronous refetch, rate limited, so random kids cannot flood the endpoint.
        if self.refresh():
            return self._keys.get(kid)
        return None


class Verifier:
    def __init__(self, issuer, audiences, keyset, leeway_seconds=30):
        self.issuer = issuer
        self.audiences = list(audiences)
        self.keyset = keyset
        self.leeway = leeway_seconds

    def verify(self, token):
        if not token or not isinstance(token, str):
            raise TokenRejected("no Cf-Access-Jwt-Assertion header")
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.match(token):
            raise TokenRejected("malformed token (one header.payload.signature in strict base64url only)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.PyJWTError as exc:
            raise TokenRejected("malformed token header") from exc
        if header.get("alg") != "RS256":
            raise TokenRejected("algorithm %r refused (RS256 only)" % (header.get("alg"),))
        if "crit" in header:
            raise TokenRejected("crit header refused")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("no kid")
        key = self.keyset.key_for(kid)
        if key is None:
            raise TokenRejected("unknown kid")
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], audience=self.audiences, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud"]})
        except jwt.exceptions.PyJWTError as exc:
            raise TokenRejected("invalid token: %s" % exc.__class__.__name__) from exc
        # Belt and braces over the library: exact issuer, audience membership.
        if claims.get("iss") != self.issuer:
            raise TokenRejected("wrong issuer")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a in self.audiences for a in auds if isinstance(a, str)):
            raise TokenRejected("wrong audience")
        subject = claims.get("sub")
        common_name = claims.get("common_name")
        email = claims.get("email")
        if subject == "" and isinstance(common_name, str) and common_name and not email:
            return Identity("service", "", "", common_name, claims)
        if isinstance(subject, str) and subject and isinstance(email, str) and email.count("@") == 1:
            if claims.get("type", "app") != "app":
                raise TokenRejected("not an application token")
            return Identity("user", email.strip().lower(), subject, "", claims)
        raise TokenRejected("token has neither a user identity nor a service token")
