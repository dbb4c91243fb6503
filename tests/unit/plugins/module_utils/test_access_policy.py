"""The access-policy model: validation messages, normalisation, gateway helpers, Cloudflare translation."""

import copy
import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _access_policy as ap
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import AccessPolicyError

ROOT = Path(__file__).resolve().parents[4]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
# What the gateway role copies to a clinic host: the model and the decision (not the Cloudflare translation), next to
# the shared checks, in a package of its own (there, oscar_gateway).
# What the gateway role copies to a clinic host next to the gateway (roles/gateway/vars/main.yml).
HOST_FILES = ("_access_policy/__init__.py", "_access_policy/model.py", "_access_policy/decision.py", "_problems.py",
              "_oscar_paths.py")

BASE = {
    "application": {"name": "OSCAR", "domain": "emr.clinic.example"},
    "login_methods": [{"name": "OTP", "type": "onetimepin"}],
    "groups": [{"name": "staff", "emails": ["a@clinic.example"]}],
    "service_tokens": [{"name": "lab"}],
    "policies": [
        {"name": "ws-bypass", "decision": "bypass", "paths": ["/oscar/ws"],
         "include": {"ip_ranges": ["203.0.113.0/24"]}},
        {"name": "lab", "decision": "service_auth", "paths": ["/oscar/ws"], "include": {"service_tokens": ["lab"]}},
        {"name": "staff", "decision": "allow", "include": {"groups": ["staff"]}, "require": {"login_methods": ["OTP"]}},
        {"name": "fd", "decision": "allow", "include": {"emails": ["fd@clinic.example"]},
         "purpose_justification": {"required": True, "prompt": "Why?"},
         "approval": {"required": True, "groups": [{"name": "mgr", "emails": ["m@clinic.example"]}]}},
    ],
}


