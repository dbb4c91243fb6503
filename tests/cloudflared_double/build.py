# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the cloudflared TEST DOUBLE: single-file "binaries" (zipapps), .deb packages and a signed apt repository.

The real cloudflared cannot be downloaded on the test machines, so the cloudflared role's Molecule
scenario installs this double through the role's own install paths. Everything is clearly a double:
package version ``<release>+testdouble``, description and ``--version`` output say so.

    python build.py --out DIR [--version 2025.8.0 ...] [--arch amd64 arm64] [--apt-repo]

Writes, for each version and architecture:

* ``cloudflared-<version>-linux-<arch>``: the zipapp (``#!/usr/bin/python3``), as a "binary" download;
* ``cloudflared_<version>+testdouble_<arch>.deb``;

and with ``--apt-repo`` an apt repository under ``apt/`` (suite ``any``, component ``main``) signed
with a throw-away key made for the run, whose public key is ``apt/test-archive-key.gpg`` and
whose fingerprint is in ``apt/fingerprint.txt``. Needs dpkg-deb, dpkg-scanpackages and gpg.
Prints a JSON summary (files and their SHA-256) on stdout.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.real_cloudflared import apt_repo as _apt_repo  # noqa: E402  (after the path above)

MODULE_UTILS = ROOT / "plugins" / "module_utils" / "_cloudflared_ingress.py"
DEFAULT_VERSIONS = ("2024.12.0", "2025.8.0", "2025.9.0")
DEFAULT_ARCHES = ("amd64", "arm64")
BUILD_DATES = {"2024.12.0": "2024-12-10-1200 UTC", "2025.8.0": "2025-08-12-1200 UTC", "2025.9.0": "2025-09-16-1200 UTC"}

README = """This is a TEST DOUBLE of cloudflared, built by oscar_emr.remote_access tests/cloudflared_double/build.py
for the cloudflared role's Molecule scenario. It is not cloudflared and never connects anywhere.
It implements --version, tunnel ingress validate and a tunnel run that only serves /ready and /metrics.
"""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def build_zipapp(version, target):
    """A self-contained Python zipapp: the double, the ingress checks and PyYAML's pure-Python package."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        main = (HERE / "cloudflared_double.py").read_text()
        built = BUILD_DATES.get(version, "2025-01-01-0000 UTC")
        main = main.replace("@VERSION@", version).replace("@BUILD_DATE@", built)
        (stage / "__main__.py").write_text(main)
        shutil.copyfile(MODULE_UTILS, stage / "cloudflared_ingress_rules.py")
        yaml_src = Path(yaml.__file__).parent
        (stage / "yaml").mkdir()
        for source in yaml_src.glob("*.py"):  # the C extension is left out: PyYAML falls back to pure Python
            shutil.copyfile(source, stage / "yaml" / source.name)
        zipapp.create_archive(stage, target, interpreter="/usr/bin/python3", compressed=True)
    os.chmod(target, 0o755)


def build_deb(version, arch, zipapp_path, target):
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        (stage / "DEBIAN").mkdir()
        (stage / "usr" / "bin").mkdir(parents=True)
        (stage / "usr" / "share" / "doc" / "cloudflared").mkdir(parents=True)
        (stage / "var" / "lib" / "cloudflared-testdouble").mkdir(parents=True)
        shutil.copyfile(zipapp_path, stage / "usr" / "bin" / "cloudflared")
        os.chmod(stage / "usr" / "bin" / "cloudflared", 0o755)
        (stage / "usr" / "share" / "doc" / "cloudflared" / "README.testdouble").write_text(README)
        os.chmod(stage / "var" / "lib" / "cloudflared-testdouble", 0o700)
        control = (
            "Package: cloudflared\n"
            "Version: %s+testdouble\n"
            "Architecture: %s\n"
            "Maintainer: oscar_emr.remote_access tests <tests@invalid>\n"
            "Depends: python3\n"
            "Section: net\n"
            "Priority: optional\n"
            "Description: TEST DOUBLE of cloudflared (not cloudflared, never connects anywhere)\n"
            " Built by oscar_emr.remote_access tests/cloudflared_double/build.py for Molecule.\n"
        ) % (version, arch)
        (stage / "DEBIAN" / "control").write_text(control)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(target)],
                       check=True, stdout=subprocess.DEVNULL)


def build_apt_repo(out, debs):
    """A signed apt repository of the double's packages (the same code as the real packages' test mirror)."""
    return _apt_repo.build_apt_repo(out, debs, "cloudflared TEST DOUBLE repository")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--version", nargs="+", default=list(DEFAULT_VERSIONS), dest="versions")
    parser.add_argument("--arch", nargs="+", default=list(DEFAULT_ARCHES), dest="arches")
    parser.add_argument("--apt-repo", action="store_true", help="also build a signed apt repository")
    parser.add_argument("--apt-repo-versions", nargs="+", default=None,
                        help="versions to publish in the apt repository (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"files": {}, "fingerprint": None}
    debs = []
    for version in args.versions:
        for arch in args.arches:
            binary = args.out / ("cloudflared-%s-linux-%s" % (version, arch))
            build_zipapp(version, binary)
            deb = args.out / ("cloudflared_%s+testdouble_%s.deb" % (version, arch))
            build_deb(version, arch, binary, deb)
            for path in (binary, deb):
                summary["files"][path.name] = {"path": str(path), "sha256": sha256(path)}
            if args.apt_repo_versions is None or version in args.apt_repo_versions:
                debs.append(deb)
    if args.apt_repo:
        summary["fingerprint"] = build_apt_repo(args.out, debs)
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
