"""The collection tarball carries the product and nothing of the test bed."""

import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_build_excludes_test_beds_caches_and_venvs(tmp_path):
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (tarball,) = tmp_path.glob("oscar_emr-remote_access-*.tar.gz")
    names = tarfile.open(tarball).getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    forbidden = (".venv/", ".build/", "molecule/", ".git/", "__pycache__", ".pytest_cache", ".ruff_cache", ".ci/")
    leaked = sorted(n for n in names if any(part in n + "/" for part in forbidden))
    assert not leaked, f"build carries test-bed or cache files: {leaked[:10]}"
    assert "README.md" in names and "meta/runtime.yml" in names
    shipped_roles = {n.split("/")[1] for n in names if n.startswith("roles/") and n.count("/") > 1}
    expected_roles = {p.parent.parent.name for p in (ROOT / "roles").glob("*/tasks/main.yml")}
    assert expected_roles <= shipped_roles