def model(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def with_policy(index, **changes):
    data = copy.deepcopy(BASE)
    data["policies"][index].update(changes)
    return data


def error_of(data):
    with pytest.raises(AccessPolicyError) as info:
        ap.validate_access_policy(data)
    return str(info.value)


# -- the whole model -----------------------------------------------------------------------------


def test_the_example_from_the_brief_names_path_and_value():
    data = with_policy(2, include={"ip_ranges": ["10.0.0.300/32"]})
    assert error_of(data) == "access_policy.policies[2].include.ip_ranges[0]: '10.0.0.300/32' is not a valid CIDR"


def test_normalised_model_has_every_key_and_defaults():
    out = ap.validate_access_policy(BASE)
    staff = out["policies"][2]
    assert staff["paths"] == ["/"]
    assert staff["targets"] == ["cloudflare", "gateway"]
    assert staff["mfa"]["required"] is True  # default for allow
    assert out["policies"][0]["mfa"]["required"] is False  # never for bypass
    assert set(staff["include"]) == set(ap.RULE_SELECTORS)
    assert staff["session_duration"] is None
    assert out["application"]["session_duration"] == "24h"
    assert out["application"]["login_methods"] == ["OTP"]
    assert out["policies"][1]["decision"] == "service_auth"
    assert out["policies"][3]["approval"]["groups"] == [{"name": "mgr", "emails": ["m@clinic.example"],
                                                        "approvals_needed": 1}]


def test_normalisation_is_idempotent():
    once = ap.validate_access_policy(BASE)
    twice = ap.validate_access_policy(copy.deepcopy(once))
    assert once == twice


def test_values_are_canonicalised():
    data = with_policy(2, include={"emails": ["Dr.Who@Clinic.Example"], "countries": ["ca"],
                                   "ip_ranges": ["203.0.113.7"], "email_domains": ["@Clinic.Example"]})
    out = ap.validate_access_policy(data)["policies"][2]["include"]
    assert out["emails"] == ["dr.who@clinic.example"]
    assert out["countries"] == ["CA"]
    assert out["ip_ranges"] == ["203.0.113.7/32"]
    assert out["email_domains"] == ["clinic.example"]


def test_non_identity_is_an_alias_of_service_auth():
    out = ap.validate_access_policy(with_policy(1, decision="non_identity"))
    assert out["policies"][1]["decision"] == "service_auth"


@pytest.mark.parametrize(("change", "message"), [
    ({"policies": []}, "access_policy.policies: must define at least one policy"),
    ({"polices": []}, "access_policy.polices: is not a known key; expected one of:"),
    ({"version": 2}, "access_policy.version: 2 is not a model version"),
    ({"application": {"name": "x"}}, "access_policy.application.domain: is required"),
    ({"application": {"name": "x", "domain": "https://emr.clinic.example"}},
     "access_policy.application.domain: 'https://emr.clinic.example' is a URL, not a hostname; give the bare name "
     "('emr.clinic.example')"),
    ({"application": {"name": "x", "domain": "emr.clinic.example", "session_duration": "1d"}},
     "access_policy.application.session_duration: '1d' is not a valid duration; use Go duration syntax such as "
     "'30m', '8h' or '2h45m' (days and weeks are not Go duration units: write '24h')"),
    ({"application": {"name": "x", "domain": "emr.clinic.example", "session_duration": "731h"}},
     "access_policy.application.session_duration: '731h' is longer than Cloudflare's maximum of 730h"),
    ({"application": {"name": "x", "domain": "emr.clinic.example", "login_methods": ["Okta"]}},
     "access_policy.application.login_methods[0]: 'Okta' is not a defined login method (defined: OTP)"),
    ({"application": {"name": "x", "domain": "emr.clinic.example", "auto_redirect": True},
      "login_methods": [{"name": "OTP", "type": "onetimepin"}, {"name": "O2", "type": "otp"}]},
     "access_policy.application.auto_redirect: needs exactly one login method (this application allows 2)"),
    ({"login_methods": [{"name": "OTP", "type": "ldap"}]},
     "access_policy.login_methods[0].type: 'ldap' is not a supported login method type"),
    ({"login_methods": [{"name": "OTP", "type": "okta", "config": {"client_id": "x", "client_secret": "y"}}]},
     "access_policy.login_methods[0].config.okta_account: is required for a okta login method"),
    ({"login_methods": [{"name": "OTP", "type": "oidc", "config": {
        "client_id": "x", "client_secret": "y", "auth_url": "http://idp.example/auth", "token_url": "https://t.example",
        "certs_url": "https://c.example"}}]},
     "access_policy.login_methods[0].config.auth_url: 'http://idp.example/auth' must be an https:// URL"),
    ({"groups": [{"name": "staff", "emails": ["not-an-email"]}]},
     "access_policy.groups[0].emails[0]: 'not-an-email' is not a valid email address"),
    ({"groups": [{"name": "staff"}]}, "access_policy.groups[0]: has no members"),
    ({"groups": [{"name": "staff", "emails": ["a@b.example"]}, {"name": "staff", "emails": ["c@b.example"]}]},
     "access_policy.groups[1].name: 'staff' is defined twice (also at index 0)"),
    ({"service_tokens": [{"name": "lab", "duration": "0s"}]},
     "access_policy.service_tokens[0].duration: '0s' must be longer than zero"),
    ({"login_methods": [{"name": "OTP", "type": "okta", "config": {
        "client_id": "x", "client_secret": "y", "okta_account": "https://o.example", "pkce_enabled": True}}]},
     "access_policy.login_methods[0].config.pkce_enabled: is not a known key"),
])
def test_model_errors(change, message):
    assert error_of(model(**change)).startswith(message)


@pytest.mark.parametrize(("index", "change", "message"), [
    (2, {"decision": "permit"}, "access_policy.policies[2].decision: 'permit' is not a decision"),
    (2, {"include": {}}, "access_policy.policies[2].include: must contain at least one rule"),
    (2, {"include": {"groups": ["nurses"]}},
     "access_policy.policies[2].include.groups[0]: 'nurses' is not a defined group (defined: staff)"),
    (2, {"include": {"countries": ["UK"]}},
     "access_policy.policies[2].include.countries[0]: 'UK' is not an ISO 3166-1 code; the United Kingdom is 'GB'"),
    (2, {"include": {"countries": ["ZZ"]}},
     "access_policy.policies[2].include.countries[0]: 'ZZ' is not an assigned ISO 3166-1 country code"),
    (2, {"include": {"ip_ranges": ["10.0.0.1/24"]}},
     "access_policy.policies[2].include.ip_ranges[0]: '10.0.0.1/24' has host bits set; did you mean '10.0.0.0/24'?"),
    (2, {"session_duration": "8 hours"},
     "access_policy.policies[2].session_duration: '8 hours' is not a valid duration"),
    (2, {"session_duration": "-8h"}, "access_policy.policies[2].session_duration: '-8h' must not carry a sign"),
    (2, {"session_duration": 8}, "access_policy.policies[2].session_duration: 8 has no unit"),
    (2, {"require": {"emails": ["a@clinic.example", "b@clinic.example"]}},
     "access_policy.policies[2].require.emails: lists 2 values but every require entry must match at once"),
    (2, {"include": {"service_tokens": ["lab"]}},
     "access_policy.policies[2].include.service_tokens: cannot be used in an allow policy"),
    (0, {"include": {"emails": ["a@clinic.example"]}},
     "access_policy.policies[0].include.emails: cannot be used in a bypass policy"),
    (0, {"paths": ["/"], "include": {"everyone": True}},
     "access_policy.policies[0].include.everyone: would make the whole application public"),
    (1, {"include": {"groups": ["staff"]}},
     "access_policy.policies[1].include.groups: cannot be used in a service_auth policy"),
    (0, {"mfa": True}, "access_policy.policies[0].mfa: MFA applies only to allow policies (this one is bypass)"),
    (0, {"session_duration": "8h"}, "access_policy.policies[0].session_duration: applies only to allow and "
                                    "service_auth policies"),
    (3, {"purpose_justification": {"required": False, "prompt": "Why?"}},
     "access_policy.policies[3].purpose_justification.prompt: is set but purpose_justification.required is false"),
    (3, {"purpose_justification": None},
     "access_policy.policies[3].approval: requires purpose_justification.required: true"),
    (3, {"approval": {"required": True, "groups": []}},
     "access_policy.policies[3].approval.groups: must list at least one approval group"),
    (3, {"approval": {"required": True, "groups": [{"emails": ["m@clinic.example"], "approvals_needed": 2}]}},
     "access_policy.policies[3].approval.groups[0].approvals_needed: 2 asks for 2 approvals but only 1 approvers"),
    (2, {"paths": ["oscar"]}, "access_policy.policies[2].paths[0]: 'oscar' is not a path prefix"),
    (2, {"paths": ["/oscar/../admin"]}, "access_policy.policies[2].paths[0]: '/oscar/../admin' must not contain"),
    (2, {"paths": ["/oscar/*"]}, "access_policy.policies[2].paths[0]: '/oscar/*' must not contain wildcards"),
    (2, {"paths": ["/oscar%2Fadmin"]}, "access_policy.policies[2].paths[0]: '/oscar%2Fadmin' must not contain "
                                       "percent-encoding"),
    (2, {"targets": ["nginx"]}, "access_policy.policies[2].targets[0]: 'nginx' must be one of: cloudflare, gateway"),
    (2, {"require": {"roles": ["admin"]}}, "access_policy.policies[2].require.roles: is a gateway-only selector"),
    (2, {"include": {"users": ["drsmith"]}}, "access_policy.policies[2].include: has only gateway-only selectors"),
    (2, {"mfa": {"allowed_authenticators": ["sms"]}},
     "access_policy.policies[2].mfa.allowed_authenticators[0]: 'sms' must be one of: totp, biometrics, security_key"),
    (2, {"include": {"auth_methods": ["password"]}},
     "access_policy.policies[2].include.auth_methods[0]: 'password' is not an RFC 8176 authentication method"),
    (2, {"inclde": {}}, "access_policy.policies[2].inclde: is not a known key"),
])
def test_policy_errors(index, change, message):
    assert error_of(with_policy(index, **change)).startswith(message)


# -- loopback can never satisfy an IP rule ----------------------------------------------------------


@pytest.mark.parametrize("cidr", ["127.0.0.1/32", "127.0.0.0/8", "127.1.2.3", "::1", "::1/128", "0.0.0.0/0", "::/0",
                                  "::ffff:127.0.0.1/128", "0.0.0.0/1", "::ffff:0:0/96"])
@pytest.mark.parametrize(("index", "clause"), [(0, "include"), (0, "require"), (1, "require"), (2, "require")])
def test_loopback_ranges_are_refused_wherever_they_would_admit(cidr, index, clause):
    data = copy.deepcopy(BASE)
    data["policies"][index].setdefault(clause, {})
    data["policies"][index][clause] = dict(data["policies"][index][clause] or {}, ip_ranges=[cidr])
    message = error_of(data)
    assert "contains loopback addresses" in message
    assert "access_policy.policies[%d].%s.ip_ranges[0]" % (index, clause) in message


def test_loopback_is_fine_in_a_deny_policy():
    data = model(policies=BASE["policies"] + [
        {"name": "no-local", "decision": "deny", "include": {"ip_ranges": ["127.0.0.0/8"]}}])
    assert ap.validate_access_policy(data)["policies"][-1]["include"]["ip_ranges"] == ["127.0.0.0/8"]


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_no_accepted_bypass_range_contains_loopback(address, prefix):
    prefix = min(prefix, address.max_prefixlen)
    network = ipaddress.ip_network("%s/%d" % (address, prefix), strict=False)
    data = copy.deepcopy(BASE)
    data["policies"][0]["include"] = {"ip_ranges": [str(network)]}
    try:
        out = ap.validate_access_policy(data)
    except AccessPolicyError as error:
        assert "loopback" in str(error)
        return
    accepted = ipaddress.ip_network(out["policies"][0]["include"]["ip_ranges"][0])
    for loopback in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert ipaddress.ip_address(loopback) not in accepted


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("8h", 28800), ("24h", 86400), ("2h45m", 9900), ("1.5h", 5400), ("300ms", 0.3), ("0", 0),
    ("1h0m0s", 3600), ("90s", 90), ("1µs", 1e-6), ("1us", 1e-6), ("730h", 730 * 3600),
])
def test_go_durations(text, seconds):
    assert ap.validate_duration(text, "d") == text
    assert ap.duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "8", "8 h", "8hours", "1d", "1w", "-1h", "+1h", "1h-5m", "1.5.5h"])
