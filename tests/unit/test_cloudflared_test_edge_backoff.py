"""The real cloudflared pinned to the demo's local test edges waits between attempts, as it does when Cloudflare's
edge is unreachable, instead of dialling again at once.

Upstream's supervisor rotates to another edge address after a failed dial, then waits ("Retrying connection in up
to 2s", doubling to 1m4s). Pinned to one address there is no other: Serve returns ErrNoAddressesLeft before its
backoff and startFirstTunnel retries a static edge at once. Over HTTP/2 (the demo's connector runs on it) a refused
dial is immediate, so one address made the demo's connector log thousands of lines a second and use half a core.
The demo inventory gives two loopback addresses (cloudflared_test_edge); the role makes one --edge of each.

The binary is upstream's, from ../shared/cloudflared, run in a network namespace with loopback only (nothing can
leave the machine). Skipped, saying why, where ../shared is absent or no namespace can be made.
"""

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflared_ingress as model
from tests import real_cloudflared
from tests.unit.test_cloudflared_double_contract import TOKEN

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONNECTORS = ROOT / "inventories" / "demo_clinic" / "group_vars" / "cloudflared_connectors" / "cloudflared.yml"
SECONDS = 4


def run_pinned(version, edges, tmp_path):
    """Run `cloudflared tunnel run` with the role's --edge options for SECONDS; return its log lines."""
    binary = real_cloudflared.binary(version)
    argv = [str(binary), "--no-autoupdate", "tunnel", "--metrics", "127.0.0.1:20299", "--protocol", "http2",
            *model.pinned_edge_options(edges).split(), "run"]
    log = tmp_path / ("cloudflared-%s.log" % version)
    with log.open("w") as err:
        proc = subprocess.Popen(real_cloudflared.isolated(argv), env={"TUNNEL_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
                                stdout=subprocess.DEVNULL, stderr=err)
        time.sleep(SECONDS)
        proc.terminate()
        proc.wait(timeout=20)
    return log.read_text().splitlines()


@pytest.mark.parametrize("version", real_cloudflared.VERSIONS)
def test_the_demo_connector_backs_off_from_its_local_edges(version, tmp_path):
    problem = real_cloudflared.missing(version) or (
        None if real_cloudflared.can_isolate() else "cannot create a network namespace here (needs root)")
    if problem:
        pytest.skip(problem)
    edges = yaml.safe_load(DEMO_CONNECTORS.read_text())["cloudflared_test_edge"]
    # Pinned to loopback only (the role's own check), nothing leaves the machine.
    assert model.pinned_edges(edges) and all(model.check_metrics_address(edge) is None
                                             for edge in model.pinned_edges(edges))
    lines = run_pinned(version, edges, tmp_path)
    dials = [line for line in lines if "Unable to establish connection with Cloudflare edge" in line]
    assert dials, "it dialled none of its edges: %s" % lines[-20:]
    assert {line.split(" ip=")[-1] for line in dials} <= {edge.rsplit(":", 1)[0] for edge in model.pinned_edges(edges)}
    assert any("Retrying connection in up to" in line for line in lines), lines[-20:]
    # Backing off: a few attempts in SECONDS (the first waits are up to 2 s and 4 s), not thousands.
    assert len(dials) <= 6, "%d dials in %d s: it does not back off" % (len(dials), SECONDS)
