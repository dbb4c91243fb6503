"""The Python ingress validator against the real cloudflared, case by case (data/cloudflared_ingress_corpus.yml).

Each case's expected verdict is the real binary's (recorded by record_ingress_corpus.py). Where ../shared is
present, every case runs through the real binary again, so a recorded verdict cannot drift from it; everywhere,
the validator (strict=False, cloudflared's own behaviour) must agree with the verdict. The role's strict mode may
refuse more than cloudflared, never less, and says so in its message.
"""

import pytest
import yaml

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflared_ingress as m
from tests import real_cloudflared
from tests.unit.plugins.module_utils.record_ingress_corpus import CORPUS, verdict

CASES = yaml.safe_load(CORPUS.read_text())
IDS = [case["name"] for case in CASES]


def python_verdict(config_text, strict=False):
    report = m.validate_config(yaml.safe_load(config_text), strict=strict)
    if report.errors:
        return "invalid"
    return "warning" if report.warnings else "valid"


@pytest.fixture(scope="module")
def real_binary():
    problem = real_cloudflared.missing()
    if not problem and not real_cloudflared.can_isolate():
        problem = "cannot run cloudflared in a network namespace of its own here"
    if problem:
        pytest.skip(problem)
    return real_cloudflared.binary()


def test_the_corpus_covers_the_disagreements_found_with_the_real_binary():
    names = set(IDS)
    for name in ('noTLSVerify: "yes"', 'noTLSVerify: "on"', 'noTLSVerify: "y"', "proxyType: http", "http_status:600",
                 "http_status:999", "path (?<n>x)", r"path \p{L}+", r"path \Q..\E", r"path x\z", r"path x\Z",
                 "path (?x)a b", "path (?#c)x", "path x{1001}", "service helloworld", "service hello_world",
                 "service hello-world", "service http://a%41b:80"):
        assert name in names, name
    assert all(case["cloudflared"] in ("valid", "warning", "invalid") for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_recorded_verdict_is_the_real_binarys(case, real_binary):
    assert verdict(real_binary, case["config"])[0] == case["cloudflared"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_validator_agrees_with_cloudflared(case):
    assert python_verdict(case["config"]) == case["cloudflared"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_strict_mode_refuses_nothing_cloudflared_refuses_less_and_says_when_it_is_stricter(case):
    report = m.validate_config(yaml.safe_load(case["config"]), strict=True)
    if case["cloudflared"] == "invalid":
        assert report.errors
    elif report.errors:
        # Stricter than cloudflared: every such message says so, or is one of the documented strict checks.
        documented = ("unknown", "a wildcard is only allowed", "is not a DNS name", "unknown scheme", "out of range",
                      "the socket path must be absolute", "access.required needs")
        for error in report.errors:
            assert m.STRICTER in error or any(text in error for text in documented), error