def test_bad_durations(text):
    with pytest.raises(AccessPolicyError):
        ap.validate_duration(text, "d")


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=500), st.sampled_from(["h", "m", "s", "ms"])),
                min_size=1, max_size=4))
def test_duration_parsing_matches_arithmetic(parts):
    text = "".join("%d%s" % part for part in parts)
    factor = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    expected = sum(n * factor[u] for n, u in parts)
    assert ap.duration_seconds(text) == pytest.approx(expected)
    assert ap.durations_equal(text, ap.canonical_duration(text))


@pytest.mark.parametrize(("text", "canonical"), [("1440m", "24h"), ("90m", "1h30m"), ("0", "0s"), ("8h0m0s", "8h"),
                                                 ("1.5s", "1.5s"), ("3600s", "1h")])
def test_canonical_duration(text, canonical):
    assert ap.canonical_duration(text) == canonical


# -- primitives ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a@b", "a@@b.example", "@b.example", "a b@c.example", "a@-b.example",
                                   "a..b@c.example", "a@b.123"])
def test_bad_emails(value):
    with pytest.raises(AccessPolicyError):
        ap.validate_email(value, "e")


@given(st.emails())
def test_generated_emails_are_accepted_or_refused_with_a_message(email):
    try:
        out = ap.validate_email(email, "e")
    except AccessPolicyError as error:
        assert str(error).startswith("e: ")
    else:
        assert out == out.lower() and out.count("@") == 1


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32))
def test_cidrs_normalise_to_the_network(address, prefix):
    text = "%s/%d" % (address, prefix)
    network = ipaddress.ip_network(text, strict=False)
    if network.network_address == address:
        assert ap.validate_cidr(text, "c") == str(network)
    else:
        with pytest.raises(AccessPolicyError, match="host bits set; did you mean '%s'" % re.escape(str(network))):
            ap.validate_cidr(text, "c")


