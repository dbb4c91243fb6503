"""One validation idiom for every role: tasks/validate.yml runs the role's <role>_validate action plugin, which
refuses misspelt variables (naming the closest known one) before the role's own rules, and the known names come
from the role's meta/argument_specs.yml (held equal to defaults/main.yml by test_role_contracts.py)."""

import importlib
from pathlib import Path
from unittest.mock import MagicMock

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems, closest
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import role_variable_names

ROOT = Path(__file__).resolve().parents[4]
COLLECTION = "oscar_emr.remote_access"
# The roles converted to the idiom so far, and one misspelling of each with the name it should suggest.
ROLES = {
    "nginx": ("nginx_gateway_enable", "nginx_gateway_enabled"),
    "gateway": ("gateway_clinic_nmae", "gateway_clinic_name"),
    "firewall": ("firewall_servcies", "firewall_services"),
    "wireguard": ("wireguard_peer", "wireguard_peers"),
    "cloudflared": ("cloudflared_tunnel_tokn", "cloudflared_tunnel_token"),
    "patch": ("patch_rebot", "patch_reboot"),
}

# The role's own arguments, empty: the misspelt name is reported first, before whatever else they lack.
REQUIRED = {"nginx": {"values": {}}, "gateway": {"config": {}}, "wireguard": {"interfaces": []},
            "cloudflared": {"settings": {"state": "absent"}}, "patch": {"values": {}}}


def spec_options(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for entry in specs.values() for name in (entry.get("options") or {})}


def validate_task(role):
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "validate.yml").read_text())
    found = [t for t in tasks if f"{COLLECTION}.{role}_validate" in t]
    assert len(found) == 1, f"roles/{role}/tasks/validate.yml must run {COLLECTION}.{role}_validate once"
    return found[0]


def action(role, args, execute_module=None):
    module = importlib.import_module(f"ansible_collections.oscar_emr.remote_access.plugins.action.{role}_validate")
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = f"{COLLECTION}.{role}_validate"
    connection = MagicMock()
    connection._load_name = "local"
    play_context = MagicMock()
    play_context.connection = "local"
    plugin = module.ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    plugin._execute_module = execute_module or MagicMock(side_effect=AssertionError("must fail before the module"))
    return plugin


@pytest.mark.parametrize("role", sorted(ROLES))
def test_known_names_are_the_specs_options_and_the_facts_the_role_publishes(role):
    known = role_variable_names(role)
    assert spec_options(role) <= known
    extra = known - spec_options(role)
    # Published for the firewall role, or (patch) the health snapshot its own plays read.
    assert all(name.startswith((f"{role}_firewall_", "patch_health")) for name in extra), extra


def test_published_facts_are_known():
    assert "wireguard_firewall_needs" in role_variable_names("wireguard")
    assert "cloudflared_firewall_needs" in role_variable_names("cloudflared")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_validate_yml_passes_every_variable_with_the_role_prefix(role):
    names = validate_task(role)[f"{COLLECTION}.{role}_validate"]["variable_names"]
    assert names == "{{ query('ansible.builtin.varnames', '^%s_') }}" % role or names == "{{ __%s_names }}" % role


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_misspelt_variable_fails_naming_the_closest_known_one(role):
    typo, meant = ROLES[role]
    known = sorted(spec_options(role))
    result = action(role, dict(REQUIRED.get(role, {}), variable_names=[*known, typo])).run(task_vars={})
    assert result["failed"] is True, result
    expected = f"{typo}: is not a variable of the {role} role (did you mean {meant}?)"
    assert expected in result["msg"], result["msg"]
    assert "nothing was changed on the host" in result["msg"]
    assert result["errors"][0].startswith(typo)


def test_nginx_gateway_enable_is_refused_before_anything_changes():
    """The issue's case: one letter short of the real variable silently removed the sign-in hook."""
    defaults = yaml.safe_load((ROOT / "roles" / "nginx" / "defaults" / "main.yml").read_text())
    # Some defaults follow the gateway role's variables ("{{ gateway_socket | default(...) }}"): template them as
    # Ansible would with no inventory (twice: nginx_gateway_login_url builds on nginx_gateway_prefix).
    for _round in range(2):
        defaults = {k: NativeEnvironment().from_string(v).render(defaults)
                    if k.startswith("nginx_gateway_") and isinstance(v, str) and "{{" in v else v
                    for k, v in defaults.items()}
    values = dict(defaults, nginx_server_names=["emr.clinic.example"], nginx_gateway_enable=True)
    result = action("nginx", {"values": values, "variable_names": sorted(values)}).run(task_vars={})
    assert result["failed"] is True
    assert result["errors"] == ["nginx_gateway_enable: is not a variable of the nginx role (did you mean "
                                "nginx_gateway_enabled?); the role would ignore it (its variables are in "
                                "roles/nginx/meta/argument_specs.yml)"]
    # The same values without the typo pass.
    del values["nginx_gateway_enable"]
    assert not action("nginx", {"values": values, "variable_names": sorted(values)}).run(task_vars={}).get("failed")


def test_the_value_of_a_misspelt_variable_is_not_shown():
    problems = Problems()
    problems.unknown_variables(["gateway_cloudflare_service_tokns"], role_variable_names("gateway"), "gateway_",
                               "gateway")
    assert problems.errors and "did you mean gateway_cloudflare_service_tokens?" in problems.errors[0]


def test_names_without_the_prefix_are_not_the_roles_business():
    problems = Problems()
    problems.unknown_variables(["nginxish", "gateway_mode"], role_variable_names("nginx"), "nginx_", "nginx")
    assert not problems


def test_wireguard_runs_its_module_only_when_the_names_are_right():
    module = MagicMock(return_value={"changed": False, "model": {"mode": "gateway"}})
    known = sorted(spec_options("wireguard"))
    result = action("wireguard", {"interfaces": [], "oscar_address": "192.0.2.1", "variable_names": known},
                    execute_module=module).run(task_vars={})
    assert not result.get("failed"), result
    assert result["model"] == {"mode": "gateway"}
    sent = module.call_args.kwargs["module_args"]
    assert "variable_names" not in sent and sent["oscar_address"] == "192.0.2.1"
    module = MagicMock(return_value={"failed": True, "msg": "x", "errors": ["wireguard_peers[0].address: bad"]})
    result = action("wireguard", {"interfaces": [], "variable_names": known}, execute_module=module).run(task_vars={})
    assert result["failed"] and result["errors"] == ["wireguard_peers[0].address: bad"]


def test_unknown_keys_inside_structured_variables_suggest_the_closest_key():
    problems = Problems()
    problems.unknown_keys("nginx_location_overrides[0]", {"path": "/oscar/x/", "proxy_read_timout": "5m"},
                          ("path", "proxy_read_timeout"))
    assert problems.errors == ["nginx_location_overrides[0]: unknown keys proxy_read_timout (did you mean "
                               "proxy_read_timeout?) (allowed: path, proxy_read_timeout)"]
    assert closest("zzz", ["path"]) is None
