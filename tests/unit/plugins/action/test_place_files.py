"""place_files with real Ansible on localhost (a role in a temporary directory): one module run when nothing differs,
only what differs written through the builtin copy/template (validate, --diff, check mode), per-file handlers."""

import grp
import json
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._file_placement import (
    PlacementError,
    check_entry,
    checksum,
    differences,
    find_arguments,
    paths_to_read,
)

ROOT = Path(__file__).resolve().parents[4]
COLLECTIONS = ROOT / ".build" / "collections"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name

PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - demo
"""

TASKS = """
- name: Place the files
  oscar_emr.remote_access.place_files:
    files:
      - template: conf.j2
        dest: "{{ where }}/app.conf"
        owner: %(owner)s
        group: %(group)s
        mode: "0640"
        validate: "/bin/grep -q '^valid' %%s"
      - src: unit.service
        dest: "{{ where }}/unit.service"
        owner: %(owner)s
        group: %(group)s
        mode: "0644"
      - dest: "{{ where }}/private"
        state: directory
        owner: %(owner)s
        group: %(group)s
        mode: "0750"
      - content: "token={{ word }}\\n"
        dest: "{{ where }}/private/note"
        owner: %(owner)s
        group: %(group)s
        mode: "0600"
      - src: "{{ source }}"
        remote_src: true
        dest: "{{ where }}/copied.pem"
        owner: %(owner)s
        group: %(group)s
        mode: "0640"
      - dest: "{{ where }}/stale"
        state: absent
      # One template, a file per interface: each with its own item.
      - template: per-interface.j2
        template_vars: {item: {name: wg0}}
        dest: "{{ where }}/wg0.conf"
        owner: %(owner)s
        group: %(group)s
        mode: "0644"
      - template: per-interface.j2
        template_vars: {item: {name: wg1}}
        dest: "{{ where }}/wg1.conf"
        owner: %(owner)s
        group: %(group)s
        mode: "0644"
  register: placed

- name: Tell the app handler about app.conf only
  ansible.builtin.debug:
    msg: app.conf changed
  changed_when: true
  when: where ~ '/app.conf' in placed.updated
  notify: App handler

- name: Tell the unit handler about unit.service only
  ansible.builtin.debug:
    msg: unit.service changed
  changed_when: true
  when: where ~ '/unit.service' in placed.updated
  notify: Unit handler
""" % {"owner": OWNER, "group": GROUP}

HANDLERS = """
- name: App handler
  ansible.builtin.debug:
    msg: APP-HANDLER-RAN
- name: Unit handler
  ansible.builtin.debug:
    msg: UNIT-HANDLER-RAN
