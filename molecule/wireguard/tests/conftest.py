"""Runs lifecycle.yml once before the tests look: what happens to a running clinic (a bad inventory refused, an
expiry date arriving, a peer locked out with playbooks/lockdown.yml) while a staff laptop keeps a connection
open. It runs here, with the scenario's inventory, rather than as Molecule's side_effect step."""

import os
import subprocess
from pathlib import Path

import pytest

SCENARIO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def lifecycle():
    marker = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "wireguard-test" / "lifecycle.done"
    if not marker.exists():
        proc = subprocess.run(
            ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "lifecycle.yml")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800, check=False)
        (marker.parent / "lifecycle.log").write_text(proc.stdout)
        assert proc.returncode == 0, "lifecycle.yml failed:\n" + "\n".join(proc.stdout.splitlines()[-80:])
        marker.write_text("done\n")
