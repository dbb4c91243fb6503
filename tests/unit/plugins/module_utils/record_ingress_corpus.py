# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record the real cloudflared's verdict on every case of cloudflared_ingress_corpus.yml.

    .venv/bin/python tests/unit/plugins/module_utils/record_ingress_corpus.py

Runs `cloudflared tunnel --config CASE ingress validate` (the real binary from ../shared/cloudflared, extracted,
in a network namespace with loopback only) and writes its verdict into each case's `cloudflared` field: valid
(exit 0 and OK), warning (exit 0, unknown keys, no OK) or invalid (exit 1, on stderr).
test_cloudflared_ingress_corpus.py checks the recorded verdicts against the binary again and the Python validator
against them.
"""

import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "cloudflared_ingress_corpus.yml"
sys.path.insert(0, str(HERE.parents[3]))

from tests import real_cloudflared  # noqa: E402  (after the path above)


def verdict(binary, config_text):
    """The real binary's verdict on a config.yml text: (valid|warning|invalid, first line of its complaint)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as handle:
        handle.write(config_text)
        handle.flush()
        proc = real_cloudflared.run([binary, "tunnel", "--config", handle.name, "ingress", "validate"])
    if proc.returncode == 0 and proc.stdout.strip().endswith("OK"):
        return "valid", ""
    if proc.returncode == 0 and "unused keys" in proc.stdout:
        return "warning", ""
    if proc.returncode == 1 and proc.stderr.startswith(("Validation failed", "error parsing YAML")):
        return "invalid", proc.stderr.strip()
    raise AssertionError("unexpected answer (rc %d): %s %s" % (proc.returncode, proc.stdout, proc.stderr))


def _block_literals(dumper, text):
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def main():
    problem = real_cloudflared.missing()
    if problem:
        sys.exit(problem)
    binary = real_cloudflared.binary()
    cases = yaml.safe_load(CORPUS.read_text())
    for case in cases:
        case["cloudflared"] = verdict(binary, case["config"])[0]
    header = CORPUS.read_text().split("\n- ", 1)[0]
    yaml.SafeDumper.add_representer(str, _block_literals)
    body = yaml.safe_dump(cases, sort_keys=False, width=120, allow_unicode=True)
    CORPUS.write_text(header.rstrip("\n") + "\n" + body)


if __name__ == "__main__":
    main()
