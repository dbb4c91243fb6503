"""Passkeys in the standalone gateway, in process with a software authenticator (the browser test does the same in
Chromium with its virtual authenticator): the store and its migration, adding keys behind a second factor, the
second step with a key, a key alone for the accounts that choose it, a policy that takes only security keys, and
the admin command."""

import html
import json
import re
import sqlite3

import pytest
from gwtest import ORIGIN, PASSWORD, Client, csrf_of, enroll_totp, login, make_gateway, set_password
from oscar_gateway import store, webauthn
from softauthn import SoftAuthenticator
from test_store_admin import run_admin

KEYS_ONLY = {"name": "billing", "decision": "allow", "paths": ["/oscar/billing"], "targets": ["gateway"],
             "include": {"groups": ["staff"]}, "mfa": {"required": True, "allowed_authenticators": ["security_key"]}}


@pytest.fixture
def gateway(tmp_path):
    from gwtest import POLICY

    policy = json.loads(json.dumps(POLICY))
    policy["policies"].insert(-1, KEYS_ONLY)
    gw = make_gateway(tmp_path, access_policy=policy)
    set_password(gw, "drsmith")
    return gw


def options_of(response):
    match = re.search(r'data-options="([^"]+)"', response.text)
    assert match, response.text
    return json.loads(html.unescape(match.group(1)))


def add_passkey(client, key, name="office key"):
    page = client.get("/_gateway/passkeys")
    assert page.status == 200, page.text
    answer = key.create(options_of(page))
    return client.post("/_gateway/passkeys", {"csrf": csrf_of(page), "action": "add", "name": name,
                                              "credential": json.dumps(answer)})


def signed_in_with_totp(gateway, username="drsmith"):
    client = Client(gateway)
    set_password(gateway, username)
    login(client, gateway, username, enroll_totp(gateway, username))
    return client


def password_step(client):
    page = client.get("/_gateway/login")
    response = client.post("/_gateway/login", {"username": "drsmith", "password": PASSWORD, "csrf": csrf_of(page)})
    assert response.status in (200, 303)
    return response


def passkey_alone(client, key, next_path="/oscar/"):
    page = client.get("/_gateway/passkey", query="next=" + next_path)
    answer = key.get(options_of(page))
    return client.post("/_gateway/passkey", {"csrf": csrf_of(page), "next": next_path,
                                             "credential": json.dumps(answer)})


def events(gateway, name):
    return [json.loads(r["detail"]) for r in gateway.store.all("SELECT detail FROM audit WHERE event = ?", (name,))]


# -- store ----------------------------------------------------------------------------------------------------------

def test_migration_6_adds_the_passkey_tables_and_keeps_users(tmp_path):
    path = str(tmp_path / "v3.db")
    store.migrate(path, target=3)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO users (username, created, updated) VALUES ('drsmith', 1, 1)")
    conn.commit()
    conn.close()
    old, new, backup = store.migrate(path)
    assert (old, new) == (3, store.SCHEMA_VERSION) and backup
    db = store.Store(path)
    assert db.user("drsmith") is not None and db.passkeys("drsmith") == []
    assert db.passkey_sign_in("drsmith") == "off"


def test_store_keeps_several_keys_up_to_a_limit_and_checks_counters(tmp_path):
    db = store.Store(str(tmp_path / "g.db"))
    db.add_user("drsmith", "Dr", "", "", "admin")
    handle = db.passkey_user_handle("drsmith", "first")
    assert db.passkey_user_handle("drsmith", "second") == handle == "first"
    assert db.add_passkey("drsmith", "key-a", b"a", 0, "a", limit=2)
    assert not db.add_passkey("drsmith", "key-a", b"a", 0, "again", limit=2)  # one account per credential id
    assert db.add_passkey("drsmith", "key-b", b"b", 5, "b", limit=2)
    assert not db.add_passkey("drsmith", "key-c", b"c", 0, "c", limit=2)
    assert [r["credential_id"] for r in db.passkeys("drsmith")] == ["key-a", "key-b"]
    assert db.use_passkey("key-a", 0) and db.use_passkey("key-a", 0)  # a key that does not count
    assert db.use_passkey("key-b", 6) and not db.use_passkey("key-b", 6)  # a counter that stood still: a clone
    assert not db.use_passkey("key-b", 0)
    assert db.passkey("key-b")["sign_count"] == 6 and db.passkey("key-b")["last_used"]


