"""execution-environment.yml is a valid ansible-builder definition: `ansible-builder create` turns it into a build
context whose Containerfile installs ansible-core, ansible-runner, the controller-side Python and the collections."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ansible_builder_create(tmp_path):
    builder = shutil.which("ansible-builder", path=str(Path(sys.executable).parent))
    if not builder:
        pytest.skip("ansible-builder is not installed (requirements-dev.txt)")
    proc = subprocess.run([builder, "create", "-f", str(ROOT / "execution-environment.yml"),
                           "-c", str(tmp_path / "ctx"), "-v", "2"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    assert "ansible-core>=2.18,<2.20" in containerfile and "ansible-runner>=2.4,<3" in containerfile
    build = tmp_path / "ctx" / "_build"
    assert (build / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    assert "oscar_emr.remote_access" in (build / "requirements.yml").read_text()
    assert (build / "bindep.txt").exists()
