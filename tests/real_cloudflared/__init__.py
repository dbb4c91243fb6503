# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real cloudflared from ../shared/cloudflared/, for controller-side tests.

The .deb files there are upstream's build and packaging (see that folder's README). Tests never install them on
this machine: ``binary(version)`` extracts ``/usr/bin/cloudflared`` with ``dpkg-deb -x`` into a temporary directory
(once per version and process). Commands that could open a network connection run through ``isolated()``: in a
new network namespace whose only interface is loopback, so nothing can leave the machine whatever cloudflared
tries (it looks up Cloudflare's DNS names and falls back to DNS over TLS to 1.1.1.1 even with ``--edge``).

Where ../shared is absent, ``missing()`` says why and the tests skip with that message.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .apt_repo import sha256

ROOT = Path(__file__).resolve().parents[2]
# ../shared from the worktree root (the lead's checkout and each engineer's worktree have it beside them).
SHARED = Path(os.environ.get("OSCAR_SHARED_DIR", ROOT.parent / "shared")) / "cloudflared"
NEW, OLD = "2026.8.2", "2025.2.1"
VERSIONS = (NEW, OLD)
_extracted = {}


def deb(version, arch="amd64"):
    return SHARED / ("cloudflared_%s_%s.deb" % (version, arch))


def missing(version=NEW):
    """Why the real binary cannot be used here, or None."""
    if not deb(version).is_file():
        return "the real cloudflared package %s is not there (../shared/cloudflared/ is absent)" % deb(version)
    if shutil.which("dpkg-deb") is None:
        return "dpkg-deb is not installed"
    return None


def checked_sums():
    """SHA256SUMS of ../shared/cloudflared as {file name: sha256}."""
    sums = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            sums[name.lstrip("*")] = digest
    return sums


def binary(version=NEW):
    """Path of /usr/bin/cloudflared extracted from the real package (checked against SHA256SUMS first)."""
    if version in _extracted:
        return _extracted[version]
    package = deb(version)
    expected = checked_sums().get(package.name)
    if expected != sha256(package):
        raise AssertionError("%s does not match ../shared/cloudflared/SHA256SUMS" % package)
    target = Path(tempfile.mkdtemp(prefix="real-cloudflared-%s-" % version))
    atexit.register(shutil.rmtree, target, True)
    subprocess.run(["dpkg-deb", "-x", str(package), str(target)], check=True)
    _extracted[version] = target / "usr" / "bin" / "cloudflared"
    return _extracted[version]


def can_isolate():
    """True when commands can run in a network namespace of their own (root and unshare)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None


def isolated(argv):
    """argv wrapped to run in a new network namespace with loopback only (no route leaves the machine)."""
    if not can_isolate():
        raise RuntimeError("cannot create a network namespace here (needs root, unshare and ip)")
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "isolated", *argv]


def run(argv, timeout=30, env=None, **kwargs):
    """Run a command (cloudflared or a script that runs it) with loopback only; return CompletedProcess."""
    return subprocess.run(isolated([str(part) for part in argv]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, env=env, check=False, **kwargs)
