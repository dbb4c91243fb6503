# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one atomic file write of this collection's modules.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import tempfile


def atomic_write(path, data, mode=0o600, module=None, prefix=".tmp-"):
    """Replace ``path`` with ``data`` (bytes) in one step: a temporary file in the same directory, with ``mode`` from
    its creation (``None``: the mode of the file it replaces, else 0644), renamed over ``path`` (with
    ``module.atomic_move`` when a module is given, which keeps SELinux contexts), so a reader sees the old content
    or the new, never half of it, and a secret is never readable by others, not even for a moment."""
    if mode is None:
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o644
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
        if module is not None:
            module.atomic_move(temporary, path)
            os.chmod(path, mode)
        else:
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
