"""scripts/data_flows.py: each example clinic's data-flow statement from its inventory, and the committed copies
(inventories/<clinic>/docs/data-flows.md) match what the inventory says today."""

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "data_flows.py"


@functools.lru_cache(maxsize=None)
def generate(inventory):
    done = subprocess.run([sys.executable, str(SCRIPT), str(inventory), "--out", "-"], capture_output=True, text=True,
                          cwd=str(ROOT), check=True)
    return done.stdout


def sections(text):
    parts, name = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            name = line[3:]
            parts[name] = []
        elif name:
            parts[name].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def test_cloudflare_clinic_says_cloudflare_sees_decrypted_traffic():
    text = sections(generate(Path("inventories/demo_clinic")))
    seen = text["Who can see decrypted traffic"]
    assert "**Cloudflare**" in seen and "terminates the TLS connection" in seen and "patient data included" in seen
    assert "**Nobody but the clinic** (WireGuard mode)" in seen  # the demo clinic has both ways in
    logs = text["Where logs are kept, and for how long"]
    assert "| Cloudflare Access authentication logs | Cloudflare | 24 hours on the free plan" in logs
    assert "/var/lib/oscar-gateway/gateway.db" in logs and "kept 14 days" in logs
    assert "**Cloudflare, Inc.**: Cloudflare Tunnel and Zero Trust Access (account plan: free)" in text["Subprocessors"]


def test_wireguard_clinic_has_no_third_party():
    text = generate(Path("inventories/pi_clinic"))
    assert "Cloudflare" not in text
    parts = sections(text)
    assert "**Nobody but the clinic** (WireGuard mode)" in parts["Who can see decrypted traffic"]
    assert "separate WireGuard server (vpn-pi)" in parts["Who can see decrypted traffic"]
    assert "No third party" in parts["Subprocessors"]
    assert "| WireGuard | kernel / wireguard-go on vpn-pi | no connection log" in parts[
        "Where logs are kept, and for how long"]


def test_acme_clinic_names_the_certificate_authority(tmp_path):
    inventory = tmp_path / "acme_clinic"
    shutil.copytree(ROOT / "inventories" / "pi_clinic", inventory)
    (inventory / "group_vars" / "all" / "nginx_acme.yml").write_text(
        "nginx_tls_mode: acme\nnginx_acme_cloudflare_zone: riverside-clinic.example\n")
    # Without --out the statement goes into the inventory's docs/.
    subprocess.run([sys.executable, str(SCRIPT), str(inventory)], check=True, capture_output=True, cwd=str(ROOT))
    text = sections((inventory / "docs" / "data-flows.md").read_text())["Subprocessors"]
    assert "**The ACME certificate authority**" in text and "Cloudflare, Inc.** (DNS only)" in text
    assert "No third party" not in text


@pytest.mark.parametrize("clinic", ["demo_clinic", "pi_clinic"])
def test_committed_statement_matches_the_inventory(clinic):
    committed = (ROOT / "inventories" / clinic / "docs" / "data-flows.md").read_text()
    assert generate(Path("inventories") / clinic) == committed, (
        "regenerate: scripts/data_flows.py inventories/" + clinic)
