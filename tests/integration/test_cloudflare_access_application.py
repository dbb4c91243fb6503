"""cloudflare_access_application, run through ansible-playbook against the fake Cloudflare API."""

import re

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

HOST = "emr.demo-clinic.example"


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


SETUP = [
    ("cloudflare_access_identity_provider", {"name": "Email one-time PIN", "type": "onetimepin"}),
    ("cloudflare_access_identity_provider", {"name": "Clinic SAML", "type": "saml", "config": {
        "issuer_url": "https://idp.clinic.example", "sso_target_url": "https://idp.clinic.example/sso",
        "idp_public_certs": ["MIIC..."]}}),
    ("cloudflare_access_policy", {"name": "clinicians", "decision": "allow",
                                  "include": {"email_domains": ["demo-clinic.example"]}}),
    ("cloudflare_access_policy", {"name": "pharmacy", "decision": "bypass",
                                  "include": {"ip_ranges": ["203.0.113.10/32"]}}),
]

APP = {
    "name": "OSCAR EMR",
    "domain": HOST,
    "session_duration": "12h",
    "allowed_identity_providers": ["Email one-time PIN"],
    "auto_redirect_to_identity": True,
    "enable_binding_cookie": True,
    "same_site_cookie_attribute": "strict",
    "policies": ["clinicians"],
}