@pytest.mark.parametrize(("prefix", "path", "expected"), [
    ("/", "/anything", True), ("/oscar/ws", "/oscar/ws", True), ("/oscar/ws", "/oscar/ws/x", True),
    ("/oscar/ws", "/oscar/wsx", False), ("/oscar/ws", "/oscar", False), ("/oscar", "/oscarx/ws", False),
])
def test_path_matches_whole_segments(prefix, path, expected):
    assert ap.path_matches(prefix, path) is expected


def test_trailing_slash_is_dropped_from_prefixes():
    assert ap.validate_path_prefix("/oscar/ws/", "p") == "/oscar/ws"
    assert ap.validate_path_prefix("/", "p") == "/"


# -- gateway helpers ---------------------------------------------------------------------------------


def test_policies_for_path_puts_bypass_and_service_auth_first():
    out = ap.validate_access_policy(BASE)
    names = [p["name"] for p in ap.policies_for_path(out, "/oscar/ws/LabUploadService")]
    assert names == ["ws-bypass", "lab", "staff", "fd"]
    assert [p["name"] for p in ap.policies_for_path(out, "/oscar/provider")] == ["staff", "fd"]


def test_gateway_only_policies_and_users():
    data = model(users=[{"name": "drsmith", "email": "drsmith@clinic.example", "roles": ["physician"]}],
                 policies=BASE["policies"] + [{"name": "reports", "decision": "allow", "targets": ["gateway"],
                                               "paths": ["/oscar/report"], "include": {"roles": ["physician"]},
                                               "require": {"users": ["drsmith"]}}])
    out = ap.validate_access_policy(data)
    assert out["users"][0]["roles"] == ["physician"]
    assert [p["name"] for p in ap.policies_for_path(out, "/oscar/report", target="cloudflare")] == ["staff", "fd"]
    assert "reports" in [p["name"] for p in ap.policies_for_path(out, "/oscar/report")]
    plan = ap.cloudflare_plan(out)
    assert "reports" not in [p["name"] for p in plan["policies"]]
    bad = copy.deepcopy(data)
    bad["policies"][-1]["include"] = {"roles": ["nurse"]}
    assert "is not a defined role (defined: physician)" in error_of(bad)


