"""One gateway-configuration schema (plugins/module_utils/_gateway_config.py) for the role's controller check and the
gateway's own loader: the same inputs are accepted or refused by both, the controller naming the role variable and
the gateway the configuration key. The first cases are the drifts issue 13 found (each failed before): a role named
``front desk`` passed the controller and stopped the gateway on the host after packages were installed, ``md+locum``
(a role the access policy may name) was refused by the controller, and the two sides had different AUD-tag rules."""

import copy
import datetime
from unittest.mock import MagicMock

import pytest
from gwtest import AUD, TEAM, base_config
from oscar_gateway import config

from ansible_collections.oscar_emr.remote_access.plugins.action import gateway_validate
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._gateway_config import ROLE_VARIABLES


def controller(cfg):
    task = MagicMock()
    task.args = {"config": copy.deepcopy(cfg)}
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.gateway_validate"
    plugin = gateway_validate.ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None,
                                           shared_loader_obj=None)
    result = plugin.run(task_vars={})
    return result.get("errors") or []


def gateway(cfg):
    try:
        config.validate(copy.deepcopy(cfg), {})
    except config.ConfigError as exc:
        return [str(exc)]
    return []


def user(**fields):
    return dict({"username": "frontdesk", "display_name": "Front desk", "email": "desk@clinic.test"}, **fields)


CASES = [
    # (name, change to the configuration, accepted, the key the gateway names, the variable the controller names)
    ("role with a space", {"users": [user(role="front desk")]}, False, "users[0].role", "gateway_users[0].role"),
    ("role md+locum", {"users": [user(role="md+locum")]}, True, None, None),
    ("aud tag too short", {"cloudflare_aud": ["someone-elses-aud-tag-0000"]}, False, "cloudflare.aud",
     "gateway_cloudflare_aud"),
    ("aud tag as one string", {"cloudflare_aud": AUD}, True, None, None),
    ("aud tag upper-case", {"cloudflare_aud": [AUD.upper()]}, False, "cloudflare.aud", "gateway_cloudflare_aud"),
    ("bad email", {"users": [user(email="desk@clinic")]}, False, "users[0].email", "gateway_users[0].email"),
    ("misspelt user key", {"users": [user(rol="physician")]}, False, "users[0]", "gateway_users[0]"),
    ("expiry not a date", {"users": [user(expires="31/12/2030")]}, False, "users[0].expires",
     "gateway_users[0].expires"),
    # A new account's date must be after today on the controller: a year from now.
    ("expiry a date", {"users": [user(expires=(datetime.date.today() + datetime.timedelta(days=365)).isoformat())]},
     True, None, None),
    ("public host with scheme", {"public_host": "https://emr.clinic.test"}, False, "public_host",
     "gateway_public_host"),
    ("cache ttl too long", {"decision_cache": {"max_age_seconds": 61}}, False, "decision_cache.max_age_seconds",
     "gateway_decision_cache_ttl"),
    # Approvals by email: STARTTLS unless the relay is on loopback, a sender, grants no longer than the maximum.
    ("relay in clear", {"mail": {"relay_host": "smtp.provider.test", "starttls": False,
                                 "from_address": "gw@clinic.test"}}, False, "mail.starttls", "gateway_mail_starttls"),
    ("relay on loopback in clear", {"mail": {"relay_host": "127.0.0.1", "relay_port": 25, "starttls": False,
                                             "from_address": "gw@clinic.test"}}, True, None, None),
    ("relay localhost in clear", {"mail": {"relay_host": "localhost", "starttls": False,
                                           "from_address": "gw@clinic.test"}}, True, None, None),
    ("relay with STARTTLS", {"mail": {"relay_host": "smtp.provider.test", "from_address": "gw@clinic.test"}}, True,
     None, None),
    ("relay without a sender", {"mail": {"relay_host": "smtp.provider.test"}}, False, "mail.from_address",
     "gateway_mail_from"),
    ("relay sender not an address", {"mail": {"relay_host": "smtp.provider.test", "from_address": "gateway"}}, False,
     "mail.from_address", "gateway_mail_from"),
    ("relay port out of range", {"mail": {"relay_host": "smtp.provider.test", "relay_port": 70000,
                                          "from_address": "gw@clinic.test"}}, False, "mail.relay_port",
     "gateway_mail_relay_port"),
    ("relay a URL", {"mail": {"relay_host": "smtp://smtp.provider.test", "from_address": "gw@clinic.test"}}, False,
     "mail.relay_host", "gateway_mail_relay_host"),
    ("grant longer than the maximum", {"approvals": {"grant_seconds": 90000}}, False, "approvals.grant_seconds",
     "gateway_approval_grant_seconds"),
    ("approval policy session longer than the maximum", {"sensitive_session": "48h"}, False,
     "access_policy.policies[3].session_duration", "access_policy.policies[3].session_duration"),
    ("approval policy session within the maximum", {"sensitive_session": "4h"}, True, None, None),
    ("both listeners on one path", {"listen": {"unix_socket": "/run/gw/gw.sock", "auth_socket": "/run/gw/gw.sock",
                                               "socket_mode": "0660"}}, False, "listen.auth_socket",
     "gateway_auth_socket"),
    ("a relative socket", {"listen": {"unix_socket": "gw.sock", "auth_socket": "", "socket_mode": "0660"}}, False,
     "listen.unix_socket", "gateway_socket"),
]


