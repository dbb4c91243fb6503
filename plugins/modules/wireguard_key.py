#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wireguard_key
short_description: Keep a WireGuard private or preshared key in a file on the host and return the public key
version_added: 0.1.0
description:
  - Makes sure O(path) holds a WireGuard key, generating one on the host when the file is missing (or O(force=true)),
    so the key never leaves the host and stays the same across runs. A private key's public key is returned.
  - Keys are made as C(wg genkey) and C(wg genpsk) make them (32 random bytes from the operating system; a private key
    clamped for Curve25519), in Python, so the module works before wireguard-tools is installed.
  - The file is written atomically with mode C(0600) (or O(mode)); an existing file that holds something other than
    a key is never overwritten unless O(force=true).
  - The key itself is never returned or shown in a diff.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check mode and report whether a key would be generated.
    support: full
    details: A key that would be generated has no public key yet, so RV(public_key) is null in check mode.
  diff_mode:
    description: Reports whether the key file would be created or replaced, never its content.
    support: full
  platform:
    description: Target OS families.
    platforms: posix
    support: full
  idempotent:
    description: Repeated runs leave an existing key alone.
    support: partial
    details: Not idempotent with O(force=true), which replaces the key on every run.
options:
  path:
    description: The key file.
    type: path
    required: true
  type:
    description: V(private) for an interface or client key, V(preshared) for a peer's preshared key.
    type: str
    choices: [private, preshared]
    default: private
  force:
    description: Replace the key even if the file holds one (key rotation).
    type: bool
    default: false
  state:
    description: V(present) keeps a key in O(path); V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.files
notes:
  - O(mode) defaults to C(0600); O(owner) and O(group) default to the connecting user's.
  - The parent directory is created with mode C(0700) when it does not exist.
"""

EXAMPLES = r"""
- name: Server key of wg0, generated on the host and kept there
  oscar_emr.remote_access.wireguard_key:
    path: /etc/wireguard/keys/wg0.key
    owner: root
    group: root
  register: wg0_key

- name: Preshared key of one peer
  oscar_emr.remote_access.wireguard_key:
    path: /etc/wireguard/keys/wg0/dr-smith-laptop.psk
    type: preshared

- name: Show the public key that clients need
  ansible.builtin.debug:
    msg: "{{ wg0_key.public_key }}"
"""

RETURN = r"""
public_key:
  description:
    - The public key of a private key.
    - Null for a preshared key, with O(state=absent), or in check mode before the key exists.
  returned: always
  type: str
  sample: Lh2P3SYr4dqxE8FVGo1cDtNGuvRyJ3aQpTjKCxY5Vmw=
generated:
  description: Whether a key was (or in check mode would be) generated on this run.
  returned: always
  type: bool
path:
  description: The key file.
  returned: always
  type: str
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._files import atomic_write  # noqa: E402
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard_crypto import (  # noqa: E402
    KeyFormatError,
    decode_key,
    generate_preshared_key,
    generate_private_key,
    public_key,
)


def read_key(path):
    with open(path, "rb") as handle:
        data = handle.read().decode("ascii", "replace").strip()
    decode_key(data)
    return data


def write_key(module, path, key):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    atomic_write(path, (key + "\n").encode("ascii"), 0o600, module, prefix=".wgkey-")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            type=dict(type="str", choices=["private", "preshared"], default="private"),
            force=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    kind = module.params["type"]
    result = dict(changed=False, generated=False, public_key=None, path=path)
    exists = os.path.exists(path)

    if module.params["state"] == "absent":
        if exists:
            result["changed"] = True
            result["diff"] = dict(before={"path": path, "state": "present"}, after={"path": path, "state": "absent"})
            if not module.check_mode:
                os.unlink(path)
        module.exit_json(**result)

    key = None
    if exists and not module.params["force"]:
        try:
            key = read_key(path)
        except (OSError, IOError) as error:
            module.fail_json(msg="cannot read %s: %s" % (path, error), **result)
        except KeyFormatError as error:
            module.fail_json(msg="%s exists but does not hold a WireGuard key (%s); it is left alone. Move it away or"
                             " use force=true to replace it." % (path, error), **result)
    if key is None:
        result["changed"] = result["generated"] = True
        result["diff"] = dict(before={"path": path, "state": "present" if exists else "absent"},
                              after={"path": path, "state": "present (new key)"})
        if not module.check_mode:
            key = generate_private_key() if kind == "private" else generate_preshared_key()
            write_key(module, path, key)

    if not module.check_mode or os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        if file_args.get("mode") is None:
            file_args["mode"] = "0600"
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    if key is not None and kind == "private":
        result["public_key"] = public_key(key)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