def test_the_module_runs_without_ansible(tmp_path):
    """The gateway vendors the model and the decision: they must import with the standard library alone, without
    the Cloudflare translation."""
    package = tmp_path / "host_package"
    for name in HOST_FILES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MODULE_UTILS / name, package / name)
    (package / "__init__.py").write_text("")
    code = ("import sys; sys.modules['ansible'] = None; sys.path.insert(0, %r); "
            "from host_package import _access_policy as m; assert not hasattr(m, 'cloudflare_plan'); "
            "print(m.validate_access_policy(%r)['policies'][0]['name'])"
            % (str(tmp_path), BASE))
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ws-bypass"


# -- Cloudflare translation ----------------------------------------------------------------------------


def test_plan_builds_a_path_application_with_every_governing_policy():
    plan = ap.cloudflare_plan(ap.validate_access_policy(model(name_prefix="c1: ")))
    apps = {a["path"]: a for a in plan["applications"]}
    assert apps["/"]["domain"] == "emr.clinic.example"
    assert apps["/"]["policies"] == ["c1: staff", "c1: fd"]
    assert apps["/oscar/ws"]["domain"] == "emr.clinic.example/oscar/ws"
    assert apps["/oscar/ws"]["policies"] == ["c1: ws-bypass", "c1: lab", "c1: staff", "c1: fd"]
    assert apps["/oscar/ws"]["app_launcher_visible"] is False
    assert [g["name"] for g in plan["groups"]] == ["c1: staff"]
    assert plan["service_tokens"] == [{"name": "c1: lab", "duration": "8760h", "model_name": "lab"}]
    lab = next(p for p in plan["policies"] if p["name"] == "c1: lab")
    assert lab["decision"] == "non_identity" and lab["include"] == {"service_tokens": ["c1: lab"]}
    staff = next(p for p in plan["policies"] if p["name"] == "c1: staff")
    assert staff["include"] == {"groups": ["c1: staff"]}
    assert staff["mfa"]["required"] is True