def test_store_sign_in_mode_needs_a_key_and_falls_back_when_the_last_goes(tmp_path):
    db = store.Store(str(tmp_path / "g.db"))
    db.add_user("drsmith", "Dr", "", "", "admin")
    db.passkey_user_handle("drsmith", "h")
    assert not db.set_passkey_sign_in("drsmith", "only")
    db.add_passkey("drsmith", "key-a", b"a", 0, "a", limit=5)
    db.add_passkey("drsmith", "key-b", b"b", 0, "b", limit=5)
    assert db.set_passkey_sign_in("drsmith", "only") and db.passkey_sign_in("drsmith") == "only"
    assert db.remove_passkeys("drsmith", "key-a") == 1 and db.passkey_sign_in("drsmith") == "only"
    assert db.remove_passkeys("drsmith", "") == 1 and db.passkey_sign_in("drsmith") == "off"


# -- adding keys ------------------------------------------------------------------------------------------------------

def test_adding_a_passkey_needs_a_session_with_a_second_factor(tmp_path):
    gateway = make_gateway(tmp_path, login={"mfa_required": False})
    set_password(gateway, "drsmith")
    anonymous = Client(gateway)
    assert anonymous.get("/_gateway/passkeys").header("Location").startswith(ORIGIN + "/_gateway/login")
    client = Client(gateway)
    page = client.get("/_gateway/login")
    client.post("/_gateway/login", {"username": "drsmith", "password": PASSWORD, "csrf": csrf_of(page)})
    sessions = gateway.store.live_sessions(3600)
    assert [(s["username"], s["mfa"]) for s in sessions] == [("drsmith", 0)]  # signed in, with the password alone
    refused = client.get("/_gateway/passkeys")
    assert refused.status == 403 and "data-webauthn" not in refused.text


def test_several_passkeys_are_added_listed_and_removed_by_their_owner(gateway):
    client = signed_in_with_totp(gateway)
    first, second = SoftAuthenticator(ORIGIN), SoftAuthenticator(ORIGIN)
    assert "Passkey added." in add_passkey(client, first, "office key").text
    response = add_passkey(client, second, "phone")
    assert "Passkey added." in response.text and "office key" in response.text and "phone" in response.text
    assert "script-src 'nonce-" in response.header("Content-Security-Policy")
    again = client.get("/_gateway/passkeys")
    assert len(options_of(again)["excludeCredentials"]) == 2  # the browser is told not to register them twice
    rows = gateway.store.passkeys("drsmith")
    assert [r["name"] for r in rows] == ["office key", "phone"]
    assert [e["name"] for e in events(gateway, "passkey_added")] == ["office key", "phone"]
    # Someone else's key id is not theirs to remove.
    other = signed_in_with_totp(gateway, "reception")
    page = other.get("/_gateway/passkeys")
    refused = other.post("/_gateway/passkeys", {"csrf": csrf_of(page), "action": "remove",
                                                "credential_id": rows[0]["credential_id"]})
    assert "No such passkey." in refused.text and len(gateway.store.passkeys("drsmith")) == 2
    page = client.get("/_gateway/passkeys")
    removed = client.post("/_gateway/passkeys", {"csrf": csrf_of(page), "action": "remove",
                                                 "credential_id": rows[0]["credential_id"]})
    assert "Passkey removed." in removed.text
    assert [r["name"] for r in gateway.store.passkeys("drsmith")] == ["phone"]


def test_a_registration_from_another_origin_or_a_stale_page_is_refused(gateway):
    client = signed_in_with_totp(gateway)
    page = client.get("/_gateway/passkeys")
    answer = SoftAuthenticator("https://evil.test").create(options_of(page))
    response = client.post("/_gateway/passkeys", {"csrf": csrf_of(page), "action": "add", "name": "x",
                                                  "credential": json.dumps(answer)})
    assert "could not be added" in response.text and gateway.store.passkeys("drsmith") == []
    # Each view has its own challenge: an answer to an older page does not fit the newer one.
    old = client.get("/_gateway/passkeys")
    client.get("/_gateway/passkeys")
    answer = SoftAuthenticator(ORIGIN).create(options_of(old))
    response = client.post("/_gateway/passkeys", {"csrf": csrf_of(old), "action": "add", "name": "x",
                                                  "credential": json.dumps(answer)})
    assert "could not be added" in response.text and gateway.store.passkeys("drsmith") == []


