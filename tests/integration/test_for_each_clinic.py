"""scripts/for_each_clinic.sh runs a playbook once per clinic, keeping each clinic's variables its own."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "for_each_clinic.sh"

PLAYBOOK = """\
- name: Record which clinic this host belongs to
  hosts: clinic
  gather_facts: false
  tasks:
    - name: Write the clinic name seen by this run
      ansible.builtin.copy:
        content: "{{ clinic_name }}\\n"
        dest: "{{ out_dir }}/{{ clinic_name | replace(' ', '_') }}.txt"
        mode: "0600"
      delegate_to: localhost
    - name: Fail where the clinic asks for it
      ansible.builtin.fail:
        msg: this clinic fails on purpose
      when: fail_here | default(false)
"""


def make_clinic(base, name, clinic_name, fail=False):
    inv = base / name
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    clinic:\n      hosts:\n        localhost:\n"
        "          ansible_connection: local\n"
        f"          ansible_python_interpreter: {sys.executable}\n"
    )
    extra = "fail_here: true\n" if fail else ""
    (inv / "group_vars" / "all" / "clinic.yml").write_text(f"clinic_name: {clinic_name}\n{extra}")


def run(tmp_path, inventories, **env_extra):
    playbook = tmp_path / "record.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, CLINIC_INVENTORIES=str(inventories), CLINIC_LOG_DIR=str(tmp_path / "logs"),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env_extra)
    proc = subprocess.run(["bash", str(SCRIPT), str(playbook), "-e", f"out_dir={out}"],
                          env=env, capture_output=True, text=True, check=False)
    return proc, out


def test_each_clinic_gets_its_own_group_vars(tmp_path):
    inventories = tmp_path / "inventories"
    make_clinic(inventories, "lakeside", "Lakeside Clinic")
    make_clinic(inventories, "hillcrest", "Hillcrest Clinic")
    proc, out = run(tmp_path, inventories)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Hillcrest_Clinic.txt", "Lakeside_Clinic.txt"]
    assert "ok     hillcrest" in proc.stdout and "ok     lakeside" in proc.stdout


def test_one_failing_clinic_fails_the_run_but_not_the_others(tmp_path):
    inventories = tmp_path / "inventories"
    make_clinic(inventories, "lakeside", "Lakeside Clinic")
    make_clinic(inventories, "broken", "Broken Clinic", fail=True)
    proc, out = run(tmp_path, inventories)
    assert proc.returncode != 0
    assert "FAILED broken" in proc.stdout
    assert "ok     lakeside" in proc.stdout
    assert (out / "Lakeside_Clinic.txt").exists()
    assert (tmp_path / "logs" / "broken.log").read_text().count("this clinic fails on purpose") >= 1


def test_no_inventories_is_an_error(tmp_path):
    (tmp_path / "inventories").mkdir()
    proc, _unused_out = run(tmp_path, tmp_path / "inventories")
    assert proc.returncode == 2
    assert "no clinic inventories" in proc.stderr


def test_example_inventories_are_skipped_unless_asked_for(tmp_path):
    inventories = tmp_path / "inventories"
    make_clinic(inventories, "lakeside", "Lakeside Clinic")
    make_clinic(inventories, "example", "Example Clinic")
    (inventories / "example" / ".example-inventory").write_text("example\n# an example\n")
    # A clinic copied from the example (marker and all) under its own name is a real clinic and runs.
    make_clinic(inventories, "riverside", "Riverside Clinic")
    (inventories / "riverside" / ".example-inventory").write_text("example\n# an example\n")
    proc, out = run(tmp_path, inventories)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Lakeside_Clinic.txt", "Riverside_Clinic.txt"]
    assert "skipped example example" in proc.stderr

    (tmp_path / "second").mkdir()
    proc, out = run(tmp_path / "second", inventories, CLINIC_INCLUDE_EXAMPLES="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Example_Clinic.txt", "Lakeside_Clinic.txt",
                                                     "Riverside_Clinic.txt"]


def test_this_collections_own_inventories_are_marked_as_examples():
    for hosts in sorted((ROOT / "inventories").glob("*/hosts.yml")):
        marker = hosts.parent / ".example-inventory"
        assert marker.read_text().splitlines()[0] == hosts.parent.name