def test_application_mfa_reaches_every_application_of_the_clinic():
    plan = ap.cloudflare_plan(ap.validate_access_policy(model()))
    assert [a["mfa"] for a in plan["applications"]] == [None, None]  # not set: the organisation's default applies
    app = dict(BASE["application"], mfa={"allowed_authenticators": ["security_key"], "session_duration": "12h"})
    plan = ap.cloudflare_plan(ap.validate_access_policy(model(application=app)))
    assert {a["path"]: a["mfa"] for a in plan["applications"]} == {
        path: {"required": True, "allowed_authenticators": ["security_key"], "session_duration": "12h"}
        for path in ("/", "/oscar/ws")}
    off = ap.cloudflare_plan(ap.validate_access_policy(model(application=dict(BASE["application"], mfa=False))))
    assert off["applications"][0]["mfa"]["required"] is False


@pytest.mark.parametrize("mfa, where, message", [
    ({"session_duration": "730h"}, "application.mfa.session_duration", "720h"),
    ({"enforced_by": "identity_provider"}, "application.mfa.enforced_by", "goes on a policy"),
    ({"allowed_authenticators": ["sms"]}, "application.mfa.allowed_authenticators[0]", "must be one of"),
    ({"requird": True}, "application.mfa", "requird"),
])
def test_application_mfa_errors_name_the_key(mfa, where, message):
    error = error_of(model(application=dict(BASE["application"], mfa=mfa)))
    assert where in error and message in error


def test_identity_provider_mfa_becomes_an_auth_method_rule():
    out = ap.validate_access_policy(with_policy(2, mfa={"enforced_by": "identity_provider"}))
    plan = ap.cloudflare_plan(out)
    staff = next(p for p in plan["policies"] if p["name"] == "staff")
    assert staff["require"]["auth_methods"] == ["mfa"]
    assert staff["mfa"] == {"required": False}


def test_policy_round_trip_through_the_api_form():
    policy = ap.validate_policy(BASE["policies"][3], "p")
    policy["mfa"] = {"required": True, "enforced_by": "cloudflare", "allowed_authenticators": ["totp"],
                     "session_duration": "1h"}
    ids = {("group", "staff"): "g-1", ("login_method", "OTP"): "i-1", ("service_token", "lab"): "t-1"}
    body = ap.policy_to_api(policy, lambda kind, name, where: ids[(kind, name)])
    assert body["decision"] == "allow"
    assert body["include"] == [{"email": {"email": "fd@clinic.example"}}]
    assert body["approval_groups"] == [{"approvals_needed": 1, "email_addresses": ["m@clinic.example"]}]
    assert body["purpose_justification_required"] is True
    assert body["mfa_config"] == {"mfa_disabled": False, "allowed_authenticators": ["totp"], "session_duration": "1h"}
    back = ap.policy_from_api(dict(body, id="x", session_duration="24h"), lambda kind, i: None)
    assert ap.comparable_policy(back) == ap.comparable_policy(policy)


def test_rules_from_api_keeps_what_it_cannot_express():
    rules = ap.rules_from_api([{"device_posture": {"integration_uid": "u"}}, {"group": {"id": "g-9"}},
                               {"ip": {"ip": "203.0.113.7/32"}}], lambda kind, i: None)
    assert rules["other"] == [{"device_posture": {"integration_uid": "u"}}]
    assert rules["groups"] == ["id:g-9"]
    assert rules["ip_ranges"] == ["203.0.113.7/32"]


