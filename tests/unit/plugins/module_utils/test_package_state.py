"""apt_if_needed's rules (plugins/module_utils/_package_state.py): which apt arguments it judges at all, and that the
read, run by /bin/sh against this machine's real dpkg database and a real package file built here, leaves apt out
only when every package is installed (the package file's version, for deb) and the lists are young enough."""

import os
import subprocess

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._package_state import (
    LISTS_STAMPS,
    nothing_to_do,
    parse,
    plan,
    read_command,
)

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg-query"), reason="needs dpkg (Debian)")


def read(wanted):
    """The read as the action runs it on a host (here: this machine)."""
    proc = subprocess.run(["/bin/sh", "-c", read_command(wanted)], capture_output=True, text=True, check=True)
    return parse(proc.stdout)


def installed_version(name):
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("args", [
    {"name": ["nginx"], "state": "latest"},
    {"name": ["nginx"], "state": "absent"},
    {"name": ["nginx=1.22"]},
    {"name": ["nginx/bookworm"]},
    {"name": ["nginx:arm64"]},
    {"name": ["nginx*"]},
    {"name": []},
    {"name": ["nginx"], "update_cache": True},  # no cache_valid_time: apt refreshes on every run
    {"name": ["nginx"], "upgrade": "dist"},
    {"name": ["nginx"], "autoremove": True},
    {"name": ["nginx"], "force": True},
    {"deb": "https://example.org/x.deb"},
    {"deb": "/tmp/a.deb,/tmp/b.deb"},
    {"deb": "/tmp/a.deb", "force": True},
])
def test_what_is_not_judged_here_goes_to_apt(args):
    assert plan(args) is None


def test_names_as_a_list_or_a_comma_separated_string():
    assert plan({"name": "nftables, procps", "state": "present"})["names"] == ["nftables", "procps"]
    assert plan({"name": ["nftables"], "update_cache": True, "cache_valid_time": 3600}) == {
        "names": ["nftables"], "deb": None, "lists_valid": 3600}


def test_installed_packages_leave_apt_out_and_a_missing_one_does_not():
    wanted = plan({"name": ["dpkg", "coreutils"], "state": "present", "install_recommends": False})
    assert nothing_to_do(wanted, read(wanted)) == "installed: dpkg, coreutils"
    wanted = plan({"name": ["dpkg", "oscar-no-such-package"]})
    assert nothing_to_do(wanted, read(wanted)) is None


def test_a_package_known_but_not_installed_goes_to_apt():
    # Removed with its configuration kept: dpkg lists it, not as installed.
    output = "now\t100\narch\tamd64\npkg\tnginx\tdeinstall ok config-files\t1.22.1-9\tamd64\n"
    wanted = plan({"name": ["nginx"]})
    assert nothing_to_do(wanted, parse(output)) is None


def test_only_another_architectures_package_goes_to_apt():
    output = "now\t100\narch\tamd64\npkg\tlibfoo:i386\tinstall ok installed\t1.0\ti386\n"
    assert nothing_to_do(plan({"name": ["libfoo"]}), parse(output)) is None
    # Multi-Arch: same packages carry the native qualifier: still the native package.
    output = "now\t100\narch\tamd64\npkg\tlibfoo:amd64\tinstall ok installed\t1.0\tamd64\n"
    assert nothing_to_do(plan({"name": ["libfoo"]}), parse(output)) == "installed: libfoo"


def test_lists_older_than_cache_valid_time_go_to_apt(tmp_path):
    wanted = plan({"name": ["dpkg"], "update_cache": True, "cache_valid_time": 3600})
    found = read(wanted)
    if "lists" not in found:
        pytest.skip("this machine has no apt lists")
    # As apt's module judges it: refreshed when older than cache_valid_time.
    age = found["now"] - found["lists"]
    young = dict(found, lists=found["now"] - 10)
    old = dict(found, lists=found["now"] - 3600)
    assert nothing_to_do(wanted, young) == "installed: dpkg"
    assert nothing_to_do(wanted, old) is None
    assert (nothing_to_do(wanted, found) is None) is (age >= 3600)
    assert nothing_to_do(wanted, {k: v for k, v in found.items() if k != "lists"}) is None


def test_a_read_that_said_nothing_goes_to_apt():
    wanted = plan({"name": ["dpkg"]})
    assert nothing_to_do(wanted, parse("")) is None


def build_deb(tmp_path, version):
    root = tmp_path / ("pkg-" + version)
    (root / "DEBIAN").mkdir(parents=True)
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    (root / "DEBIAN" / "control").write_text(
        "Package: dpkg\nVersion: %s\nArchitecture: %s\nMaintainer: test <t@example.org>\nDescription: test\n"
        % (version, arch))
    deb = tmp_path / ("dpkg_%s.deb" % version)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], capture_output=True, check=True)
    return str(deb)


def test_a_package_file_whose_version_is_installed_leaves_apt_out_and_another_version_does_not(tmp_path):
    same = plan({"deb": build_deb(tmp_path, installed_version("dpkg")), "allow_downgrade": True})
    assert nothing_to_do(same, read(same)).startswith("dpkg %s is installed" % installed_version("dpkg"))
    other = plan({"deb": build_deb(tmp_path, "0.0.1"), "allow_downgrade": True})
    assert nothing_to_do(other, read(other)) is None
    # Not there yet (check mode before the copy): apt says so, or its check mode does.
    missing = plan({"deb": str(tmp_path / "absent.deb")})
    assert nothing_to_do(missing, read(missing)) is None


def test_the_read_quotes_the_package_file(tmp_path):
    deb = build_deb(tmp_path, installed_version("dpkg"))
    odd = tmp_path / "a dir; touch x" / "p.deb"
    odd.parent.mkdir()
    os.rename(deb, odd)
    wanted = plan({"deb": str(odd)})
    assert nothing_to_do(wanted, read(wanted)) is not None
    assert not (tmp_path / "x").exists() and not os.path.exists("x")


def test_the_lists_age_is_read_where_apts_module_reads_it():
    from ansible.modules import apt

    assert LISTS_STAMPS == (apt.APT_UPDATE_SUCCESS_STAMP_PATH, apt.APT_LISTS_PATH)