"""


@pytest.fixture
def role(tmp_path):
    base = tmp_path / "roles" / "demo"
    for sub in ("tasks", "handlers", "templates", "files"):
        (base / sub).mkdir(parents=True)
    (base / "tasks" / "main.yml").write_text(TASKS)
    (base / "handlers" / "main.yml").write_text(HANDLERS)
    (base / "templates" / "conf.j2").write_text("{{ first }}\nword={{ word }}\n")
    (base / "templates" / "per-interface.j2").write_text("interface={{ item.name }} word={{ word }}\n")
    (base / "files" / "unit.service").write_text("[Unit]\nDescription=demo\n")
    (tmp_path / "site.yml").write_text(PLAY)
    (tmp_path / "target").mkdir()
    (tmp_path / "source.pem").write_text("CA one\n")
    return tmp_path


def play(base, *options, **extra):
    """The completed ansible-playbook run (-vvv, no pipelining: each module run shows as one PUT of AnsiballZ)."""
    variables = dict({"where": str(base / "target"), "source": str(base / "source.pem"), "first": "valid",
                      "word": "one", "ansible_python_interpreter": sys.executable}, **extra)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_ROLES_PATH=str(base / "roles"),
               ANSIBLE_PIPELINING="0", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "-i", "localhost,",
                           "-vvv", str(base / "site.yml"), "-e", json.dumps(variables), *options],
                          capture_output=True, text=True, env=env, check=False, cwd=str(base))


def module_runs(proc):
    return re.findall(r"PUT \S+ TO \S+/AnsiballZ_(\w+)\.py", proc.stdout)


def recap(proc):
    return re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout).group(1)


def test_only_what_differs_is_written_with_the_builtins_validate_diff_check_mode_and_handlers(role):
    # One sequence of runs (each ansible-playbook costs seconds on a loaded machine).
    target = role / "target"
    (target / "stale").write_text("old")
    first = play(role)
    assert first.returncode == 0, first.stdout[-3000:]
    assert (target / "app.conf").read_text() == "valid\nword=one\n"
    assert oct((target / "app.conf").stat().st_mode & 0o777) == "0o640"
    assert (target / "unit.service").read_text() == "[Unit]\nDescription=demo\n"
    assert (target / "private" / "note").read_text() == "token=one\n"
    assert oct((target / "private" / "note").stat().st_mode & 0o777) == "0o600"
    assert oct((target / "private").stat().st_mode & 0o777) == "0o750"
    assert (target / "copied.pem").read_text() == "CA one\n"
    assert not (target / "stale").exists()
    assert (target / "wg0.conf").read_text() == "interface=wg0 word=one\n"
    assert (target / "wg1.conf").read_text() == "interface=wg1 word=one\n"
    assert "APP-HANDLER-RAN" in first.stdout and "UNIT-HANDLER-RAN" in first.stdout

    # Nothing differs: one module run (find), nothing changed, no handler.
    again = play(role)
    assert again.returncode == 0, again.stdout[-3000:]
    assert module_runs(again) == ["find"]
    assert recap(again) == "0"
    assert "HANDLER-RAN" not in again.stdout

    # Check mode with --diff: the template's diff, nothing written.
    checked = play(role, "--check", "--diff", word="two")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "-word=one" in checked.stdout and "+word=two" in checked.stdout
    assert (target / "app.conf").read_text() == "valid\nword=one\n"

    # A change to the word writes the four files that use it (the builtin copy: stat, then copy) and notifies only
    # their handler.
    changed = play(role, word="two")
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert (target / "app.conf").read_text() == "valid\nword=two\n"
    assert (target / "private" / "note").read_text() == "token=two\n"
    assert sorted(module_runs(changed)) == ["copy"] * 4 + ["find"] + ["stat"] * 4
    assert (target / "wg1.conf").read_text() == "interface=wg1 word=two\n"
    assert "APP-HANDLER-RAN" in changed.stdout and "UNIT-HANDLER-RAN" not in changed.stdout

    # A source on the host that changed is copied again (remote_src), and only it.
    (role / "source.pem").write_text("CA two\n")
    recopied = play(role, word="two")
    assert recopied.returncode == 0, recopied.stdout[-3000:]
    assert (target / "copied.pem").read_text() == "CA two\n"
    assert sorted(module_runs(recopied)) == ["copy", "find"]
    assert "HANDLER-RAN" not in recopied.stdout

    # A mode that drifted is put back (the file's handler only), a directory's too.
    os.chmod(target / "unit.service", 0o666)
    os.chmod(target / "private", 0o755)
    fixed = play(role, word="two")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert oct((target / "unit.service").stat().st_mode & 0o777) == "0o644"
    assert "UNIT-HANDLER-RAN" in fixed.stdout and "APP-HANDLER-RAN" not in fixed.stdout

    # A file its validation refuses is not written, and the task fails naming it.
    refused = play(role, first="broken")
    assert refused.returncode != 0
    assert str(target / "app.conf") + ": failed to validate" in refused.stdout
    assert (target / "app.conf").read_text() == "valid\nword=two\n"


@pytest.mark.parametrize("entry, message", [
    ({"dest": "/a", "content": "x", "template_vars": {"a": 1}, "owner": "root", "group": "root", "mode": "0644"},
     "only with template"),
    ({"dest": "/a", "template": "t.j2", "template_vars": ["a"], "owner": "root", "group": "root", "mode": "0644"},
     "must be a dictionary"),
    ({"dest": "relative", "content": "x", "owner": "root", "group": "root", "mode": "0644"}, "absolute path"),
    ({"dest": "/a", "content": "x", "src": "y", "owner": "root", "group": "root", "mode": "0644"}, "exactly one"),
    ({"dest": "/a", "content": "x", "owner": "root", "group": "root", "mode": 420}, "octal string"),
    ({"dest": "/a", "content": "x", "owner": "root", "group": "root", "mode": "u=rw"}, "octal string"),
    ({"dest": "/a", "content": "x", "group": "root", "mode": "0644"}, "owner None"),
    ({"dest": "/a", "state": "absent", "mode": "0644"}, "takes no mode"),
    ({"dest": "/a", "state": "directory", "content": "x", "owner": "root", "group": "root", "mode": "0755"},
     "a directory takes no content"),
    ({"dest": "/a", "content": "x", "remote_src": True, "owner": "root", "group": "root", "mode": "0644"},
     "true only with src"),
    ({"dest": "/a", "content": "x", "owner": "root", "group": "root", "mode": "0644", "modee": 1}, "unknown keys"),
])
def test_bad_entries_are_named(entry, message):
    with pytest.raises(PlacementError, match=re.escape(message)):
        check_entry(entry, 3)


def test_one_find_reads_every_destination():
    entries = [check_entry({"dest": path, "content": "", "owner": "root", "group": "root", "mode": "0644"}, 0)
               for path in ("/etc/a.conf", "/etc/x/b+c.conf")]
    entries.append(check_entry({"dest": "/etc/x/a.conf", "src": "/etc/x/a.conf", "remote_src": True, "owner": "root",
                                "group": "root", "mode": "0644"}, 2))
    args = find_arguments(paths_to_read(entries))
    assert args["paths"] == ["/etc", "/etc/x"]
    assert args["patterns"] == ["^a\\.conf$", "^b\\+c\\.conf$"]
    assert args["get_checksum"] and args["use_regex"] and not args["recurse"] and not args["follow"]


def test_differences_by_name_or_number():
    entry = check_entry({"dest": "/a", "content": "x", "owner": "0", "group": "root", "mode": "0644"}, 0)
    have = {"isreg": True, "checksum": "11f6ad8ec52a2984abaafd7c3b516503785c2072", "mode": "0644", "uid": 0,
            "pw_name": "root", "gid": 0, "gr_name": "root"}
    x = checksum(b"x")
    assert differences(have, entry, x) == []
    assert differences(dict(have, mode="0600", gr_name="adm"), entry, checksum(b"y")) == ["content", "mode", "group"]
    assert differences(dict(have, isreg=False), entry, x) == ["not a regular file"]
    assert differences(None, entry, x) == ["absent"]
    directory = check_entry({"dest": "/d", "state": "directory", "owner": "root", "group": "root", "mode": "0700"}, 0)
    assert differences(dict(have, isdir=True, isreg=False, mode="0700"), directory, None) == []
    assert differences(dict(have, isdir=True, isreg=False, mode="0755"), directory, None) == ["mode"]
    assert differences(have, directory, None) == ["not a directory"]


def test_file_entries_name_each_source_and_destination():
    from ansible_collections.oscar_emr.remote_access.plugins.filter.file_entries import FilterModule

    entries = FilterModule().filters()["file_entries"](["a.py", "pkg/b.py"], "oscar_gateway", "/opt/lib/", "root",
                                                       "root", "0644")
    assert entries == [
        {"src": "oscar_gateway/a.py", "dest": "/opt/lib/a.py", "owner": "root", "group": "root", "mode": "0644"},
        {"src": "oscar_gateway/pkg/b.py", "dest": "/opt/lib/pkg/b.py", "owner": "root", "group": "root",
         "mode": "0644"},
    ]
    assert [check_entry(entry, index)["dest"] for index, entry in enumerate(entries)] == ["/opt/lib/a.py",
                                                                                          "/opt/lib/pkg/b.py"]