# -- signing in -------------------------------------------------------------------------------------------------------

def test_a_passkey_as_the_second_step(gateway):
    key = SoftAuthenticator(ORIGIN)
    add_passkey(signed_in_with_totp(gateway), key)
    client = Client(gateway)
    assert password_step(client).header("Location").endswith("/_gateway/mfa")
    page = client.get("/_gateway/mfa")
    options = options_of(page)
    assert options["userVerification"] == "discouraged" and len(options["allowCredentials"]) == 1
    assert 'id="code"' in page.text  # the TOTP code stays possible
    response = client.post("/_gateway/mfa", {"csrf": csrf_of(page), "credential": json.dumps(key.get(options))})
    assert response.status == 303, response.text
    assert client.auth("/oscar/").status == 200
    assert events(gateway, "login")[-1]["methods"] == ["pwd", "hwk", "mfa"]


def test_a_wrong_key_at_the_second_step_is_a_failure(gateway):
    add_passkey(signed_in_with_totp(gateway), SoftAuthenticator(ORIGIN))
    client = Client(gateway)
    password_step(client)
    page = client.get("/_gateway/mfa")
    stranger = SoftAuthenticator(ORIGIN)
    stranger.create({"rp": {"id": "emr.clinic.test"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    answer = stranger.get(dict(options_of(page), allowCredentials=[]))
    response = client.post("/_gateway/mfa", {"csrf": csrf_of(page), "credential": json.dumps(answer)})
    assert response.status == 200 and "That did not work" in response.text
    assert client.auth("/oscar/").status == 401
    assert events(gateway, "mfa_failed")


def test_a_passkey_alone_only_for_accounts_that_choose_it(gateway, tmp_path):
    key = SoftAuthenticator(ORIGIN)
    add_passkey(signed_in_with_totp(gateway), key)
    client = Client(gateway)
    refused = passkey_alone(client, key)
    assert refused.status == 200 and "That did not work" in refused.text
    assert events(gateway, "passkey_login_failed")[-1]["reason"] == "account signs in with password and second step"
    run_admin(gateway, tmp_path, "passkey-sign-in", "drsmith", "on")
    page = client.get("/_gateway/passkey")
    assert options_of(page)["userVerification"] == "required" and options_of(page)["allowCredentials"] == []
    response = passkey_alone(client, key, "/oscar/demographic/")
    assert response.status == 303 and response.header("Location") == ORIGIN + "/oscar/demographic/"
    assert client.auth("/oscar/").status == 200
    assert events(gateway, "login")[-1]["methods"] == ["hwk", "mfa"]
    # Without user verification (no PIN or fingerprint on the key) a key alone is one factor: refused.
    lazy = SoftAuthenticator(ORIGIN, user_verified=False)
    lazy.credentials = key.credentials
    assert "That did not work" in passkey_alone(Client(gateway), lazy).text


def test_passkey_only_refuses_the_right_password_and_recovery_is_the_admins(gateway, tmp_path):
    key = SoftAuthenticator(ORIGIN)
    client = signed_in_with_totp(gateway)
    add_passkey(client, key)
    page = client.get("/_gateway/passkeys")
    saved = client.post("/_gateway/passkeys", {"csrf": csrf_of(page), "action": "sign_in", "mode": "only"})
    assert "Saved: you sign in with a passkey alone (no password)." in saved.text
    phished = Client(gateway)
    response = password_step(phished)
    assert response.status == 200 and "Sign-in failed" in response.text
    assert events(gateway, "login_refused_passkey_only")
    assert passkey_alone(Client(gateway), key).status == 303
    # The key is lost: the administrator removes it, and password and TOTP work again.
    code, out = run_admin(gateway, tmp_path, "passkeys", "drsmith", "--format", "json")
    listed = json.loads(out)
    assert code == 0 and [k["name"] for k in listed] == ["office key"] and listed[0]["sign_in"] == "only"
    code, out = run_admin(gateway, tmp_path, "passkey-remove", "drsmith", listed[0]["id"])
    assert code == 0 and "1 passkey(s) of drsmith removed (now signs in with off)" in out
    assert gateway.store.passkeys("drsmith") == [] and client.auth("/oscar/").status == 401  # sessions revoked
    assert password_step(Client(gateway)).header("Location").endswith("/_gateway/mfa")
    with pytest.raises(SystemExit, match="no passkey"):
        run_admin(gateway, tmp_path, "passkey-sign-in", "drsmith", "only")


def test_a_policy_for_security_keys_refuses_a_totp_session_and_takes_a_key(gateway):
    key = SoftAuthenticator(ORIGIN)
    client = signed_in_with_totp(gateway)
    add_passkey(client, key)
    assert client.auth("/oscar/").status == 200
    refused = client.auth("/oscar/billing/invoice.jsp")
    assert refused.status == 401
    assert refused.header("Location").startswith(ORIGIN + "/_gateway/passkey?next=")
    record = events(gateway, "authenticator_refused")[-1]
    assert record["allowed"] == ["security_key"] and "otp" in record["methods"]
    # The step up: the same person's key, though their account signs in with password and second step.
    response = passkey_alone(client, key, "/oscar/billing/invoice.jsp")
    assert response.status == 303, response.text
    assert client.auth("/oscar/billing/invoice.jsp").status == 200
    # Someone else's session does not step up with drsmith's key.
    other = signed_in_with_totp(gateway, "reception")
    assert "That did not work" in passkey_alone(other, key).text


def test_a_passkey_of_a_disabled_account_signs_nobody_in(gateway, tmp_path):
    key = SoftAuthenticator(ORIGIN)
    add_passkey(signed_in_with_totp(gateway), key)
    run_admin(gateway, tmp_path, "passkey-sign-in", "drsmith", "on")
    run_admin(gateway, tmp_path, "user-disable", "drsmith")
    assert "That did not work" in passkey_alone(Client(gateway), key).text
    assert events(gateway, "passkey_login_failed")[-1]["reason"] == "account disabled or expired"


def test_an_answer_is_used_once(gateway, tmp_path):
    key = SoftAuthenticator(ORIGIN)
    add_passkey(signed_in_with_totp(gateway), key)
    run_admin(gateway, tmp_path, "passkey-sign-in", "drsmith", "on")
    client = Client(gateway)
    page = client.get("/_gateway/passkey")
    fields = {"csrf": csrf_of(page), "next": "/oscar/", "credential": json.dumps(key.get(options_of(page)))}
    replay = Client(gateway)
    replay.jar = dict(client.jar)  # the same pending sign-in cookie, before the answer ends it
    assert "__Host-oscar-gw-login" in replay.jar
    assert client.post("/_gateway/passkey", fields).status == 303
    response = replay.post("/_gateway/passkey", fields)
    assert response.status == 200 and "__Host-oscar-gw" not in replay.jar  # the challenge went with the first answer
    assert events(gateway, "passkey_login_failed")[-1]["reason"] == "no pending sign-in"


def test_relying_party_is_the_public_host(gateway):
    assert isinstance(gateway.routes["/_gateway/passkey"].__self__.rp, webauthn.RelyingParty)
    assert gateway.routes["/_gateway/passkey"].__self__.rp.origin == ORIGIN


def test_passkey_page_loads_cannot_grow_the_pending_table_without_bound(gateway, tmp_path, monkeypatch):
    """Anyone may load the passkey page, and each load starts a challenge: only the newest few per address are kept,
    and a bounded number in all; the flooding address's newest challenge still signs in."""
    monkeypatch.setattr(store, "PENDING_PER_STAGE", 30)

    def pending(*ip):
        sql = "SELECT COUNT(*) FROM pending_logins WHERE stage = 'passkey'" + (" AND ip = ?" if ip else "")
        return gateway.store.execute(sql, ip).fetchone()[0]

    key = SoftAuthenticator(ORIGIN)
    add_passkey(signed_in_with_totp(gateway), key)
    run_admin(gateway, tmp_path, "passkey-sign-in", "drsmith", "on")
    flood = Client(gateway, ip="198.51.100.70")
    for _load in range(store.PENDING_PER_ADDRESS + 15):
        assert flood.get("/_gateway/passkey").status == 200
    assert pending("198.51.100.70") == store.PENDING_PER_ADDRESS
    for index in range(20):  # many addresses: the stage's limit in all
        assert Client(gateway, ip="198.51.100.%d" % (100 + index)).get("/_gateway/passkey").status == 200
    assert pending() == 30
    response = passkey_alone(flood, key)
    assert response.status == 303 and flood.auth("/oscar/").status == 200
