"""The gateway's WebAuthn relying party (oscar_gateway/webauthn.py) against a software authenticator: what it
accepts and what it refuses, on whichever fido2 is importable (the venv's 2.2 here). The gateway scenario's verify
(molecule/gateway/tests/test_gateway.py) runs a round trip on Debian 12's python3-fido2 0.9.1 and 13's 1.2.0; this
file passes with those versions on PYTHONPATH too."""

import json

import pytest
from gwtest import HOST, ORIGIN
from oscar_gateway import webauthn
from softauthn import SoftAuthenticator, b64url, unb64url


@pytest.fixture
def rp():
    return webauthn.RelyingParty(HOST, "Lakeside Family Clinic")


def _register(rp, key, existing=()):
    options, state = rp.registration(b"\x01" * 32, "drsmith", "Dr. Ann Smith", list(existing))
    json.dumps(state)  # kept in the database between the two steps
    return rp.register(state, key.create(options))


def test_registration_then_assertion_round_trip(rp):
    key = SoftAuthenticator(ORIGIN)
    credential_id, stored, counter = _register(rp, key)
    assert credential_id in key.credentials and counter == 0
    options, state = rp.assertion([stored], "required")
    assert [unb64url(c["id"]) for c in options["allowCredentials"]] == [credential_id]
    found, counter, verified = rp.verify(state, [stored], key.get(options))
    assert found == credential_id and counter == 1 and verified


def test_discoverable_assertion_names_its_credential(rp):
    key = SoftAuthenticator(ORIGIN)
    credential_id, stored, _counter = _register(rp, key)
    options, state = rp.assertion([], "required")
    assert options["allowCredentials"] == []
    answer = key.get(options)
    assert rp.answer_credential_id(answer) == credential_id
    assert rp.verify(state, [stored], answer)[0] == credential_id


def test_excluded_credentials_are_the_accounts_keys(rp):
    key = SoftAuthenticator(ORIGIN)
    credential_id, stored, _counter = _register(rp, key)
    options, _state = rp.registration(b"\x01" * 32, "drsmith", "Dr. Ann Smith", [stored])
    assert [unb64url(c["id"]) for c in options["excludeCredentials"]] == [credential_id]
    with pytest.raises(RuntimeError, match="InvalidStateError"):
        key.create(options)


def test_wrong_origin_is_refused(rp):
    key = SoftAuthenticator("https://evil.test")
    options, state = rp.registration(b"\x01" * 32, "drsmith", "Dr. Ann Smith", [])
    with pytest.raises(webauthn.Refused, match="registration refused"):
        rp.register(state, key.create(options))
    good = SoftAuthenticator(ORIGIN)
    _cid, stored, _counter = _register(rp, good)
    options, state = rp.assertion([stored], "preferred")
    with pytest.raises(webauthn.Refused, match="assertion refused"):
        rp.verify(state, [stored], good.get(options, origin="https://" + HOST + ".evil.test"))


def test_an_answer_to_another_challenge_is_refused(rp):
    key = SoftAuthenticator(ORIGIN)
    _cid, stored, _counter = _register(rp, key)
    options, _state = rp.assertion([stored], "preferred")
    _other_options, other_state = rp.assertion([stored], "preferred")
    with pytest.raises(webauthn.Refused):
        rp.verify(other_state, [stored], key.get(options))


def test_a_tampered_signature_is_refused(rp):
    key = SoftAuthenticator(ORIGIN)
    _cid, stored, _counter = _register(rp, key)
    options, state = rp.assertion([stored], "preferred")
    answer = key.get(options)
    signature = bytearray(unb64url(answer["response"]["signature"]))
    signature[-1] ^= 1
    answer["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(webauthn.Refused):
        rp.verify(state, [stored], answer)


def test_another_accounts_key_is_refused(rp):
    mine, theirs = SoftAuthenticator(ORIGIN), SoftAuthenticator(ORIGIN)
    _cid, my_stored, _counter = _register(rp, mine)
    _register(rp, theirs)
    options, state = rp.assertion([], "preferred")
    with pytest.raises(webauthn.Refused):
        rp.verify(state, [my_stored], theirs.get(options))


def test_user_verification_required_refuses_presence_only(rp):
    key = SoftAuthenticator(ORIGIN, user_verified=False)
    _cid, stored, _counter = _register(rp, key)
    options, state = rp.assertion([stored], "required")
    with pytest.raises(webauthn.Refused, match=r"[Vv]erif"):
        rp.verify(state, [stored], key.get(options))
    options, state = rp.assertion([stored], "discouraged")
    assert rp.verify(state, [stored], key.get(options))[2] is False


@pytest.mark.parametrize("text", ["", "[]", "{", '{"type": "public-key", "response": {"signature": "!!"}}'])
def test_malformed_answers_are_refused(rp, text):
    with pytest.raises(webauthn.Refused):
        answer = webauthn.parse_answer(text)
        rp.verify({"challenge": "AAAA", "user_verification": "preferred"}, [], answer)
