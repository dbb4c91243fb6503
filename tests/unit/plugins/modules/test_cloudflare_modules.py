"""Fast in-process tests of the Cloudflare modules' logic (the subprocess tests are in tests/integration)."""

import base64
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import AccessPolicyError
from ansible_collections.oscar_emr.remote_access.plugins.modules import (
    cloudflare_access_application,
    cloudflare_access_identity_provider,
    cloudflare_access_policy,
    cloudflare_access_service_token,
    cloudflare_tunnel,
)
from tests.fake_cloudflare.harness import running_fake


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def run(module, args, capsys, check=False, diff=True):
    """Run a module's main() in-process against the fake; return its JSON result."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_policy_module_create_then_no_op(fake, capsys):
    args = {"name": "p", "decision": "allow", "include": {"email_domains": ["Clinic.Example"]},
            "api_token": fake.token, "account_id": fake.account_id, "api_base_url": fake.url}
    first = run(cloudflare_access_policy, args, capsys)
    assert first["changed"] is True and first["api_requests"]["writes"] == 1
    second = run(cloudflare_access_policy, args, capsys)
    assert second["changed"] is False and second["api_requests"] == {
        "reads": 1, "writes": 0, "calls": ["GET /accounts/%s/access/policies -> 200" % fake.account_id]}


def test_env_fallbacks_and_api_errors(fake, capsys, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.token)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", fake.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", fake.url)
    fake.inject(500, method="GET", times=10)
    result = run(cloudflare_access_identity_provider, {"name": "otp", "type": "onetimepin", "api_retries": 1},
                 capsys)
    assert result["failed"] is True and result["status"] == 500
    assert "(HTTP 500): [10500]" in result["msg"]
    assert result["api_requests"]["reads"] == 2
    fake.faults.clear()
    result = run(cloudflare_access_identity_provider, {"name": "otp", "type": "onetimepin"}, capsys)
    assert result["changed"] is True


def test_policy_check_mode_writes_nothing(fake, capsys):
    args = {"name": "p", "decision": "bypass", "include": {"ip_ranges": ["198.51.100.0/24"]},
            "api_token": fake.token, "account_id": fake.account_id, "api_base_url": fake.url}
    result = run(cloudflare_access_policy, args, capsys, check=True)
    assert result["changed"] is True and result["api_requests"]["writes"] == 0 and not fake.objects("policies")
    assert result["diff"]["after"]["include"] == {"ip_ranges": ["198.51.100.0/24"]}


@pytest.mark.parametrize(("rules", "message"), [
    ([{"service": "http_status:404"}, {"hostname": "a.example.com", "service": "https://x"}], "put the catch-all last"),
    ([{"hostname": "a.example.com", "path": "(", "service": "https://x"}], "is not a regular expression"),
    ([{"hostname": "a.example.com", "service": "ftp://x"}], "is not a cloudflared service"),
])
def test_ingress_validation(rules, message):
    with pytest.raises(AccessPolicyError, match=message):
        cloudflare_tunnel.desired_ingress(rules, "http_status:404")


def test_ingress_normalisation_adds_the_catch_all_as_a_star_host():
    rules = cloudflare_tunnel.desired_ingress(
        [{"hostname": "EMR.Clinic.Example", "service": "https://127.0.0.1:443/",
          "origin_request": {"connectTimeout": "1m", "noTLSVerify": False}}], "http_status:404")
    assert rules == [{"hostname": "emr.clinic.example", "service": "https://127.0.0.1:443",
                      "originRequest": {"connectTimeout": 60, "noTLSVerify": False}},
                     {"hostname": "*", "service": "http_status:404"}]
    existing = {"ingress": [{"hostname": "emr.clinic.example", "service": "https://127.0.0.1:443", "path": "",
                             "originRequest": {"connectTimeout": 60, "noTLSVerify": False}},
                            {"service": "http_status:404"}], "warp-routing": {"enabled": False}}
    assert cloudflare_tunnel.comparable_config(existing) == cloudflare_tunnel.comparable_config({"ingress": rules})


def test_tunnel_token_decoding():
    token = base64.b64encode(json.dumps({"a": "acc", "t": "tid", "s": "sec"}).encode()).decode()
    assert cloudflare_tunnel.decode_token(token) == {"a": "acc", "t": "tid", "s": "sec"}
    assert cloudflare_tunnel.decode_token("not base64") is None


def test_application_locations_and_policy_precedence():
    assert cloudflare_access_application.validate_location("EMR.clinic.example/oscar/ws/", "d") == \
        "emr.clinic.example/oscar/ws"
    assert cloudflare_access_application.desired_policies(["a", {"name": "b", "precedence": 5}]) == [
        {"name": "a", "precedence": 1}, {"name": "b", "precedence": 5}]
    with pytest.raises(AccessPolicyError, match="is listed twice"):
        cloudflare_access_application.desired_policies(["a", "a"])


def test_application_comparison_reads_legacy_self_hosted_domains():
    current = {"name": "A", "domain": "a.example.com", "self_hosted_domains": ["a.example.com"],
               "allowed_idps": ["i1"], "policies": [{"name": "p", "precedence": 1, "id": "x"}]}
    out = cloudflare_access_application.comparable_current(current, {"i1": "OTP"}.get)
    assert out["destinations"] == ["a.example.com"] and out["allowed_identity_providers"] == ["OTP"]
    assert out["app_launcher_visible"] is True and out["http_only_cookie_attribute"] is True
    assert out["session_duration"] == "24h"


def test_identity_provider_comparison_ignores_secrets_and_defaults():
    current = cloudflare_access_identity_provider.comparable_config(
        "okta", {"client_id": "c", "client_secret": "**********", "okta_account": "https://o", "claims": None})
    desired = cloudflare_access_identity_provider.comparable_config(
        "okta", {"client_id": "c", "client_secret": "real", "okta_account": "https://o", "pkce_enabled": False})
    assert current == desired and "client_secret" not in current


def test_service_token_helpers():
    assert cloudflare_access_service_token.default_variable("demo-clinic: Lab Integration") == \
        "cloudflare_service_token_demo_clinic_lab_integration"
    parsed = cloudflare_access_service_token.parse_time("2027-11-22T05:43:53.123456789Z")
    assert parsed.year == 2027 and parsed.tzinfo is not None
    assert cloudflare_access_service_token.parse_time("garbage") is None