def test_the_demo_inventory_model_is_valid():
    path = ROOT / "inventories" / "demo_clinic" / "group_vars" / "all" / "access_policy.yml"
    data = yaml.safe_load(path.read_text())["access_policy"]
    data["application"]["domain"] = "emr.demo-clinic.example"  # a Jinja reference in the inventory
    out = ap.validate_access_policy(data)
    plan = ap.cloudflare_plan(out)
    # OSCAR's two applications, then the provider's SSH (access_policy.management_ssh)
    assert [a["path"] for a in plan["applications"]] == ["/", "/oscar/ws", None]
    assert plan["applications"][-1]["domain"] == "ssh.demo-clinic.example"
    front = next(p for p in plan["policies"] if p["name"].endswith("front-desk"))
    assert front["approval_required"] and front["purpose_justification_required"]


def test_the_full_example_in_the_documentation_is_valid():
    text = (ROOT / "docs" / "access-policy.md").read_text()
    block = re.search(r"## A full example\s+```yaml\n(.*?)```", text, re.S).group(1)
    data = yaml.safe_load(block)["access_policy"]
    out = ap.validate_access_policy(data)
    names = [p["name"] for p in ap.policies_for_path(out, "/oscar/admin")]
    assert names == ["admin-pages", "clinicians", "front-desk"]
    plan = ap.cloudflare_plan(out)
    assert [a["domain"] for a in plan["applications"]] == ["emr.demo-clinic.example",
                                                           "emr.demo-clinic.example/oscar/ws"]
    assert "demo-clinic: admin-pages" not in [p["name"] for p in plan["policies"]]
    assert [p["name"] for p in ap.policies_for_path(out, "/oscar/provider")] == ["clinicians", "front-desk"]
    assert [g["name"] for g in plan["groups"]] == ["demo-clinic: physicians", "demo-clinic: front-desk"]


def test_mfa_sessions_are_minutes_or_hours_up_to_720h():
    for text, message in (("730h", "'730h' is longer than Cloudflare's maximum of 720h"),
                          ("90s", "'90s' must be in minutes or hours")):
        assert error_of(with_policy(2, mfa={"session_duration": text})).startswith(
            "access_policy.policies[2].mfa.session_duration: %s" % message)
    model = ap.validate_access_policy(with_policy(2, mfa={"session_duration": "720h"}))
    assert ap.cloudflare_mfa_config(model["policies"][2]["mfa"])["session_duration"] == "720h"
    assert ap.cloudflare_mfa_config({"required": False}) is None
    assert ap.cloudflare_mfa_config({"required": True, "enforced_by": "identity_provider"}) is None


def test_a_service_token_may_last_forever():
    data = copy.deepcopy(BASE)
    data.setdefault("service_tokens", []).append({"name": "fax", "duration": "forever"})
    model = ap.validate_access_policy(data)
    assert [t["duration"] for t in model["service_tokens"] if t["name"] == "fax"] == ["forever"]


# -- MFA authenticators the gateway enforces (mfa.allowed_authenticators against a session's amr) -----------------

@pytest.mark.parametrize("allowed, amr, admitted", [
    # The model's default (all of them) restricts nothing: a recovery code ("kba") still does.
    (list(ap.MFA_AUTHENTICATORS), ["pwd", "mfa", "kba"], True),
    (list(ap.MFA_AUTHENTICATORS), ["pwd", "otp", "mfa"], True),
    # Security keys only: a passkey session, never a TOTP or recovery-code one.
    (["security_key"], ["pwd", "hwk", "mfa"], True),
    (["security_key"], ["hwk", "mfa"], True),
    (["security_key"], ["pwd", "otp", "mfa"], False),
    (["security_key"], ["pwd", "mfa", "kba"], False),
    (["totp"], ["pwd", "otp", "mfa"], True),
    (["totp"], ["pwd", "hwk", "mfa"], False),
    (["totp", "security_key"], ["pwd", "hwk", "mfa"], True),
    (["totp", "security_key"], ["pwd", "mfa", "kba"], False),
])
def test_authenticator_allowed(allowed, amr, admitted):
    assert ap.authenticator_allowed(allowed, frozenset(amr)) is admitted


