# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A signed apt repository (suite ``any``, component ``main``, as Cloudflare's) of given .deb files, for tests.

Signed with a throw-away key made for the run; its public key is ``apt/test-archive-key.gpg`` and its fingerprint,
which the test inventory pins, is returned. Needs dpkg-scanpackages and gpg.
"""

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

KEY_FILE = "test-archive-key.gpg"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gpg(home, *args):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", "--no-tty", *args],
                          check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def build_apt_repo(out, debs, label):
    """Write a signed apt repository of debs under out/apt; return the signing key's fingerprint."""
    repo = Path(out) / "apt"
    if repo.exists():
        shutil.rmtree(repo)
    pool = repo / "pool" / "main" / "c" / "cloudflared"
    pool.mkdir(parents=True)
    for deb in debs:
        shutil.copyfile(deb, pool / Path(deb).name)
    arches = sorted({Path(deb).name.rsplit("_", 1)[1][:-4] for deb in debs})
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
        "Origin: oscar_emr.remote_access tests",
        "Label: %s" % label,
        "Suite: any",
        "Codename: any",
        "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures: %s" % " ".join(arches),
        "Components: main",
        "Description: %s (a test repository, not Cloudflare's)" % label,
        "SHA256:",
    ] + [" %s %d %s" % entry for entry in entries]
    (dist / "Release").write_text("\n".join(release) + "\n")

    home = Path(tempfile.mkdtemp(prefix="cloudflared-test-gpg-"))
    try:
        os.chmod(home, 0o700)
        gpg(home, "--passphrase", "", "--quick-gen-key", "%s <tests@invalid>" % label, "ed25519", "sign", "1d")
        listing = gpg(home, "--with-colons", "--list-keys").stdout.decode()
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        gpg(home, "--local-user", fingerprint, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release"))
        gpg(home, "--local-user", fingerprint, "--detach-sign", "--armor", "-o", str(dist / "Release.gpg"),
            str(dist / "Release"))
        (repo / KEY_FILE).write_bytes(gpg(home, "--export", fingerprint).stdout)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    (repo / "fingerprint.txt").write_text(fingerprint + "\n")
    return fingerprint
