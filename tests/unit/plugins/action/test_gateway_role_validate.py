"""The gateway role's controller-side check (gateway_validate): the access policy goes through the shared validator
and every mistake names its variable before anything changes on the host."""

import copy
import datetime
from unittest.mock import MagicMock

from ansible_collections.oscar_emr.remote_access.plugins.action.gateway_validate import ActionModule

POLICY = {
    "application": {"name": "OSCAR", "domain": "emr.clinic.test"},
    "groups": [{"name": "staff", "email_domains": ["clinic.test"]}],
    "policies": [{"name": "staff", "decision": "allow", "paths": ["/oscar"], "include": {"groups": ["staff"]}}],
}
CONFIG = {
    "mode": "standalone",
    "clinic_name": "Lakeside",
    "public_host": "emr.clinic.test",
    "access_policy": POLICY,
    "users": [{"username": "drsmith", "display_name": "Dr. Smith", "email": "drsmith@clinic.test",
               "role": "physician", "enabled": True}],
    "decision_cache": {"max_age_seconds": 0},
    "cloudflare": {"team_domain": "", "aud": [], "service_tokens": {}},
}


def run(config, **audit_syslog):
    task = MagicMock()
    task.args = {"config": config, "audit_syslog": audit_syslog}
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.gateway_validate"
    plugin = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    return plugin.run(task_vars={})


def changed(**overrides):
    config = copy.deepcopy(CONFIG)
    config.update(overrides)
    return config


def test_good_config_passes_unchanged():
    result = run(copy.deepcopy(CONFIG))
    assert not result.get("failed"), result
    assert result["config"]["access_policy"] == POLICY
    assert result["has_password_hashes"] is False


def test_bad_policy_fails_naming_the_path():
    policy = copy.deepcopy(POLICY)
    policy["policies"][0]["include"] = {"ip_ranges": ["10.0.0.300/32"]}
    result = run(changed(access_policy=policy))
    assert result["failed"]
    assert "access_policy.policies[0].include.ip_ranges[0]" in result["msg"]
    assert "nothing was changed on the host" in result["msg"]


def test_bad_users_and_settings_name_the_role_variables():
    users = [{"username": "Dr Smith"}, {"username": "a", "email": "nope"}, {"username": "a"},
             {"username": "b", "password_hash": "plain"}, {"username": "c", "extra": 1}]
    result = run(changed(users=users, mode="cloud", public_host="https://x", clinic_name=""))
    msg = result["msg"]
    for expected in ("gateway_users[0].username", "gateway_users[1].email", "gateway_users[2].username",
                     "gateway_users[3].password_hash", "gateway_users[4]: unknown keys", "gateway_mode",
                     "gateway_public_host", "gateway_clinic_name"):
        assert expected in msg, msg
    assert "plain" not in msg


def test_per_address_login_limit_below_the_per_user_one_is_refused():
    result = run(changed(login={"max_failures": 5, "max_failures_per_address": 3}))
    assert result["failed"]
    assert "gateway_login_max_failures_per_address: 3 is less than gateway_login_max_failures (5)" in result["msg"]
    for per_address in (5, 20):
        result = run(changed(login={"max_failures": 5, "max_failures_per_address": per_address}))
        assert not result.get("failed"), result


def test_cloudflare_mode_needs_team_domain_and_aud():
    result = run(changed(mode="cloudflare", cloudflare={"team_domain": "x.example.com", "aud": ["short"]}))
    assert "gateway_cloudflare_team_domain" in result["msg"] and "gateway_cloudflare_aud" in result["msg"]
    good = run(changed(mode="cloudflare", cloudflare={"team_domain": "clinic.cloudflareaccess.com",
                                                      "aud": ["a" * 64], "service_tokens": {}}))
    assert not good.get("failed"), good