# -- The IT provider's SSH application (issue 15) ------------------------------------------------------------------

SSH = {"domain": "ssh.clinic.example", "service_token": "provider"}


def with_ssh(ssh=None, **changes):
    data = model(service_tokens=[{"name": "lab"}, {"name": "provider"}], **changes)
    data["management_ssh"] = SSH if ssh is None else ssh
    return data


def test_the_ssh_application_is_planned_with_one_policy_that_admits_only_the_providers_token():
    plan = ap.cloudflare_plan(ap.validate_access_policy(with_ssh(name_prefix="c1: ")))
    ssh_apps = [a for a in plan["applications"] if a["management_ssh"]]
    assert [a["domain"] for a in ssh_apps] == ["ssh.clinic.example"]
    (app,) = ssh_apps
    assert app["name"] == "OSCAR (SSH)" and app["destinations"] == ["ssh.clinic.example"]
    assert app["policies"] == ["c1: management-ssh"]
    assert app["app_launcher_visible"] is False and app["service_auth_401_redirect"] is True
    assert app["mfa"]["required"] is False  # a service token has no second factor
    policy = next(p for p in plan["policies"] if p["name"] == "c1: management-ssh")
    assert policy["decision"] == "non_identity"
    assert policy["include"] == {"service_tokens": ["c1: provider"]}
    assert policy["require"] == {} and policy["exclude"] == {}
    # No OSCAR application carries it, and the provider's token is not reported unused.
    assert all("c1: management-ssh" not in a["policies"] for a in plan["applications"] if not a["management_ssh"])
    assert plan["unused"]["service_tokens"] == []
    assert plan["management_ssh"] == {"domain": "ssh.clinic.example", "service_token": "c1: provider",
                                      "service_token_model_name": "provider"}


def test_without_management_ssh_nothing_changes_in_the_plan():
    plan = ap.cloudflare_plan(ap.validate_access_policy(model()))
    assert plan["management_ssh"] is None
    assert not any(a["management_ssh"] for a in plan["applications"])
    assert "management-ssh" not in [p["name"] for p in plan["policies"]]


@pytest.mark.parametrize("ssh, where, message", [
    ({"domain": "ssh.clinic.example"}, "access_policy.management_ssh.service_token", "is required"),
    ({"domain": "ssh.clinic.example", "service_token": ""}, "access_policy.management_ssh.service_token",
     "is required"),
    ({"domain": "ssh.clinic.example", "service_token": "nobody"}, "access_policy.management_ssh.service_token",
     "'nobody' is not a defined service token (defined: lab, provider)"),
    ({"service_token": "provider"}, "access_policy.management_ssh.domain", "is required"),
    ({"domain": "emr.clinic.example", "service_token": "provider"}, "access_policy.management_ssh.domain",
     "SSH needs a host name of its own"),
    ({"domain": "ssh.clinic.example", "service_token": "provider", "sesion_duration": "1h"},
     "access_policy.management_ssh.sesion_duration", "session_duration"),
])
def test_a_management_ssh_mistake_names_the_variable(ssh, where, message):
    error = error_of(with_ssh(ssh))
    assert error.startswith(where) and message in error, error


def test_a_clinic_policy_cannot_take_the_ssh_policys_name():
    data = with_ssh()
    data["policies"][2]["name"] = "management-ssh"
    assert error_of(data).startswith("access_policy.policies[2].name: 'management-ssh' is the name of management_ssh")


def test_the_ssh_application_is_the_clinics_for_pruning_and_no_other_is():
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_prune import KINDS, orphans
    apps = [{"name": "OSCAR (SSH)", "id": "1"}, {"name": "OSCAR (copy)", "id": "2"}, {"name": "Other (SSH)", "id": "3"}]
    assert orphans(KINDS[0], apps, "c1: ", "OSCAR", keep=[]) == [{"kind": "application", "name": "OSCAR (SSH)",
                                                                 "id": "1"}]
    assert orphans(KINDS[0], apps, "c1: ", "OSCAR", keep=["OSCAR (SSH)"]) == []
