# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write secrets straight into Ansible Vault files, idempotently.

PRIVATE to this collection: it may change without notice.

The Vault text comes from the collection's one Vault implementation (``_vault.py``); ``ansible-vault view`` and
inventories read the files as usual.
"""

from __future__ import annotations

import json
import os

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._files import atomic_write
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._vault import (  # noqa: F401 pylint: disable=unused-import
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    VaultError,
    decrypt,
    encrypt,
)


def read_password_file(path):
    """A Vault password from a file, stripped of surrounding newlines as ansible-vault does."""
    with open(path, "rb") as handle:
        data = handle.read().strip(b"\r\n")
    if not data:
        raise VaultError("the Vault password file %s is empty" % path)
    return data.decode("utf-8")


def render_vars(variables, comment):
    """The plaintext of a vars file: a YAML comment and a JSON mapping (JSON is valid YAML)."""
    text = "# %s\n" % comment
    text += json.dumps(variables, indent=2, sort_keys=True) + "\n"
    return text.encode("utf-8")


def parse_vars(plaintext):
    lines = [line for line in plaintext.decode("utf-8").splitlines() if not line.lstrip().startswith("#")]
    try:
        return json.loads("\n".join(lines))
    except ValueError:
        return None


def write_vault_vars(path, variables, password, comment, check_mode=False, vault_id=None, mode=0o600):
    """Make ``path`` a Vault-encrypted vars file holding ``variables``; True if it was (or would be) written.

    An existing file that already decrypts to the same variables is left alone, so re-runs report no
    change. An existing file that the password cannot open is never overwritten.
    """
    if os.path.exists(path):
        with open(path, "rb") as handle:
            current = handle.read()
        try:
            old = parse_vars(decrypt(current, password))
        except VaultError as error:
            raise VaultError("%s exists but cannot be read with the given Vault password (%s); it is left alone"
                             % (path, error)) from None
        if old == variables:
            if not check_mode and (os.stat(path).st_mode & 0o777) != mode:
                os.chmod(path, mode)
            return False
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise VaultError("the directory %s does not exist" % directory)
    atomic_write(path, encrypt(render_vars(variables, comment), password, vault_id=vault_id), mode, prefix=".vault-")
    return True
