"""Where wg-quick runs wireguard-go, and so where the wireguard role supervises it: the kernel detection, the choice
made from wireguard_userspace, what wireguard_info reports, and the drop-in the role writes (rendered from the role's
own template). The kernel path cannot run in the test bed (its kernel has no WireGuard): these tests are its proof
that nothing is written there."""

import configparser
import json
import os

import jinja2
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _wireguard as wg
from ansible_collections.oscar_emr.remote_access.plugins.modules import wireguard_info

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "wireguard")
RELEASE = "6.1.0-test-amd64"


def kernel(tmp_path, loaded=False, builtin=False, module_file=None):
    """A fake /sys and /lib/modules for one kernel release; returns kernel_has_wireguard's answer."""
    sys_root, modules = tmp_path / "sys", tmp_path / "modules"
    (sys_root / "module").mkdir(parents=True)
    (modules / RELEASE).mkdir(parents=True)
    if loaded:
        (sys_root / "module" / "wireguard").mkdir()
    (modules / RELEASE / "modules.builtin").write_text(
        "kernel/net/ipv4/tcp_cubic.ko\n" + ("kernel/drivers/net/wireguard/wireguard.ko\n" if builtin else ""))
    if module_file:
        path = modules / RELEASE / module_file
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x7fELF")
    return wg.kernel_has_wireguard(str(sys_root), str(modules), RELEASE)


def test_kernel_without_wireguard(tmp_path):
    assert kernel(tmp_path) is False


@pytest.mark.parametrize("how", [
    {"loaded": True},
    {"builtin": True},
    {"module_file": "kernel/drivers/net/wireguard/wireguard.ko.xz"},
    {"module_file": "updates/dkms/wireguard.ko"},
])
def test_kernel_with_wireguard_loaded_built_in_or_as_a_module_file(tmp_path, how):
    assert kernel(tmp_path, **how) is True


@pytest.mark.parametrize("setting, kernel_module, install, supervise", [
    # The kernel's WireGuard: wg-quick uses it whatever is installed, nothing to supervise, nothing changes.
    ("auto", True, False, False),
    ("always", True, True, False),
    ("never", True, False, False),
    # No WireGuard in the kernel: wg-quick falls back to wireguard-go when it is installed, and then it is supervised.
    ("auto", False, True, True),
    ("always", False, True, True),
    ("never", False, False, False),
])
def test_userspace_plan(setting, kernel_module, install, supervise):
    assert wg.userspace_plan(setting, kernel_module) == {
        "install_wireguard_go": install, "supervise_wireguard_go": supervise}


def test_userspace_plan_names_a_wrong_setting():
    with pytest.raises(ValueError, match="wireguard_userspace: 'sometimes'"):
        wg.userspace_plan("sometimes", False)


@pytest.mark.parametrize("kernel_module", [True, False])
def test_wireguard_info_reports_the_plan_for_the_hosts_kernel(tmp_path, capsys, monkeypatch, kernel_module):
    monkeypatch.setattr(wireguard_info, "kernel_has_wireguard", lambda: kernel_module)
    args = {"conf_dir": str(tmp_path), "userspace": "auto", "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        wireguard_info.main()
    result = json.loads(capsys.readouterr().out)
    assert result["kernel_module"] is kernel_module
    assert result["install_wireguard_go"] is result["supervise_wireguard_go"] is (not kernel_module)
    assert result["changed"] is False


def test_the_supervision_drop_in_makes_wireguard_go_the_main_process_and_restarts_it():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
                             undefined=jinja2.StrictUndefined)
    text = env.get_template("wg-quick-supervision.conf.j2").render(
        item={"name": "wg0"}, __wireguard_conf_dir="/etc/wireguard")
    unit = configparser.ConfigParser(strict=True, interpolation=None, comment_prefixes=("#",))
    unit.optionxform = str
    unit.read_string(text)
    assert dict(unit["Service"]) == {"Type": "forking", "GuessMainPID": "yes", "RemainAfterExit": "yes",
                                     "Restart": "on-failure", "RestartSec": "2s"}
    # A start limit systemd can reach: 5 starts, 2 s apart at the least, fit in the interval.
    assert dict(unit["Unit"]) == {"StartLimitIntervalSec": "300s", "StartLimitBurst": "5"}
    # Only restart policy: nothing that would change how the interface is brought up, down or reloaded.
    assert not [line for line in text.splitlines() if line.startswith(("Exec", "Environment"))]
    assert "/etc/wireguard/wg0.conf" in text
