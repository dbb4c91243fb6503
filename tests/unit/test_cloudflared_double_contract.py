"""The cloudflared TEST DOUBLE (tests/cloudflared_double) against the real cloudflared, on the same inputs.

The double exists for one thing the real connector cannot do here: reach an edge and report ready. On everything
else it must behave as the real binary (../shared/cloudflared, extracted with dpkg-deb -x, both run in a network
namespace with loopback only): flags, token parsing, exit codes and output streams, `ingress validate` over the
whole ingress corpus, /ready, /healthcheck and /metrics, and systemd readiness (no READY=1 while no edge answers).
Skipped, saying why, where ../shared is absent.
"""

import base64
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests import real_cloudflared
from tests.unit.plugins.module_utils.record_ingress_corpus import CORPUS, verdict

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "real_cloudflared" / "probe_run.py"
sys.path.insert(0, str(ROOT / "tests" / "cloudflared_double"))

import build as double_build  # noqa: E402  (tests/cloudflared_double/build.py, after the path above)

SECRET = base64.b64encode(b"contract-test-tunnel-secret-not-real-0123").decode()
TUNNEL_ID = "3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab"
TOKEN = base64.b64encode(json.dumps({"a": "0123456789abcdef0123456789abcdef", "t": TUNNEL_ID, "s": SECRET,
                                     "x": "~?~?~?"}).encode()).decode()
assert TOKEN.endswith("=") and ("+" in TOKEN or "/" in TOKEN)
BAD_TOKENS = {"unpadded": TOKEN.rstrip("="), "url-safe": TOKEN.replace("+", "-").replace("/", "_"),
              "not base64": "not a token"}
CASES = yaml.safe_load(CORPUS.read_text())


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """{version: (real binary, double)} for the old and the new release."""
    problem = (real_cloudflared.missing() or real_cloudflared.missing(real_cloudflared.OLD)
               or (None if real_cloudflared.can_isolate() else "cannot create a network namespace here (needs root)"))
    if problem:
        pytest.skip(problem)
    out = tmp_path_factory.mktemp("double")
    result = {}
    for version in real_cloudflared.VERSIONS:
        double = out / ("cloudflared-%s-double" % version)
        double_build.build_zipapp(version, double)
        result[version] = (real_cloudflared.binary(version), double)
    return result


def both(pairs, version, argv, env=None):
    """(real, double) CompletedProcess for the same argv and environment."""
    return tuple(real_cloudflared.run([binary, *argv], env=env) for binary in pairs[version])


def test_version_output_has_the_same_shape(pairs):
    for version in real_cloudflared.VERSIONS:
        for proc in both(pairs, version, ["--version"]):
            assert proc.returncode == 0 and proc.stderr == ""
            assert re.match(r"^cloudflared version %s \(built [^)]+\)" % re.escape(version), proc.stdout)


@pytest.mark.parametrize("version,argv", [
    (real_cloudflared.OLD, ["tunnel", "run", "--token-file", "/nonexistent"]),
    (real_cloudflared.NEW, ["tunnel", "run", "--no-such-flag"]),
])
def test_an_unknown_flag_prints_usage_on_stdout_and_exits_0(pairs, version, argv):
    real, double = both(pairs, version, argv)
    for proc in (real, double):
        assert proc.returncode == 0 and proc.stderr == ""
    first = real.stdout.splitlines()[0]
    assert first.startswith("Incorrect Usage: flag provided but not defined: -")
    assert double.stdout.splitlines()[0] == first


def test_the_new_release_takes_a_token_file_and_the_old_does_not(pairs, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("\n")
    for version, known in ((real_cloudflared.OLD, False), (real_cloudflared.NEW, True)):
        for proc in both(pairs, version, ["tunnel", "run", "--token-file", str(token_file)]):
            assert ("Incorrect Usage" in proc.stdout) is not known, (version, proc.stdout[:200])


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_a_token_cloudflared_refuses_is_refused_the_same_way(pairs, kind):
    env = {"TUNNEL_TOKEN": BAD_TOKENS[kind], "PATH": "/usr/bin:/bin"}
    for version in real_cloudflared.VERSIONS:
        real, double = both(pairs, version, ["tunnel", "run"], env=env)
        assert real.returncode == double.returncode == 255
        assert real.stdout == double.stdout == ""
        assert real.stderr.splitlines()[0] == double.stderr.splitlines()[0] == "Provided Tunnel token is not valid."


def test_no_credentials_at_all_is_refused_the_same_way(pairs):
    real, double = both(pairs, real_cloudflared.NEW, ["tunnel", "run"], env={"PATH": "/usr/bin:/bin"})
    assert real.returncode == double.returncode == 255
    assert real.stderr.splitlines()[0] == double.stderr.splitlines()[0]


def test_ingress_validate_gives_the_same_verdicts_on_the_corpus(pairs):
    """Every third case of the ingress corpus (each kind of rule is there several times; the Python validator the
    double bundles meets the whole corpus in test_cloudflared_ingress_corpus.py), through both executables."""
    real, double = pairs[real_cloudflared.NEW]
    differences = []
    for case in CASES[::3]:
        verdicts = [verdict(binary, case["config"])[0] for binary in (real, double)]
        if verdicts[0] != verdicts[1]:
            differences.append((case["name"], verdicts))
    assert not differences


def probe(binary, port, *extra, seconds=4):
    proc = real_cloudflared.run([sys.executable, PROBE, binary, seconds, port, *extra],
                                env={"TUNNEL_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def metric_names(text):
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


@pytest.mark.parametrize("version", real_cloudflared.VERSIONS)
def test_pinned_to_an_edge_that_answers_nothing_both_stay_up_not_ready_without_ready_1(pairs, version):
    real, double = (probe(binary, 20241, "--edge", "127.0.0.1:7844") for binary in pairs[version])
    for report in (real, double):
        assert report["running"], report["stderr"][-2000:]
        assert report["notifications"] == [], "READY=1 before any edge connection"
        status, body = report["ready"]
        assert status == 503
        assert set(json.loads(body)) == {"status", "readyConnections", "connectorId"}
        assert json.loads(body)["readyConnections"] == 0
        assert report["healthcheck"] == [200, "OK\n"]
        assert report["metrics"][0] == 200
        assert re.search(r'^build_info\{[^}]*version="%s"\} 1$' % re.escape(version), report["metrics"][1], re.M)
        assert "Starting tunnel tunnelID=%s" % TUNNEL_ID in report["stderr"] or "tunnelID=%s" % TUNNEL_ID in \
            report["stderr"]
        assert "127.0.0.1" in report["stderr"]
    assert {"build_info", "cloudflared_tunnel_ha_connections", "cloudflared_tunnel_total_requests"} <= (
        metric_names(real["metrics"][1]) & metric_names(double["metrics"][1]))


def test_only_the_double_reaches_an_edge_and_then_it_notifies_systemd_as_cloudflared_would(pairs):
    """The double's one purpose: without --edge it simulates an edge that accepts the tunnel. Then, and only then,
    READY=1 and /ready 200, as cloudflared after its first edge connection."""
    _real, double = pairs[real_cloudflared.NEW]
    # The double notifies after 0.5 s; the window leaves room for a loaded machine to start its zipapp.
    report = probe(double, 20242, seconds=5)
    assert report["running"] and report["notifications"] == ["READY=1"]
    assert report["ready"][0] == 200 and json.loads(report["ready"][1])["readyConnections"] > 0