def test_application_create_rerun_update_check_and_delete(fake, tmp_path):
    assert all(r["changed"] for r in run_tasks(fake, tmp_path, SETUP))
    idps = {o["name"]: o["id"] for o in fake.objects("idps")}
    policies = {o["name"]: o["id"] for o in fake.objects("policies")}

    created = run_module(fake, tmp_path, "cloudflare_access_application", APP)
    assert created["changed"] is True and created["_writes"] == 1
    assert re.match(r"^[0-9a-f]{64}$", created["aud"])
    (app,) = fake.objects("apps")
    assert app["type"] == "self_hosted" and app["domain"] == HOST
    assert app["destinations"] == [{"type": "public", "uri": HOST}]
    assert app["allowed_idps"] == [idps["Email one-time PIN"]] and app["auto_redirect_to_identity"] is True
    assert app["_links"] == [{"id": policies["clinicians"], "precedence": 1}]
    assert (app["session_duration"], app["same_site_cookie_attribute"], app["enable_binding_cookie"],
            app["http_only_cookie_attribute"]) == ("12h", "strict", True, True)

    again = run_module(fake, tmp_path, "cloudflare_access_application", dict(APP, session_duration="720m"))
    assert again["changed"] is False and again["_writes"] == 0 and again["aud"] == created["aud"]
    # the application once; the login methods once, to name the ids it allows
    assert again["_calls"] == ["GET /accounts/%s/access/apps" % fake.account_id,
                               "GET /accounts/%s/access/identity_providers" % fake.account_id]

    changed = dict(APP, policies=[{"name": "pharmacy", "precedence": 1}, {"name": "clinicians", "precedence": 2}],
                   allowed_identity_providers=["Email one-time PIN", "Clinic SAML"], auto_redirect_to_identity=False,
                   session_duration="8h")
    checked = run_module(fake, tmp_path, "cloudflare_access_application", changed, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert fake.objects("apps")[0]["_links"] == [{"id": policies["clinicians"], "precedence": 1}]
    before, after = checked["diff"]["before"], checked["diff"]["after"]
    assert before["policies"] == [{"name": "clinicians", "precedence": 1}]
    assert after["policies"] == [{"name": "pharmacy", "precedence": 1}, {"name": "clinicians", "precedence": 2}]
    assert after["allowed_identity_providers"] == ["Clinic SAML", "Email one-time PIN"]
    differ = {k for k in before if before[k] != after[k]}
    assert differ == {"policies", "allowed_identity_providers", "auto_redirect_to_identity", "session_duration"}

    updated = run_module(fake, tmp_path, "cloudflare_access_application", changed)
    assert updated["changed"] is True and updated["_writes"] == 1 and updated["aud"] == created["aud"]
    assert fake.objects("apps")[0]["_links"] == [{"id": policies["pharmacy"], "precedence": 1},
                                                 {"id": policies["clinicians"], "precedence": 2}]
    assert run_module(fake, tmp_path, "cloudflare_access_application", changed)["changed"] is False

    in_use = run_module(fake, tmp_path, "cloudflare_access_policy", {"name": "pharmacy", "state": "absent"})
    assert in_use["failed"] is True and "still used by application(s) OSCAR EMR" in in_use["msg"]

    absent = {"name": "OSCAR EMR", "state": "absent"}
    assert run_module(fake, tmp_path, "cloudflare_access_application", absent, check=True)["_writes"] == 0
    deleted = run_module(fake, tmp_path, "cloudflare_access_application", absent)
    assert deleted["changed"] is True and deleted["aud"] == created["aud"] and not fake.objects("apps")
    assert fake.calls("DELETE")[0].status == 202
    assert run_module(fake, tmp_path, "cloudflare_access_application", absent)["changed"] is False


def test_a_path_application_and_a_domain_clash(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [
        SETUP[0],
        ("cloudflare_access_application", {"name": "OSCAR", "domain": HOST}),
        ("cloudflare_access_application", {"name": "OSCAR web services", "domain": HOST + "/oscar/ws/",
                                           "app_launcher_visible": False}),
        ("cloudflare_access_application", {"name": "OSCAR copy", "domain": HOST}),
    ])
    assert [r.get("changed") for r in results[:3]] == [True, True, True]
    ws = next(a for a in fake.objects("apps") if a["name"] == "OSCAR web services")
    assert ws["domain"] == HOST + "/oscar/ws" and ws["app_launcher_visible"] is False
    assert results[1]["aud"] != results[2]["aud"]
    clash = results[3]
    assert clash["failed"] is True
    assert "another Access application already protects %s (Cloudflare error 11010)" % HOST in clash["msg"]


BAD_APPS = [
    ({"domain": "https://" + HOST}, "invalid argument: domain: 'https://%s' must not include a scheme" % HOST),
    ({"domain": HOST, "session_duration": "1d"}, "invalid argument: session_duration: '1d' is not a valid duration"),
    ({"domain": HOST, "auto_redirect_to_identity": True},
     "invalid argument: auto_redirect_to_identity: needs exactly one allowed_identity_providers entry (0 given)"),
    ({"domain": HOST, "policies": ["a", {"name": "b", "precedence": 1}]},
     "invalid argument: policies[1].precedence: 1 is used twice"),
    ({"domain": HOST, "policies": [{"precedence": 2}]},
     "invalid argument: policies[0]: {'precedence': 2} must be a policy name or a mapping with name and precedence"),
    ({"domain": HOST, "destinations": ["%s/oscar/../admin" % HOST]},
     "invalid argument: destinations[0]: '/oscar/../admin' must not contain empty, '.' or '..' segments"),
    ({"domain": HOST, "same_site_cookie_attribute": "loose"}, "value of same_site_cookie_attribute must be one of"),
    ({}, "state is present but all of the following are missing: domain"),
]


def test_bad_arguments_fail_with_clear_messages_and_write_nothing(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [("cloudflare_access_application", dict(case[0], name="a%d" % i))
                                         for i, case in enumerate(BAD_APPS)])
    for (args, message), result in zip(BAD_APPS, results):
        assert result["failed"] is True, args
        assert message in result["msg"], (args, result["msg"])
    assert fake.calls() == []
    unknown = run_module(fake, tmp_path, "cloudflare_access_application",
                         {"name": "a", "domain": HOST, "policies": ["nobody-made-me"]})
    assert unknown["msg"] == "invalid argument: policies[0]: 'nobody-made-me' does not name an existing reusable " \
                             "Access policy in the account"
    assert unknown["_writes"] == 0


def test_application_mfa_becomes_its_mfa_config(fake, tmp_path):
    run_tasks(fake, tmp_path, SETUP)
    plain = run_module(fake, tmp_path, "cloudflare_access_application", APP)
    assert plain["changed"] is True and "mfa_config" not in fake.calls("POST")[0].body

    mfa = {"allowed_authenticators": ["security_key", "totp"], "session_duration": "12h"}
    checked = run_module(fake, tmp_path, "cloudflare_access_application", dict(APP, mfa=mfa), check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert (checked["diff"]["before"]["mfa"], checked["diff"]["after"]["mfa"]) == (None, {
        "mfa_disabled": False, "allowed_authenticators": ["security_key", "totp"], "session_duration": "12h"})
    applied = run_module(fake, tmp_path, "cloudflare_access_application", dict(APP, mfa=mfa))
    assert applied["changed"] is True and fake.calls("PUT")[0].body["mfa_config"] == {
        "mfa_disabled": False, "allowed_authenticators": ["security_key", "totp"], "session_duration": "12h"}
    same = run_module(fake, tmp_path, "cloudflare_access_application",
                      dict(APP, mfa=dict(mfa, session_duration="720m")))
    assert same["changed"] is False and same["_writes"] == 0
    # a task without mfa leaves the application's MFA as it is
    untouched = run_module(fake, tmp_path, "cloudflare_access_application", dict(APP, session_duration="8h"))
    assert untouched["changed"] is True and fake.calls("PUT")[0].body["mfa_config"]["session_duration"] == "12h"

    off = run_module(fake, tmp_path, "cloudflare_access_application", dict(APP, mfa={"required": False}))
    assert off["changed"] is True and fake.calls("PUT")[0].body["mfa_config"] == {"mfa_disabled": True}

    too_long = run_module(fake, tmp_path, "cloudflare_access_application",
                          dict(APP, mfa=dict(mfa, session_duration="730h")))
    assert too_long["failed"] is True and too_long["_writes"] == 0
    assert "invalid argument: mfa.session_duration: '730h' is longer than Cloudflare's maximum of 720h" \
        in too_long["msg"]
