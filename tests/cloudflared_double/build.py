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
with a throw-away key made for the run, whose public key is ``apt/testdouble-archive-key.gpg`` and
whose fingerprint is in ``apt/fingerprint.txt``. Needs dpkg-deb, dpkg-scanpackages and gpg.
Prints a JSON summary (files and their SHA-256) on stdout.
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipapp
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
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


def gpg(home, *args, **kwargs):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", "--no-tty", *args],
                          check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def build_apt_repo(out, debs):
    repo = out / "apt"
    if repo.exists():
        shutil.rmtree(repo)
    pool = repo / "pool" / "main" / "c" / "cloudflared"
    pool.mkdir(parents=True)
    for deb in debs:
        shutil.copyfile(deb, pool / deb.name)
    arches = sorted({deb.name.rsplit("_", 1)[1][:-4] for deb in debs})
    dist = repo / "dists" / "any"
    entries = []
    for arch in arches:
        directory = dist / "main" / ("binary-%s" % arch)
        directory.mkdir(parents=True)
        packages = subprocess.run(["dpkg-scanpackages", "--arch", arch, "pool"], cwd=repo, check=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        (directory / "Packages").write_bytes(packages)
        (directory / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        for name in ("Packages", "Packages.gz"):
            path = directory / name
            entries.append((sha256(path), path.stat().st_size, str(path.relative_to(dist))))
    release = [
        "Origin: oscar_emr.remote_access test double",
        "Label: cloudflared test double",
        "Suite: any",
        "Codename: any",
        "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures: %s" % " ".join(arches),
        "Components: main",
        "Description: TEST DOUBLE repository (not Cloudflare's)",
        "SHA256:",
    ] + [" %s %d %s" % entry for entry in entries]
    (dist / "Release").write_text("\n".join(release) + "\n")

    home = Path(tempfile.mkdtemp(prefix="cloudflared-double-gpg-"))
    try:
        os.chmod(home, 0o700)
        gpg(home, "--passphrase", "", "--quick-gen-key", "cloudflared test double repository <testdouble@invalid>",
            "ed25519", "sign", "1d")
        listing = gpg(home, "--with-colons", "--list-keys").stdout.decode()
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        gpg(home, "--local-user", fingerprint, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release"))
        gpg(home, "--local-user", fingerprint, "--detach-sign", "--armor", "-o", str(dist / "Release.gpg"),
            str(dist / "Release"))
        (repo / "testdouble-archive-key.gpg").write_bytes(gpg(home, "--export", fingerprint).stdout)
        (repo / "testdouble-archive-key.asc").write_bytes(gpg(home, "--export", "--armor", fingerprint).stdout)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    (repo / "fingerprint.txt").write_text(fingerprint + "\n")
    return fingerprint


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
