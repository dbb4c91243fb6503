# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local mirror of the real cloudflared from ../shared/cloudflared, for the Molecule scenario and the demo.

    python tests/real_cloudflared/mirror.py --out DIR [--apt-repo-version 2026.8.2]

Writes into DIR the real packages (``cloudflared_<version>_amd64.deb``), the single binary of each
(``cloudflared-<version>-linux-amd64``, /usr/bin/cloudflared taken out of the package with dpkg-deb -x) and a
signed apt repository under ``apt/`` holding the package of --apt-repo-version, signed with a key made for the run.
Prints a JSON summary: files with their path and SHA-256, and the repository key's fingerprint.
Every package is checked against ../shared/cloudflared/SHA256SUMS first.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests import real_cloudflared
from tests.real_cloudflared.apt_repo import build_apt_repo, sha256


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--apt-repo-version", default=real_cloudflared.NEW)
    args = parser.parse_args(argv)
    problem = real_cloudflared.missing() or real_cloudflared.missing(real_cloudflared.OLD)
    if problem:
        sys.exit(problem)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"files": {}, "fingerprint": None}
    sums = real_cloudflared.checked_sums()
    for version in real_cloudflared.VERSIONS:
        source = real_cloudflared.deb(version)
        if sums.get(source.name) != sha256(source):
            sys.exit("%s does not match SHA256SUMS" % source)
        deb = args.out / source.name
        if not deb.exists() or sha256(deb) != sums[source.name]:
            shutil.copyfile(source, deb)
        binary = args.out / ("cloudflared-%s-linux-amd64" % version)
        if not binary.exists():
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
                shutil.copyfile(Path(tmp) / "usr" / "bin" / "cloudflared", binary)
            os.chmod(binary, 0o755)
        for path in (deb, binary):
            summary["files"][path.name] = {"path": str(path), "sha256": sha256(path)}
    repo_deb = args.out / real_cloudflared.deb(args.apt_repo_version).name
    summary["fingerprint"] = build_apt_repo(args.out, [repo_deb], "cloudflared test mirror")
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
