"""cloudflare_access_policy and cloudflare_access_group, run through ansible-playbook against the fake."""

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


SETUP = [
    ("cloudflare_access_identity_provider", {"name": "Email one-time PIN", "type": "onetimepin"}),
    ("cloudflare_access_group", {"name": "physicians", "include": {"emails": ["dr.a@clinic.example"]}}),
    ("cloudflare_access_group", {"name": "managers", "include": {"emails": ["boss@clinic.example"]}}),
]

CLINICIANS = {
    "name": "clinicians",
    "decision": "allow",
    "include": {"groups": ["physicians"], "emails": ["locum@locums.example"]},
    "require": {"login_methods": ["Email one-time PIN"], "countries": ["ca"]},
    "exclude": {"emails": ["former@clinic.example"]},
    "mfa": {"allowed_authenticators": ["totp", "security_key"]},
    "session_duration": "8h",
}


def ids(fake, kind):
    return {o["name"]: o["id"] for o in fake.objects(kind)}


def test_policy_create_rerun_update_check_and_delete(fake, tmp_path):
    assert all(r["changed"] for r in run_tasks(fake, tmp_path, SETUP))
    groups, idps = ids(fake, "groups"), ids(fake, "idps")

    created = run_module(fake, tmp_path, "cloudflare_access_policy", CLINICIANS)
    assert created["changed"] is True and created["_writes"] == 1
    (stored,) = fake.objects("policies")
    assert created["id"] == stored["id"]
    assert stored["decision"] == "allow"
    assert sorted(map(str, stored["include"])) == sorted(map(str, [
        {"email": {"email": "locum@locums.example"}}, {"group": {"id": groups["physicians"]}}]))
    assert sorted(map(str, stored["require"])) == sorted(map(str, [
        {"geo": {"country_code": "CA"}}, {"login_method": {"id": idps["Email one-time PIN"]}}]))
    assert stored["exclude"] == [{"email": {"email": "former@clinic.example"}}]
    assert stored["mfa_config"] == {"mfa_disabled": False, "allowed_authenticators": ["totp", "security_key"]}
    assert stored["session_duration"] == "8h"
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"]["include"] == {"emails": ["locum@locums.example"], "groups": ["physicians"]}

    again = run_module(fake, tmp_path, "cloudflare_access_policy", dict(CLINICIANS, session_duration="480m"))
    assert again["changed"] is False and again["_writes"] == 0
    # the policy is read once; the groups and login methods it names are read once each to map ids to names
    assert sorted(again["_calls"]) == sorted("GET /accounts/%s/access/%s" % (fake.account_id, c)
                                             for c in ("policies", "groups", "identity_providers"))
    assert again["diff"]["before"] == again["diff"]["after"]

    changed = dict(CLINICIANS, session_duration="4h", include={"groups": ["physicians", "managers"]},
                   purpose_justification_required=True, purpose_justification_prompt="Why?")
    checked = run_module(fake, tmp_path, "cloudflare_access_policy", changed, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert fake.objects("policies")[0]["session_duration"] == "8h"
    before, after = checked["diff"]["before"], checked["diff"]["after"]
    assert (before["session_duration"], after["session_duration"]) == ("8h", "4h")
    assert before["include"] == {"emails": ["locum@locums.example"], "groups": ["physicians"]}
    assert after["include"] == {"groups": ["managers", "physicians"]}
    assert (before["purpose_justification_prompt"], after["purpose_justification_prompt"]) == (None, "Why?")
    differ = {k for k in before if before[k] != after[k]}
    assert differ == {"session_duration", "include", "purpose_justification_required", "purpose_justification_prompt"}

    updated = run_module(fake, tmp_path, "cloudflare_access_policy", changed)
    assert updated["changed"] is True and updated["_writes"] == 1 and updated["diff"] == checked["diff"]
    assert [c.method for c in fake.calls() if c.method != "GET"] == ["PUT"]
    stored = fake.objects("policies")[0]
    assert stored["session_duration"] == "4h" and stored["purpose_justification_prompt"] == "Why?"
    assert run_module(fake, tmp_path, "cloudflare_access_policy", changed)["changed"] is False

    absent = {"name": "clinicians", "state": "absent"}
    assert run_module(fake, tmp_path, "cloudflare_access_policy", absent, check=True)["_writes"] == 0
    assert fake.objects("policies")
    deleted = run_module(fake, tmp_path, "cloudflare_access_policy", absent)
    assert deleted["changed"] is True and fake.calls("DELETE")[0].status == 202 and not fake.objects("policies")
    assert run_module(fake, tmp_path, "cloudflare_access_policy", absent)["changed"] is False


def test_every_kind_of_rule_and_the_approval_settings(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [
        ("cloudflare_access_service_token", {"name": "lab", "secret_file": str(tmp_path / "lab.vault.yml"),
                                             "vault_password": "pw"}),
        ("cloudflare_access_policy", {
            "name": "machines", "decision": "service_auth",
            "include": {"service_tokens": ["lab"], "any_service_token": False, "ip_ranges": ["198.51.100.0/24"]}}),
        ("cloudflare_access_policy", {
            "name": "front desk", "decision": "allow",
            "include": {"email_domains": ["clinic.example"], "everyone": False},
            "require": {"auth_methods": ["mfa"], "countries": ["CA"]},
            "purpose_justification_required": True, "purpose_justification_prompt": "Which patient?",
            "approval_required": True,
            "approval_groups": [{"name": "managers", "emails": ["Boss@Clinic.Example", "deputy@clinic.example"],
                                 "approvals_needed": 2}]}),
        ("cloudflare_access_policy", {"name": "pharmacy", "decision": "bypass",
                                      "include": {"ip_ranges": ["203.0.113.10"]}}),
        ("cloudflare_access_policy", {"name": "blocked", "decision": "deny", "include": {"everyone": True},
                                      "exclude": {"countries": ["CA", "US"]}}),
    ])
    assert [r["changed"] for r in results] == [True] * 5, [r.get("msg") for r in results]
    stored = {p["name"]: p for p in fake.objects("policies")}
    token_id = fake.objects("service_tokens")[0]["id"]
    assert stored["machines"]["decision"] == "non_identity"
    assert sorted(map(str, stored["machines"]["include"])) == sorted(map(str, [
        {"service_token": {"token_id": token_id}}, {"ip": {"ip": "198.51.100.0/24"}}]))
    front = stored["front desk"]
    assert front["approval_required"] is True and front["purpose_justification_required"] is True
    assert front["approval_groups"] == [{"approvals_needed": 2,
                                         "email_addresses": ["boss@clinic.example", "deputy@clinic.example"]}]
    assert {"auth_method": {"auth_method": "mfa"}} in front["require"]
    assert "mfa_config" not in front
    assert stored["pharmacy"]["include"] == [{"ip": {"ip": "203.0.113.10/32"}}]
    assert stored["blocked"]["include"] == [{"everyone": {}}]
    rerun = run_tasks(fake, tmp_path, [("cloudflare_access_policy", {
        "name": "pharmacy", "decision": "bypass", "include": {"ip_ranges": ["203.0.113.10/32"]}})])
    assert rerun[0]["changed"] is False


BAD_POLICIES = [
    ({"decision": "bypass", "include": {"ip_ranges": ["127.0.0.1/32"]}},
     "invalid argument: include.ip_ranges[0]: '127.0.0.1/32' contains loopback addresses: behind cloudflared"),
    ({"decision": "bypass", "include": {"ip_ranges": ["::/0"]}}, "'::/0' contains loopback addresses"),
    ({"decision": "allow", "include": {"ip_ranges": ["10.0.0.300/32"]}},
     "invalid argument: include.ip_ranges[0]: '10.0.0.300/32' is not a valid CIDR"),
    ({"decision": "allow", "include": {"emails": ["nobody"]}},
     "invalid argument: include.emails[0]: 'nobody' is not a valid email address"),
    ({"decision": "allow", "include": {"everyone": True}, "require": {"countries": ["Canada"]}},
     "invalid argument: require.countries[0]: 'Canada' is not a two-letter ISO 3166-1 country code"),
    ({"decision": "allow", "include": {"everyone": True}, "session_duration": "1 day"},
     "invalid argument: session_duration: '1 day' is not a valid duration"),
    ({"decision": "allow", "include": {"everyone": True}, "session_duration": "1000h"},
     "invalid argument: session_duration: '1000h' is longer than Cloudflare's maximum of 730h"),
    ({"decision": "allow", "include": {"everyone": True}, "require": {"emails": ["a@b.example", "c@b.example"]}},
     "invalid argument: require.emails: lists 2 values but every require entry must match at once"),
    ({"decision": "allow", "include": {"everyone": True}, "approval_required": True,
      "approval_groups": [{"emails": ["m@b.example"]}]},
     "invalid argument: approval: requires purpose_justification.required: true"),
    ({"decision": "allow", "include": {"service_tokens": ["lab"]}},
     "invalid argument: include.service_tokens: cannot be used in an allow policy"),
    ({"decision": "bypass", "include": {"ip_ranges": ["203.0.113.0/24"]}, "mfa": {"required": True}},
     "invalid argument: mfa: MFA applies only to allow policies (this one is bypass)"),
    ({"decision": "allow", "include": {"everyone": True}, "mfa": {"session_duration": "730h"}},
     "invalid argument: mfa.session_duration: '730h' is longer than Cloudflare's maximum of 720h"),
    ({"decision": "allow", "include": {"everyone": True}, "mfa": {"session_duration": "45s"}},
     "invalid argument: mfa.session_duration: '45s' must be in minutes or hours"),
    ({"decision": "allow"}, "state is present but all of the following are missing: include"),
    ({"decision": "maybe", "include": {"everyone": True}}, "value of decision must be one of"),
]


def test_bad_arguments_fail_with_clear_messages_and_write_nothing(fake, tmp_path):
    calls = [("cloudflare_access_policy", dict(case[0], name="p%d" % i)) for i, case in enumerate(BAD_POLICIES)]
    results = run_tasks(fake, tmp_path, calls)
    for (args, message), result in zip(BAD_POLICIES, results):
        assert result["failed"] is True, args
        assert message in result["msg"], (args, result["msg"])
    assert fake.calls() == []


def test_unknown_names_fail_with_the_argument_path(fake, tmp_path):
    result = run_module(fake, tmp_path, "cloudflare_access_policy",
                        {"name": "p", "decision": "allow", "include": {"groups": ["nurses"]}})
    assert result["failed"] is True
    assert result["msg"] == "invalid argument: include.groups[0]: 'nurses' does not name an existing Access group " \
                            "in the account"
    assert result["_writes"] == 0
    checked = run_module(fake, tmp_path, "cloudflare_access_policy",
                         {"name": "p", "decision": "allow", "include": {"groups": ["nurses"]}}, check=True)
    assert checked["changed"] is True and any("'nurses'" in w for w in checked["warnings"])


def test_duplicate_names_are_refused_with_their_ids(fake, tmp_path):
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (
        CloudflareClient,
        account_path,
    )

    client = CloudflareClient(fake.token, fake.url, sleep=lambda s: None)
    body = {"name": "twin", "decision": "allow", "include": [{"everyone": {}}]}
    first = client.post(account_path(fake.account_id, "access", "policies"), body)
    second = client.post(account_path(fake.account_id, "access", "policies"), body)
    result = run_module(fake, tmp_path, "cloudflare_access_policy",
                        {"name": "twin", "decision": "allow", "include": {"everyone": True}})
    assert result["failed"] is True and first["id"] in result["msg"] and second["id"] in result["msg"]
    assert result["_writes"] == 0


def test_group_create_rerun_update_check_and_delete(fake, tmp_path):
    args = {"name": "physicians", "include": {"emails": ["dr.a@clinic.example", "dr.b@clinic.example"]}}
    created = run_module(fake, tmp_path, "cloudflare_access_group", args)
    assert created["changed"] is True and created["_writes"] == 1
    assert created["_calls"][0] == "GET /accounts/%s/access/groups" % fake.account_id
    again = run_module(fake, tmp_path, "cloudflare_access_group",
                       {"name": "physicians", "include": {"emails": ["DR.B@clinic.example", "dr.a@clinic.example"]}})
    assert again["changed"] is False and (again["_reads"], again["_writes"]) == (1, 0)
    grown = {"name": "physicians", "include": {"emails": ["dr.a@clinic.example", "dr.b@clinic.example",
                                                          "dr.c@clinic.example"]},
             "exclude": {"countries": ["RU"]}}
    checked = run_module(fake, tmp_path, "cloudflare_access_group", grown, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert checked["diff"]["after"]["include"]["emails"][-1] == "dr.c@clinic.example"
    assert checked["diff"]["after"]["exclude"] == {"countries": ["RU"]} and checked["diff"]["before"]["exclude"] == {}
    updated = run_module(fake, tmp_path, "cloudflare_access_group", grown)
    assert updated["changed"] is True and updated["_writes"] == 1
    assert len(fake.objects("groups")[0]["include"]) == 3
    bad = run_tasks(fake, tmp_path, [
        ("cloudflare_access_group", {"name": "g", "include": {}}),
        ("cloudflare_access_group", {"name": "g", "include": {"ip_ranges": ["300.1.1.1/32"]}}),
    ])
    assert "invalid argument: include: must contain at least one rule" in bad[0]["msg"]
    assert "invalid argument: include.ip_ranges[0]: '300.1.1.1/32' is not a valid CIDR" in bad[1]["msg"]
    deleted = run_module(fake, tmp_path, "cloudflare_access_group", {"name": "physicians", "state": "absent"})
    assert deleted["changed"] is True and not fake.objects("groups")