def test_identity_provider_secrets_are_redacted():
    policy = copy.deepcopy(POLICY)
    policy["login_methods"] = [{"name": "M365", "type": "azureAD",
                                "config": {"client_id": "id", "client_secret": "s3cret", "directory_id": "d"}}]
    result = run(changed(access_policy=policy))
    if not result.get("failed"):
        assert result["config"]["access_policy"]["login_methods"][0]["config"]["client_secret"] == "********"
    assert "s3cret" not in str(result)


CF = {"team_domain": "clinic.cloudflareaccess.com", "aud": ["a" * 64], "service_tokens": {}}


def policy_with(clause, selectors, targets=None, decision="allow"):
    policy = copy.deepcopy(POLICY)
    policy["login_methods"] = [{"name": "Email PIN", "type": "onetimepin"}]
    policy["service_tokens"] = [{"name": "lab"}]
    rule = policy["policies"][0]
    rule["decision"] = decision
    if decision == "service_auth":
        rule["include"] = {}
    rule.setdefault(clause, {}).update(selectors)
    if targets:
        rule["targets"] = targets
    return policy


def test_selectors_the_standalone_gateway_cannot_see_are_refused_naming_the_way_out():
    for clause, selectors, effect in (
        ("require", {"login_methods": ["Email PIN"]}, "admits nobody there"),
        ("require", {"countries": ["CA"]}, "admits nobody there"),
        ("exclude", {"countries": ["RU"]}, "excludes nobody there, which widens access"),
        ("include", {"service_tokens": ["lab"]}, "matches nobody there"),
    ):
        decision = "service_auth" if "service_tokens" in selectors else "allow"
        result = run(changed(access_policy=policy_with(clause, selectors, decision=decision)))
        key = next(iter(selectors))
        assert result.get("failed"), (clause, selectors)
        assert "access_policy.policies[0].%s.%s: the gateway (gateway_mode: standalone) cannot evaluate %s" % (
            clause, key, key) in result["msg"]
        assert effect in result["msg"]
        assert "Set targets: [cloudflare] on policy 'staff'" in result["msg"]


def test_in_cloudflare_mode_only_the_login_method_is_unknown_to_the_gateway():
    assert not run(changed(mode="cloudflare", cloudflare=CF,
                           access_policy=policy_with("require", {"countries": ["CA"]}))).get("failed")
    result = run(changed(mode="cloudflare", cloudflare=CF,
                         access_policy=policy_with("require", {"login_methods": ["Email PIN"]})))
    assert "policies[0].require.login_methods: the gateway (gateway_mode: cloudflare)" in result["msg"]


def test_a_policy_for_cloudflare_only_may_use_them():
    result = run(changed(access_policy=policy_with("require", {"login_methods": ["Email PIN"], "countries": ["CA"]},
                                                   targets=["cloudflare"])))
    # The model itself needs one policy the gateway applies; here there is none left, which the gateway then
    # treats as deny-all. That is allowed; what is refused is a policy that says one thing and does another.
    assert not result.get("failed"), result.get("msg")


def test_an_account_no_policy_admits_is_named_in_a_warning():
    users = CONFIG["users"] + [
        {"username": "locum", "display_name": "Locum", "email": "locum@elsewhere.test", "role": "physician"},
        {"username": "gone", "display_name": "Gone", "email": "gone@elsewhere.test", "role": "x", "enabled": False},
    ]
    result = run(changed(users=users))
    assert not result.get("failed"), result.get("msg")
    assert result["warnings"] == [
        "gateway_users[1] (locum, locum@elsewhere.test): no allow policy of access_policy that the gateway applies "
        "includes this account (by email, email domain, group, user or role), so it can sign in but reach nothing"]


def test_roles_users_and_everyone_admit_accounts_too():
    policy = copy.deepcopy(POLICY)
    policy["policies"].append({"name": "physicians", "decision": "allow", "targets": ["gateway"],
                               "include": {"roles": ["physician"]}})
    users = [{"username": "locum", "display_name": "Locum", "email": "locum@elsewhere.test", "role": "physician"}]
    assert run(changed(access_policy=policy, users=users))["warnings"] == []
    policy["policies"][-1]["decision"] = "deny"
    assert len(run(changed(access_policy=policy, users=users))["warnings"]) == 1


