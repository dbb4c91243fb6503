"""A software WebAuthn authenticator for the gateway's tests: it answers the options the gateway's pages give to
``navigator.credentials.create``/``get`` with the JSON a browser posts back (``PublicKeyCredential.toJSON()``).

An ES256 key per credential, "none" attestation, CBOR from the fido2 library the gateway checks with. Written to the
oldest fido2 the gateway supports (Debian 12: 0.9.1), so the gateway scenario can run it on the hosts' own package.
The browser test uses Chromium's virtual authenticator instead; this one is for tests without a browser.
"""

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, origin, user_verified=True):
        self.origin = origin
        self.user_verified = user_verified
        self.credentials = {}  # credential id -> (private key, user handle, rp id, counter)

    def _flags(self, attested=False):
        return FLAG_UP | (FLAG_UV if self.user_verified else 0) | (FLAG_AT if attested else 0)

    def _client_data(self, kind, challenge, origin=None):
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode("utf-8")

    def create(self, options, origin=None):
        """The answer to ``navigator.credentials.create({publicKey: options})``."""
        excluded = {e["id"] for e in options.get("excludeCredentials", [])}
        if excluded & {b64url(c) for c in self.credentials}:
            raise RuntimeError("InvalidStateError: this authenticator is already registered")
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        credential_id = os.urandom(32)
        rp_id = options["rp"]["id"]
        self.credentials[credential_id] = [key, unb64url(options["user"]["id"]), rp_id, 0]
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(attested=True)])
                     + struct.pack(">I", 0) + bytes(16) + struct.pack(">H", len(credential_id)) + credential_id
                     + cbor.encode(cose))
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {"id": b64url(credential_id), "rawId": b64url(credential_id), "type": "public-key",
                "authenticatorAttachment": "cross-platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["usb"]}}

    def get(self, options, origin=None, credential_id=None):
        """The answer to ``navigator.credentials.get({publicKey: options})``: signed by the allowed credential (or,
        with no allow list, a discoverable one of this RP, or ``credential_id``)."""
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials", [])]
        candidates = [c for c in self.credentials if (not allowed or c in allowed)
                      and self.credentials[c][2] == options["rpId"]]
        if credential_id is not None:
            candidates = [credential_id]
        if not candidates:
            raise RuntimeError("NotAllowedError: no credential for this site")
        chosen = candidates[0]
        entry = self.credentials[chosen]
        entry[3] += 1
        auth_data = hashlib.sha256(entry[2].encode()).digest() + bytes([self._flags()]) + struct.pack(">I", entry[3])
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = entry[0].sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(chosen), "rawId": b64url(chosen), "type": "public-key",
                "authenticatorAttachment": "cross-platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": b64url(entry[1])}}
