"""Passkeys and security keys (WebAuthn): the relying party, on Debian's ``python3-fido2``.

``fido2.server.Fido2Server`` checks every registration and assertion (type, origin, challenge, RP ID hash, user
presence and verification, signature). Its API changed between the versions the gateway runs on: Debian 12 ships
0.9.1, Debian 13 1.2.0, and the test venv has 2.2.1 (the first that allows its ``cryptography``). The differences
are kept in this file only:

- the browser's options are built here, not serialised from the library's option objects (whose JSON form differs
  in each version); the library makes and checks the challenge state;
- 0.9 and 1.x take the response's parts as objects (0.9: ``fido2.client.ClientData`` and ``fido2.ctap2``'s,
  1.x: ``fido2.webauthn``'s); 2.x takes the browser's standard JSON (``PublicKeyCredential.toJSON()``).

A credential is stored as the bytes of its ``AttestedCredentialData`` (id and COSE public key), the same
in every version.
"""

import base64
import inspect
import json
import os

from fido2 import webauthn as _fido2_webauthn
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity

# Told apart by their API (2.x has no __version__): 0.9 keeps the CTAP types in fido2.ctap2 and the client data in
# fido2.client; 2.x's register_complete takes the browser's JSON and nothing else.
if not hasattr(_fido2_webauthn, "CollectedClientData"):
    from fido2.client import ClientData as _ClientData
    from fido2.ctap2 import AttestationObject as _AttestationObject
    from fido2.ctap2 import AttestedCredentialData as _AttestedCredentialData
    from fido2.ctap2 import AuthenticatorData as _AuthenticatorData
else:
    from fido2.webauthn import AttestationObject as _AttestationObject
    from fido2.webauthn import AttestedCredentialData as _AttestedCredentialData
    from fido2.webauthn import AuthenticatorData as _AuthenticatorData
    from fido2.webauthn import CollectedClientData as _ClientData
TAKES_JSON = "response" in inspect.signature(Fido2Server.register_complete).parameters
try:
    from fido2.features import webauthn_json_mapping as _json_mapping  # 1.x only
except ImportError:
    _json_mapping = None
if _json_mapping is not None and not TAKES_JSON:
    try:
        _json_mapping.enabled = False  # 1.x's own behaviour, said once (else a DeprecationWarning at every use)
    except ValueError:
        pass  # set already by whoever imported fido2 first; the objects this file hands over work either way

CEREMONY_TIMEOUT_MS = 120000
MAX_CREDENTIALS_PER_USER = 10
# COSE algorithms offered to the authenticator, in order of preference: ES256, EdDSA, RS256.
_ALGORITHMS = (-7, -8, -257)


class Refused(ValueError):
    """A registration or assertion the relying party does not accept (the reason is for the log, not the user)."""