def test_in_cloudflare_mode_the_application_domain_is_the_gateways_host():
    result = run(changed(mode="cloudflare", cloudflare=CF, public_host="oscar.other.test"))
    assert result["failed"]
    assert ("gateway_public_host: 'oscar.other.test' is not access_policy.application.domain ('emr.clinic.test')"
            in result["msg"])
    assert not run(changed(mode="cloudflare", cloudflare=CF)).get("failed")


# Issue 20 -----------------------------------------------------------------------------------------------------------

def run_with(config, **args):
    task = MagicMock()
    task.args = dict({"config": config}, **args)
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.gateway_validate"
    plugin = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    return plugin.run(task_vars={})


STAFF = ["drsmith", "drjones", "nurse1", "nurse2", "desk1", "desk2", "desk3", "manager"]
NOW = [{"username": name, "enabled": 1, "admin_disabled": 0, "source": "inventory"} for name in STAFF]


def staff_config(users):
    policy = copy.deepcopy(POLICY)
    policy["policies"][0]["include"] = {"groups": ["staff"]}
    return changed(users=[{"username": name, "display_name": name, "email": name + "@clinic.test"} for name in users],
                   access_policy=policy)


def test_a_misspelt_users_list_that_would_disable_everyone_is_refused():
    """gateway_user: for gateway_users: left the role's default, []: every account disabled, every session revoked."""
    result = run_with(staff_config([]), current_users=NOW)
    assert result["failed"]
    assert ("gateway_users: this run would disable 8 of the 8 enabled accounts (desk1, desk2, desk3, drjones, "
            "drsmith, manager, nurse1, nurse2) and end their sessions, more than gateway_users_disable_max_share "
            "(0.25) allows") in result["msg"]
    assert "gateway_users_allow_mass_disable: true" in result["msg"]
    assert "config" not in result


def test_consent_lets_a_mass_disable_through_and_the_output_names_the_accounts():
    result = run_with(staff_config(STAFF[:2]), current_users=NOW, allow_mass_disable=True)
    assert not result.get("failed"), result
    assert ("gateway_users: this run disables 6 account(s) and ends their sessions: desk1, desk2, desk3, manager, "
            "nurse1, nurse2") in result["warnings"]


def test_a_few_accounts_within_the_share_are_disabled_with_a_warning_naming_them():
    config = staff_config(STAFF[:7])
    config["users"][0]["enabled"] = False  # drsmith, listed but disabled; manager dropped
    result = run_with(config, current_users=NOW)
    assert not result.get("failed"), result
    assert ("gateway_users: this run disables 2 account(s) and ends their sessions: drsmith, manager"
            in result["warnings"])
    result = run_with(staff_config(STAFF[:5]), current_users=NOW)  # 3 of 8 > 25 %
    assert result["failed"]


def test_accounts_already_disabled_or_added_by_hand_are_not_counted_and_no_database_means_no_judgement():
    now = [*NOW, {"username": "temp", "enabled": 1, "admin_disabled": 0, "source": "admin"},
           {"username": "gone", "enabled": 0, "admin_disabled": 0, "source": "inventory"}]
    result = run_with(staff_config(STAFF), current_users=now)
    assert not result.get("failed"), result
    assert not any("disables" in w for w in result.get("warnings", []))
    assert not run_with(staff_config([]), current_users=None).get("failed")
    assert not run_with(staff_config([]), current_users=[]).get("failed")


