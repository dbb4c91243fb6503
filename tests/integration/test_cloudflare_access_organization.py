"""cloudflare_access_organization, run through ansible-playbook against the fake Cloudflare API."""

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

MFA = {"required_for_all_apps": True, "allowed_authenticators": ["totp", "security_key"], "session_duration": "12h"}


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def test_mfa_default_and_seat_expiry_create_rerun_update_check(fake, tmp_path):
    # Settings the task does not manage, as Cloudflare or the dashboard set them: never compared, never lost.
    fake.organization_settings["mfa_config"]["amr_matching_session_duration"] = "2h"
    args = {"mfa": MFA, "user_seat_expiration_inactive_time": "730h"}

    checked = run_module(fake, tmp_path, "cloudflare_access_organization", args, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert checked["diff"]["before"] == {
        "mfa_config": {"allowed_authenticators": ["biometrics", "security_key", "totp"], "session_duration": "24h"},
        "mfa_required_for_all_apps": False, "user_seat_expiration_inactive_time": None}
    assert checked["diff"]["after"] == {
        "mfa_config": {"allowed_authenticators": ["security_key", "totp"], "session_duration": "12h"},
        "mfa_required_for_all_apps": True, "user_seat_expiration_inactive_time": "730h"}
    assert fake.organization_settings["mfa_required_for_all_apps"] is False

    applied = run_module(fake, tmp_path, "cloudflare_access_organization", args)
    assert applied["changed"] is True and applied["_writes"] == 1
    (put,) = fake.calls("PUT")
    assert put.body == {"mfa_config": {"allowed_authenticators": ["security_key", "totp"], "session_duration": "12h",
                                       "amr_matching_session_duration": "2h"},
                        "mfa_required_for_all_apps": True, "user_seat_expiration_inactive_time": "730h"}
    settings = fake.organization_settings
    assert settings["mfa_config"]["amr_matching_session_duration"] == "2h"
    assert settings["strict_service_token_auth"] is True and settings["session_duration"] == "24h"

    # The API answers with more than the task set (name, auth_domain, warp settings...): no write on a re-run,
    # also with the same durations written another way.
    same = dict(args, mfa=dict(MFA, session_duration="720m", allowed_authenticators=["security_key", "totp"]))
    again = run_module(fake, tmp_path, "cloudflare_access_organization", same)
    assert again["changed"] is False and (again["_reads"], again["_writes"]) == (1, 0)
    only_seats = run_module(fake, tmp_path, "cloudflare_access_organization",
                            {"user_seat_expiration_inactive_time": "730h"})
    assert only_seats["changed"] is False and only_seats["_writes"] == 0

    longer = run_module(fake, tmp_path, "cloudflare_access_organization",
                        {"user_seat_expiration_inactive_time": "2190h"})
    assert longer["changed"] is True and fake.calls("PUT")[0].body == {"user_seat_expiration_inactive_time": "2190h"}
    assert (longer["diff"]["before"], longer["diff"]["after"]) == (
        {"user_seat_expiration_inactive_time": "730h"}, {"user_seat_expiration_inactive_time": "2190h"})
    assert fake.organization_settings["mfa_required_for_all_apps"] is True


def test_bad_arguments_fail_before_any_request(fake, tmp_path):
    cases = [
        ({"mfa": dict(MFA, session_duration="730h")},
         "invalid argument: mfa.session_duration: '730h' is longer than Cloudflare's maximum of 720h"),
        ({"mfa": dict(MFA, session_duration="90s")}, "mfa.session_duration: '90s' must be in minutes or hours"),
        ({"mfa": dict(MFA, amr_matching_session_duration="721h")}, "is longer than Cloudflare's maximum of 720h"),
        ({"mfa": dict(MFA, allowed_authenticators=["sms"])}, "value of allowed_authenticators must be one or more of"),
        ({"mfa": dict(MFA, allowed_authenticators=[])}, "mfa.allowed_authenticators: must name at least one"),
        ({"user_seat_expiration_inactive_time": "720h"}, "'720h' is shorter than the minimum of 730h"),
        ({}, "one of the following is required: mfa, user_seat_expiration_inactive_time"),
    ]
    results = run_tasks(fake, tmp_path, [("cloudflare_access_organization", c[0]) for c in cases])
    for (args, message), result in zip(cases, results):
        assert result["failed"] is True and message in result["msg"], (args, result.get("msg"))
    assert fake.calls() == []
