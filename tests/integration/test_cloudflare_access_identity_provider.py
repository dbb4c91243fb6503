"""cloudflare_access_identity_provider, run through ansible-playbook against the fake Cloudflare API."""

import json

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

SECRET = "okta-client-secret-do-not-print"
CS = "test-client-secret-value"
OKTA = {"name": "Clinic Okta", "type": "okta", "client_secret": SECRET,
        "config": {"client_id": "0oa1", "okta_account": "https://clinic.okta.com", "claims": ["groups"]}}


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def test_one_time_pin_lifecycle(fake, tmp_path):
    args = {"name": "Email one-time PIN", "type": "onetimepin"}
    created = run_module(fake, tmp_path, "cloudflare_access_identity_provider", args)
    assert created["changed"] is True and created["_writes"] == 1 and fake.calls("POST")[0].status == 201
    assert fake.objects("idps")[0]["config"] == {}
    again = run_module(fake, tmp_path, "cloudflare_access_identity_provider", args)
    assert again["changed"] is False and (again["_reads"], again["_writes"]) == (1, 0)
    absent = dict(args, state="absent")
    assert run_module(fake, tmp_path, "cloudflare_access_identity_provider", absent, check=True)["_writes"] == 0
    assert fake.objects("idps")
    deleted = run_module(fake, tmp_path, "cloudflare_access_identity_provider", absent)
    assert deleted["changed"] is True and not fake.objects("idps") and fake.calls("DELETE")[0].status == 202
    assert run_module(fake, tmp_path, "cloudflare_access_identity_provider", absent)["changed"] is False


