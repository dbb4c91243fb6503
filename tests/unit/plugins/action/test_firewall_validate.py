"""The firewall_validate action: runs on the controller, reads $SSH_CONNECTION only over SSH, fails early."""

from unittest.mock import MagicMock

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.action.firewall_validate import ActionModule

GOOD = {
    "services": [{"name": "https", "port": 443, "sources": ["0.0.0.0/0", "::/0"]}],
    "management_sources": ["192.0.2.0/24"],
}


def action(args, connection="ssh", ssh_connection="192.0.2.10 51234 192.0.2.1 22"):
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = "oscar_emr.remote_access.firewall_validate"
    conn = MagicMock()
    conn._load_name = connection
    play_context = MagicMock()
    play_context.connection = connection
    plugin = ActionModule(task, conn, play_context, loader=None, templar=None, shared_loader_obj=None)
    plugin._low_level_execute_command = MagicMock(return_value={"rc": 0, "stdout": ssh_connection + "\n"})
    return plugin


def test_over_ssh_the_controller_address_is_read_without_become():
    plugin = action(GOOD)
    result = plugin.run(task_vars={})
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["controller"] == {"address": "192.0.2.10", "ssh_port": 22}
    plugin._low_level_execute_command.assert_called_once_with("printenv SSH_CONNECTION", sudoable=False)
    assert result["model"]["input_rules"][0] == {"match": "tcp dport 22 ip saddr 192.0.2.0/24", "comment": "management"}


@pytest.mark.parametrize("connection", ["ssh", "ansible.builtin.ssh", "paramiko_ssh", "ansible.netcommon.libssh"])
def test_a_controller_outside_the_management_sources_is_refused(connection):
    plugin = action(GOOD, connection=connection, ssh_connection="203.0.113.9 40000 192.0.2.1 22")
    result = plugin.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"].startswith("Invalid firewall settings (nothing was changed on the host): ")
    assert "firewall_management_sources: Ansible connects from 203.0.113.9 to SSH port 22" in result["msg"]
    assert "model" not in result


def test_consent_turns_the_refusal_into_a_warning():
    plugin = action(dict(GOOD, allow_management_lockout=True), ssh_connection="203.0.113.9 40000 192.0.2.1 22")
    result = plugin.run(task_vars={})
    assert not result.get("failed")
    assert any("Ansible connects from 203.0.113.9" in w for w in result["warnings"])


@pytest.mark.parametrize("connection", ["containers.podman.podman", "local", "community.docker.docker"])
def test_other_connections_are_not_probed(connection):
    plugin = action(GOOD, connection=connection)
    result = plugin.run(task_vars={})
    assert not result.get("failed")
    assert result["controller"] is None
    assert "is not SSH" in result["controller_detection"]
    plugin._low_level_execute_command.assert_not_called()


def test_ssh_without_ssh_connection_warns_and_checks_the_rest():
    plugin = action(GOOD, ssh_connection="")
    result = plugin.run(task_vars={})
    assert not result.get("failed")
    assert result["controller"] is None
    assert any("could not tell the controller's address" in w for w in result["warnings"])


def test_errors_name_the_variable_and_value():
    args = dict(GOOD, services=[{"name": "https", "port": 443, "sources": ["0.0.0.0/0"]},
                                {"name": "web", "port": 80, "sources": ["10.0.0.300/24"]}])
    result = action(args).run(task_vars={})
    assert result["failed"] is True
    assert result["errors"] == ["firewall_services[1].sources[0]: '10.0.0.300/24' is not a valid CIDR"]


def test_unknown_options_are_rejected():
    from ansible.errors import AnsibleActionFail

    with pytest.raises(AnsibleActionFail, match="Invalid options"):
        action(dict(GOOD, servcies=[])).run(task_vars={})


def test_values_from_key_value_extra_vars_are_coerced():
    """-e firewall_rollback_timeout=30 arrives as a string; -e firewall_allow_ping=false too."""
    result = action(dict(GOOD, rollback_timeout="30", allow_ping="false"), connection="local").run(task_vars={})
    assert not result.get("failed"), result
    assert result["model"]["allow_ping"] is False
