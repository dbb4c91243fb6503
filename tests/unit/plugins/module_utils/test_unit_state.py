"""systemd_if_needed's rules (plugins/module_utils/_unit_state.py): the module is left out only for a unit to be
started and enabled that systemd reports loaded, running (as ansible.builtin.systemd_service counts it) and plainly
enabled; everything else goes to the module."""

import subprocess

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._unit_state import (
    nothing_to_do,
    parse,
    plan,
    read_command,
)


@pytest.mark.parametrize("args", [
    {"name": "nginx.service", "state": "restarted"},
    {"name": "nginx.service", "state": "reloaded"},
    {"name": "nginx.service", "state": "stopped"},
    {"name": "nginx.service", "enabled": False},
    {"name": "nginx.service", "state": "started", "daemon_reload": True},
    {"name": "nginx.service", "state": "started", "daemon_reload": "yes"},
    {"name": "nginx.service", "state": "started", "masked": False},
    {"name": "nginx.service", "state": "started", "scope": "user"},
    {"name": "nginx.service", "daemon_reexec": True},
    {"name": "nginx.service"},
    {"state": "started"},
])
def test_what_is_not_judged_here_goes_to_the_module(args):
    assert plan(args) is None


def test_start_and_enable_are_judged():
    assert plan({"name": "nginx.service", "state": "started", "enabled": True, "no_block": True,
                 "daemon_reload": False}) == "nginx.service"
    assert plan({"name": "nginx.service", "enabled": "true", "daemon_reload": "False"}) == "nginx.service"


SHOWN = "LoadState=loaded\nActiveState=%s\nIsEnabled=%s\n"


@pytest.mark.parametrize("active, enabled, left_out", [
    ("active", "enabled", True),
    # Type=notify before READY=1 (cloudflared without its edge): the module does not start it again either.
    ("activating", "enabled", True),
    ("inactive", "enabled", False),
    ("failed", "enabled", False),
    ("deactivating", "enabled", False),
    ("active", "disabled", False),
    # The module's to judge (it enables an enabled-runtime, indirect or alias unit again, accepts static).
    ("active", "static", False),
    ("active", "enabled-runtime", False),
    ("active", "indirect", False),
    ("active", "", False),
])
def test_only_a_running_enabled_unit_leaves_the_module_out(active, enabled, left_out):
    args = {"name": "x.service", "state": "started", "enabled": True}
    assert (nothing_to_do(args, parse(SHOWN % (active, enabled))) is not None) is left_out


def test_a_unit_not_loaded_goes_to_the_module():
    args = {"name": "x.service", "state": "started"}
    assert nothing_to_do(args, parse("LoadState=not-found\nActiveState=inactive\nIsEnabled=\n")) is None
    assert nothing_to_do(args, parse("LoadState=masked\nActiveState=active\nIsEnabled=masked\n")) is None
    assert nothing_to_do(args, parse("")) is None
    assert nothing_to_do(args, parse("LoadState=loaded\nActiveState=active\n")) == "x.service is active"


def test_a_line_a_tty_adds_is_read_as_without_it():
    # Over SSH with a tty, lines end in \r\n and stderr joins stdout.
    shown = "LoadState=loaded\r\nActiveState=active\r\nFailed to get unit file state: x\r\nIsEnabled=enabled\r\n"
    assert nothing_to_do({"name": "x.service", "state": "started", "enabled": True}, parse(shown))


def test_the_read_quotes_the_unit_name():
    command = read_command("a b; touch x.service")
    assert "'a b; touch x.service'" in command
    # The shell parses it (systemctl itself may be absent or without a running systemd here).
    subprocess.run(["/bin/sh", "-n", "-c", command], check=True)