@pytest.mark.parametrize("name, change, accepted, key, variable", CASES, ids=[c[0] for c in CASES])
def test_controller_and_gateway_agree(tmp_path, name, change, accepted, key, variable):
    cfg = base_config(tmp_path, mode="cloudflare")
    cfg["cloudflare"] = {"team_domain": TEAM, "aud": [AUD]}
    cfg["access_policy"]["application"]["domain"] = cfg["public_host"]
    for field, value in change.items():
        if field == "cloudflare_aud":
            cfg["cloudflare"]["aud"] = value
        elif field == "sensitive_session":
            assert cfg["access_policy"]["policies"][3]["name"] == "sensitive"
            cfg["access_policy"]["policies"][3]["session_duration"] = value
        else:
            cfg[field] = value
    on_controller, on_gateway = controller(cfg), gateway(cfg)
    if accepted:
        assert on_controller == [] and on_gateway == [], (on_controller, on_gateway)
        return
    assert any(e.startswith(variable + ":") or e.startswith(variable + ".") for e in on_controller), on_controller
    assert key + ":" in on_gateway[0] if on_gateway else False, on_gateway


def test_every_mapped_key_is_written_from_its_variable():
    """The table's variables are the ones roles/gateway/vars/main.yml writes each key from."""
    import yaml
    from gwtest import ROOT
    written = yaml.safe_load((ROOT / "roles" / "gateway" / "vars" / "main.yml").read_text())["__gateway_config"]
    for key, variable in ROLE_VARIABLES.items():
        value = written
        for part in key.split("."):
            value = value[part]
        assert variable in str(value), f"{key} is written from {value!r}, not {variable}"


def test_the_host_layout_checks_with_the_same_schema(tmp_path):
    """As the role installs it: the gateway's package plus the files of __gateway_shared_modules (the access-policy
    model and decision, not its Cloudflare translation), without the collection on the path. The configuration
    check runs the shared schema there too: a role with a space is refused on the host with the key named."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    import yaml
    from gwtest import GATEWAY_FILES, ROOT, make_gateway
    role_vars = yaml.safe_load((ROOT / "roles" / "gateway" / "vars" / "main.yml").read_text())
    host = tmp_path / "lib"
    shutil.copytree(GATEWAY_FILES / "oscar_gateway", host / "oscar_gateway",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in role_vars["__gateway_shared_modules"]:
        (host / "oscar_gateway" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "plugins" / "module_utils" / name, host / "oscar_gateway" / name)
    assert not (host / "oscar_gateway" / "_access_policy" / "cloudflare.py").exists()
    make_gateway(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(host))
    check = [sys.executable, "-I", "-c", "import sys, runpy; sys.path.insert(0, %r); "
             "sys.modules['ansible_collections'] = None; sys.argv = ['oscar_gateway', '--config', %r, '--check']; "
             "runpy.run_module('oscar_gateway', run_name='__main__')" % (str(host), str(tmp_path / "config.json"))]
    result = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "configuration OK" in result.stdout, result.stderr
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["users"][0]["role"] = "front desk"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    result = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "users[0].role: 'front desk' is not a role name" in result.stdout + result.stderr


def test_a_relay_in_clear_is_refused_naming_the_variables_and_the_value(tmp_path):
    cfg = base_config(tmp_path)
    cfg["mail"] = {"relay_host": "smtp.provider.test", "starttls": False, "from_address": "gw@clinic.test"}
    errors = controller(cfg)
    (error,) = [e for e in errors if e.startswith("gateway_mail_")]
    assert error.startswith("gateway_mail_starttls: false with gateway_mail_relay_host 'smtp.provider.test': STARTTLS "
                            "is required unless the relay is on loopback"), error


def test_the_relays_login_comes_as_a_pair(tmp_path):
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils._gateway import mail_login_problems
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems

    def problems(credentials_file, password_set, relay="smtp.provider.test"):
        found = Problems()
        mail_login_problems({"mail": {"relay_host": relay, "credentials_file": credentials_file}},
                            {"mail_password_set": password_set}, found)
        return found.errors

    assert problems("/etc/oscar-gateway/mail-credentials.json", True) == []
    assert problems("", False) == []
    assert problems("/etc/oscar-gateway/mail-credentials.json", False)[0].startswith("gateway_mail_password: is empty")
    assert problems("", True)[0].startswith("gateway_mail_username: is empty")
    assert problems("", True, relay="")[-1].startswith("gateway_mail_relay_host: is empty")
