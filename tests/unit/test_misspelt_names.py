"""Every variable of every role, misspelt by one letter, is refused by the role's check naming the one it meant
(issue 20: ``gateway_user:`` for ``gateway_users:`` disabled every account, ``firewall_egress_enable:`` changed
nothing). The names come from the roles' meta/argument_specs.yml, the same list the check uses; that each role's
check runs this rule before any change is shown by tests/integration/test_misspelt_variables.py."""

from pathlib import Path

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems
from ansible_collections.oscar_emr.remote_access.plugins.plugin_utils._role_validate import role_variable_names

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.stem[:-len("_validate")] for p in ROOT.glob("plugins/action/*_validate.py"))
KNOWN = {role: role_variable_names(role) for role in ROLES}
CASES = [(role, name) for role in ROLES for name in sorted(KNOWN[role])]


def typos(name, prefix):
    """A letter dropped at the end (the plural s, the d of enabled) and two neighbours swapped in the middle of what
    follows the role's prefix (the check looks at the variables with the prefix)."""
    middle = len(prefix) + (len(name) - len(prefix)) // 2
    return [name[:-1], name[:middle] + name[middle + 1:middle + 2] + name[middle] + name[middle + 2:]]


def test_every_role_with_a_check_is_covered():
    assert set(ROLES) == {"cloudflared", "firewall", "fleet_controller", "gateway", "management_ssh", "nginx", "patch",
                          "wireguard"}
    assert ("gateway", "gateway_users") in CASES and ("firewall", "firewall_egress_enabled") in CASES


@pytest.mark.parametrize("role,name", CASES)
def test_a_one_letter_misspelling_is_refused_naming_the_variable_meant(role, name):
    known = KNOWN[role]
    for typo in typos(name, role + "_"):
        if typo in known or typo == name:
            continue
        problems = Problems()
        problems.unknown_variables([typo], known, role + "_", role)
        assert problems.errors, typo
        assert problems.errors[0].startswith("%s: is not a variable of the %s role (did you mean %s?)"
                                             % (typo, role, name)), problems.errors


def test_a_structured_variables_entries_are_checked_in_one_place():
    """Problems.entries: the list, each entry a mapping, each key known (with the closest one), for the WireGuard
    interfaces, peers and destinations and the gateway's accounts alike."""
    problems = Problems()
    found = problems.entries("wireguard_peers", [{"name": "a"}, "b", {"name": "c", "adress": "10.0.0.2"}],
                             ("name", "address"))
    assert [(index, path) for index, path, _entry in found] == [(0, "wireguard_peers[0]"), (2, "wireguard_peers[2]")]
    assert problems.errors == [
        "wireguard_peers[1]: must be a mapping",
        "wireguard_peers[2]: unknown keys adress (did you mean address?) (allowed: address, name)"]
    problems = Problems()
    assert problems.entries("gateway_users", {"name": "a"}, ("name",), "must be a list of mappings") == []
    assert problems.errors == ["gateway_users: must be a list of mappings"]