def b64url(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def unb64url(text):
    if not isinstance(text, str) or len(text) > 8192:
        raise Refused("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise Refused("not base64url") from exc


def new_user_handle():
    """The random, opaque WebAuthn user id of an account (never the user name: it is stored on the key)."""
    return os.urandom(32)


class RelyingParty:
    """The gateway as a WebAuthn relying party for ``host`` (the RP ID) and its one origin ``https://host``."""

    def __init__(self, host, name):
        self.host = host
        self.origin = "https://" + host
        self.name = name
        self.server = Fido2Server(PublicKeyCredentialRpEntity(id=host, name=name), attestation="none",
                                  verify_origin=lambda origin: origin == self.origin)

    # -- registration -----------------------------------------------------------------------------

    def registration(self, user_handle, username, display_name, existing):
        """(options for ``navigator.credentials.create``, state to keep server-side until the answer)."""
        challenge = os.urandom(32)
        user = PublicKeyCredentialUserEntity(id=user_handle, name=username, display_name=display_name)
        _options, state = self.server.register_begin(
            user, [_AttestedCredentialData(c) for c in existing], user_verification="preferred", challenge=challenge)
        options = {
            "challenge": b64url(challenge),
            "rp": {"id": self.host, "name": self.name},
            "user": {"id": b64url(user_handle), "name": username, "displayName": display_name},
            "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in _ALGORITHMS],
            "excludeCredentials": [{"type": "public-key", "id": b64url(_AttestedCredentialData(c).credential_id)}
                                   for c in existing],
            "authenticatorSelection": {"residentKey": "preferred", "requireResidentKey": False,
                                       "userVerification": "preferred"},
            "attestation": "none",
            "timeout": CEREMONY_TIMEOUT_MS,
        }
        return options, _plain_state(state)

    def register(self, state, answer):
        """Check the browser's answer (the JSON of a ``PublicKeyCredential``) to ``registration``; returns
        (credential id, stored credential bytes, signature counter). Raises Refused."""
        response = _response(answer, ("clientDataJSON", "attestationObject"))
        try:
            if TAKES_JSON:
                auth_data = self.server.register_complete(state, answer)
            else:
                auth_data = self.server.register_complete(
                    state, _ClientData(response["clientDataJSON"]), _AttestationObject(response["attestationObject"]))
        except Exception as exc:
            raise Refused("registration refused: %s" % exc) from exc
        credential = auth_data.credential_data
        if credential is None:
            raise Refused("registration refused: no credential in the answer")
        return bytes(credential.credential_id), bytes(credential), auth_data.counter

    # -- assertion --------------------------------------------------------------------------------

    def assertion(self, credentials, user_verification):
        """(options for ``navigator.credentials.get``, state). No ``credentials``: any passkey of this site (the
        browser offers the discoverable ones); ``user_verification`` "required" when the key is the only factor."""
        challenge = os.urandom(32)
        attested = [_AttestedCredentialData(c) for c in credentials]
        _options, state = self.server.authenticate_begin(
            attested or None, user_verification=user_verification, challenge=challenge)
        options = {
            "challenge": b64url(challenge),
            "rpId": self.host,
            "allowCredentials": [{"type": "public-key", "id": b64url(c.credential_id)} for c in attested],
            "userVerification": user_verification,
            "timeout": CEREMONY_TIMEOUT_MS,
        }
        return options, _plain_state(state)

    @staticmethod
    def answer_credential_id(answer):
        """The credential id an assertion answer names (to find its account), or Refused."""
        if not isinstance(answer, dict):
            raise Refused("not a credential")
        return unb64url(answer.get("rawId") or answer.get("id"))

    def verify(self, state, credentials, answer):
        """Check an assertion against the account's stored ``credentials``; returns (credential id, signature
        counter, user verified). Raises Refused."""
        response = _response(answer, ("clientDataJSON", "authenticatorData", "signature"))
        credential_id = self.answer_credential_id(answer)
        attested = [_AttestedCredentialData(c) for c in credentials]
        try:
            auth_data = _AuthenticatorData(response["authenticatorData"])
            if TAKES_JSON:
                self.server.authenticate_complete(state, attested, answer)
            else:
                self.server.authenticate_complete(state, attested, credential_id,
                                                  _ClientData(response["clientDataJSON"]), auth_data,
                                                  response["signature"])
        except Exception as exc:
            raise Refused("assertion refused: %s" % exc) from exc
        return credential_id, auth_data.counter, bool(auth_data.is_user_verified())


def _plain_state(state):
    """The library's state as plain JSON (its enums are str subclasses), kept in the database between the steps."""
    return json.loads(json.dumps(dict(state)))


def _response(answer, fields):
    """The decoded parts of a browser answer's ``response``, each checked to be base64url."""
    if (not isinstance(answer, dict) or answer.get("type") != "public-key"
            or not isinstance(answer.get("response"), dict)):
        raise Refused("not a public-key credential")
    return {name: unb64url(answer["response"].get(name)) for name in fields}


def parse_answer(text):
    """The browser's answer from a form field (JSON), or Refused."""
    if not text or len(text) > 12000:
        raise Refused("no answer")
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise Refused("answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise Refused("answer is not an object")
    return answer