def test_a_gateway_only_policy_naming_an_unknown_user_is_refused_with_the_closest_account():
    policy = copy.deepcopy(POLICY)
    policy["policies"].append({"name": "doctors", "decision": "allow", "paths": ["/oscar"], "targets": ["gateway"],
                               "include": {"users": ["drsmiht"]}})
    result = run(changed(access_policy=policy))
    assert result["failed"]
    assert ("access_policy.policies[1].include.users[0]: 'drsmiht' (policy 'doctors') is neither an account in "
            "gateway_users nor a user in access_policy.users, so the policy never matches it (did you mean drsmith?)"
            ) in result["msg"]
    policy["policies"][1]["include"]["users"] = ["drsmith"]
    assert not run(changed(access_policy=policy)).get("failed")


def test_a_deny_after_an_allow_that_already_matches_its_people_and_paths_is_named_with_it_in_a_warning():
    policy = copy.deepcopy(POLICY)
    policy["policies"].append({"name": "no-locums", "decision": "deny", "paths": ["/oscar/admin"],
                               "include": {"groups": ["staff"]}})
    result = run(changed(access_policy=policy))
    assert not result.get("failed"), result
    assert ("access_policy.policies[1]: deny policy 'no-locums' can never apply: allow policy 'staff' (policies[0]) "
            "comes first and already admits everyone it matches on all its paths") in " ".join(result["warnings"])
    # Placed first, or matching people the allow does not, it can apply: no warning.
    policy["policies"].reverse()
    assert not any("can never apply" in w for w in run(changed(access_policy=policy)).get("warnings", []))
    policy["policies"].reverse()
    policy["policies"][1]["include"] = {"emails": ["locum@elsewhere.test"]}
    assert not any("can never apply" in w for w in run(changed(access_policy=policy)).get("warnings", []))


def run_beside_nginx(config, server_names):
    task = MagicMock()
    task.args = {"config": config}
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.gateway_validate"
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    plugin = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=templar, shared_loader_obj=None)
    return plugin.run(task_vars={"nginx_server_names": server_names})


def test_the_gateways_host_name_is_nginxs_canonical_name():
    """Issue 13: gateway_public_host and nginx_server_names[0] were two variables kept equal by hand; the first
    follows the second now, and an inventory that sets them apart is refused before any change."""
    result = run_beside_nginx(changed(public_host="emr.clinic.test"), ["oscar-lan.clinic.test", "emr.clinic.test"])
    assert result["failed"]
    assert ("gateway_public_host: 'emr.clinic.test' is not nginx_server_names[0] ('oscar-lan.clinic.test'), the name "
            "the front door sends everyone to" in result["msg"])
    assert not run_beside_nginx(changed(public_host="emr.clinic.test"), ["EMR.clinic.test", "oscar-lan"]).get("failed")


def test_account_expiry_a_date_and_never_already_past_for_a_new_account():
    """gateway_users[].expires follows WireGuard peers' rule (plugins/module_utils/_expiry.py): a date YYYY-MM-DD; a
    new account whose date has come is refused (it could never sign in); an account already on the gateway may reach
    its date (it is then expired, not an error). Dates as YAML parses them are written as ISO text."""
    def user(name, expires):
        return {"username": name, "display_name": name, "email": name + "@clinic.test", "expires": expires}

    existing = [{"username": "drsmith", "enabled": 1, "admin_disabled": 0, "source": "inventory"}]
    result = run_with(changed(users=[user("drsmith", "2026-12-01"), user("locum", "2026-12-06"),
                                     user("nurse", "next week"), user("desk", "2026-02-30")]),
                      current_users=existing, today="2026-12-06")
    assert result["failed"]
    assert ("gateway_users[1].expires: '2026-12-06' is not after today (2026-12-06 on the host) and this account is "
            "not on the gateway yet, so it would never work; correct the date (the year?) or leave the account out"
            in result["msg"]), result["msg"]
    assert "gateway_users[2].expires: 'next week' is not a date YYYY-MM-DD" in result["msg"]
    assert "gateway_users[3].expires: '2026-02-30' is not a date YYYY-MM-DD" in result["msg"]
    assert "gateway_users[0]" not in result["msg"]
    # No database yet: every account is new.
    new_only = run_with(changed(users=[user("drsmith", "2026-12-01")]), current_users=None, today="2026-12-06")
    assert "gateway_users[0].expires" in new_only["msg"]
    result = run_with(changed(users=[user("drsmith", datetime.date(2026, 12, 20))]), current_users=None,
                      today="2026-12-06")
    assert not result.get("failed"), result
    assert result["config"]["users"][0]["expires"] == "2026-12-20"


CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0FfdGVzdA==\n-----END CERTIFICATE-----\n"


def test_retention_and_disk_guard_settings_name_their_variables():
    result = run(changed(audit={"retention_days": 30, "disk_warn_days": 0}))
    assert result["failed"]
    assert "gateway_audit_retention_days: 30 is not a whole number of days from 365" in result["msg"]
    assert "gateway_audit_disk_warn_days: 0 is not" in result["msg"]
    assert not run(changed(audit={"retention_days": 2557, "disk_warn_days": 180})).get("failed")


def test_the_off_box_receiver_needs_its_ca_and_sane_settings():
    good = {"gateway_audit_syslog_host": "logs.clinic.test", "gateway_audit_syslog_port": 6514,
            "gateway_audit_syslog_ca": CA, "gateway_audit_syslog_peer": "", "gateway_audit_syslog_queue_max": "1g",
            "gateway_audit_syslog_retry_seconds": 30}
    assert not run(CONFIG, **good).get("failed")
    no_receiver = dict(good)
    no_receiver.update({"gateway_audit_syslog_host": "", "gateway_audit_syslog_ca": ""})
    assert not run(CONFIG, **no_receiver).get("failed")  # no receiver: nothing to check
    bad = dict(good)
    bad.update({"gateway_audit_syslog_host": "logs.clinic.test:6514", "gateway_audit_syslog_port": 70000,
                "gateway_audit_syslog_ca": "", "gateway_audit_syslog_queue_max": "lots"})
    result = run(CONFIG, **bad)
    assert result["failed"]
    for expected in ("gateway_audit_syslog_host: 'logs.clinic.test:6514' is not a host name",
                     "gateway_audit_syslog_port: 70000 is not a TCP port", "gateway_audit_syslog_ca: must be the PEM",
                     "gateway_audit_syslog_queue_max: 'lots' is not a size"):
        assert expected in result["msg"], result["msg"]


def test_a_relay_login_without_its_password_fails_before_any_change():
    mail = {"relay_host": "smtp.provider.test", "from_address": "gw@clinic.test",
            "credentials_file": "/etc/oscar-gateway/mail-credentials.json"}
    task = MagicMock()
    task.args = {"config": changed(mail=mail), "mail_password_set": False}
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.gateway_validate"
    result = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None).run(
        task_vars={})
    assert result["failed"] and "gateway_mail_password: is empty while gateway_mail_username is set" in result["msg"]
    task.args = {"config": changed(mail=mail), "mail_password_set": True}
    result = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None).run(
        task_vars={})
    assert not result.get("failed"), result


def test_the_decision_socket_must_be_a_path_of_its_own():
    """Both listeners on one path: the second bind fails on the host after every file has changed; refused first."""
    same = {"unix_socket": "/run/oscar-gateway/gateway.sock", "auth_socket": "/run/oscar-gateway/gateway.sock",
            "socket_mode": "0660"}
    result = run(changed(listen=same))
    assert result["failed"]
    assert "gateway_auth_socket: '/run/oscar-gateway/gateway.sock' is the same path as gateway_socket" in result["msg"]
    relative = dict(same, unix_socket="run/gateway.sock", auth_socket="auth.sock")
    result = run(changed(listen=relative))
    assert "gateway_socket: 'run/gateway.sock' is not an absolute path" in result["msg"]
    assert "gateway_auth_socket: 'auth.sock' is not an absolute path" in result["msg"]
    apart = dict(same, auth_socket="/run/oscar-gateway/auth.sock")
    assert not run(changed(listen=apart)).get("failed")