def test_oauth_provider_secret_is_sent_but_never_shown_or_compared(fake, tmp_path):
    created = run_module(fake, tmp_path, "cloudflare_access_identity_provider", OKTA)
    assert created["changed"] is True
    stored = fake.objects("idps")[0]
    assert stored["type"] == "okta" and stored["config"]["client_secret"] == SECRET
    assert fake.calls("POST")[0].body["config"]["client_secret"] == SECRET
    assert SECRET not in json.dumps({k: v for k, v in created.items() if k != "_stdout"})
    assert SECRET not in created["_stdout"]
    assert created["diff"]["after"]["config"]["client_secret"] == "********"

    again = run_module(fake, tmp_path, "cloudflare_access_identity_provider", dict(OKTA, client_secret="another"))
    assert again["changed"] is False and again["_writes"] == 0  # on_create: a secret is not compared

    moved = dict(OKTA, config=dict(OKTA["config"], client_id="0oa2"))
    moved.pop("client_secret")
    checked = run_module(fake, tmp_path, "cloudflare_access_identity_provider", moved, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert (checked["diff"]["before"]["config"]["client_id"], checked["diff"]["after"]["config"]["client_id"]) == \
        ("0oa1", "0oa2")
    updated = run_module(fake, tmp_path, "cloudflare_access_identity_provider", moved)
    assert updated["changed"] is True and [c.method for c in fake.calls()] == ["GET", "PUT"]
    assert "client_secret" not in fake.calls("PUT")[0].body["config"]
    assert fake.objects("idps")[0]["config"]["client_secret"] == SECRET  # kept

    always = dict(OKTA, config=moved["config"], client_secret="rolled", update_secret="always")
    rolled = run_module(fake, tmp_path, "cloudflare_access_identity_provider", always)
    assert rolled["changed"] is True and fake.objects("idps")[0]["config"]["client_secret"] == "rolled"
    assert rolled["diff"]["after"]["config"]["client_secret"] == "******** (new)"


BAD = [
    ({"type": "okta", "config": {"client_id": "x", "okta_account": "https://a.okta.com"}},
     "client_secret is required to create a okta login method"),
    ({"type": "okta", "client_secret": CS, "config": {"client_id": "x", "okta_account": "http://a.okta.com"}},
     "invalid argument: config.okta_account: 'http://a.okta.com' must be an https:// URL"),
    ({"type": "azure_ad", "client_secret": CS, "config": {"client_id": "x", "directory_id": "d", "tenant": "t"}},
     "invalid argument: config.tenant: is not a known key; expected one of:"),
    ({"type": "azure_ad", "client_secret": CS, "config": {"client_id": "x", "directory_id": "d", "prompt": "always"}},
     "invalid argument: config.prompt: 'always' must be one of: login, select_account, none"),
    ({"type": "google_workspace", "config": {"client_id": "x", "apps_domain": "clinic.example",
                                             "client_secret": CS}},
     "config.client_secret: pass the secret in the client_secret option"),
    ({"type": "saml", "config": {"issuer_url": "https://i", "sso_target_url": "https://s", "idp_public_certs": []}},
     "invalid argument: config.idp_public_certs: must list at least one certificate"),
    ({"type": "oidc", "client_secret": CS, "config": {"client_id": "x", "auth_url": "https://a"}},
     "invalid argument: config.token_url: is required for a oidc login method"),
    ({"type": "ldap"}, "value of type must be one of"),
    ({}, "state is present but all of the following are missing: type"),
]


def test_bad_arguments(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [("cloudflare_access_identity_provider", dict(case[0], name="idp%d" % i))
                                         for i, case in enumerate(BAD)])
    for (args, message), result in zip(BAD, results):
        assert result["failed"] is True, args
        assert message in result["msg"], (args, result["msg"])
    assert not [c for c in fake.calls() if c.method != "GET"]


def test_every_supported_type_is_accepted_by_the_api_contract(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [
        ("cloudflare_access_identity_provider", {"name": "otp", "type": "onetimepin"}),
        ("cloudflare_access_identity_provider", {"name": "saml", "type": "saml", "config": {
            "issuer_url": "https://idp.example", "sso_target_url": "https://idp.example/sso",
            "idp_public_certs": ["MIIC"], "sign_request": True, "email_attribute_name": "email"}}),
        ("cloudflare_access_identity_provider", {"name": "entra", "type": "azure_ad", "client_secret": CS, "config": {
            "client_id": "c", "directory_id": "d", "support_groups": True, "prompt": "login"}}),
        ("cloudflare_access_identity_provider", {"name": "google", "type": "google_workspace", "client_secret": CS,
                                                 "config": {"client_id": "c", "apps_domain": "clinic.example"}}),
        ("cloudflare_access_identity_provider", dict(OKTA, name="okta")),
        ("cloudflare_access_identity_provider", {"name": "oidc", "type": "oidc", "client_secret": CS, "config": {
            "client_id": "c", "auth_url": "https://idp/auth", "token_url": "https://idp/token",
            "certs_url": "https://idp/certs", "scopes": ["openid", "email"], "pkce_enabled": True}}),
    ])
    assert [r["changed"] for r in results] == [True] * 6, [r.get("msg") for r in results]
    assert sorted(i["type"] for i in fake.objects("idps")) == ["azureAD", "google-apps", "oidc", "okta",
                                                               "onetimepin", "saml"]
    retyped = {"name": "okta", "type": "oidc", "client_secret": CS, "config": {
        "client_id": "c", "auth_url": "https://a", "token_url": "https://t", "certs_url": "https://c"}}
    result = run_module(fake, tmp_path, "cloudflare_access_identity_provider", retyped)
    assert result["failed"] is True and result["_writes"] == 0
    assert result["msg"].startswith("the login method 'okta' exists with type 'okta'; Cloudflare cannot change")


def test_pkce_is_an_oidc_setting_only(fake, tmp_path):
    """Only OIDC has pkce_enabled in Cloudflare's API (the SDK's AccessOIDCConfig); elsewhere it is refused."""
    results = run_tasks(fake, tmp_path, [
        ("cloudflare_access_identity_provider",
         dict(OKTA, name="okta", config=dict(OKTA["config"], pkce_enabled=True))),
        ("cloudflare_access_identity_provider", {"name": "entra", "type": "azure_ad", "client_secret": CS, "config": {
            "client_id": "c", "directory_id": "d", "pkce_enabled": False}}),
    ])
    assert [r["failed"] for r in results] == [True, True]
    assert "invalid argument: config.pkce_enabled: is not a known key" in results[0]["msg"]
    assert "invalid argument: config.pkce_enabled: is not a known key" in results[1]["msg"]
    assert fake.calls() == [] and not fake.objects("idps")
