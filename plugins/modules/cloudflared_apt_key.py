#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cloudflared_apt_key
short_description: Install an apt repository signing key only if its fingerprint is pinned
version_added: 0.1.0
description:
  - Downloads an OpenPGP public key (binary or ASCII-armoured), computes the fingerprint of every primary key in it
    and installs it as a binary keyring at O(dest) only when each of them is listed in O(fingerprints).
  - A key that does not match is never written, so apt never trusts a substituted key. The host needs no GnuPG,
    as fingerprints are computed in Python (version 4 keys with SHA-1, version 5 and 6 keys with SHA-256, as RFC 4880
    and RFC 9580 define them).
  - Used by the P(oscar_emr.remote_access.cloudflared#role) role for Cloudflare's apt repository, whose
    C(signed-by) keyring this is.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Downloads and checks the key, and reports whether O(dest) would change, without writing it.
    support: full
  diff_mode:
    description: Shows the fingerprints in O(dest) before and after.
    support: full
  platform:
    description: Any POSIX host with Python.
    platforms: posix
    support: full
options:
  url:
    description: Where to download the key from (HTTP or HTTPS).
    type: str
    required: true
  dest:
    description: The keyring file to write, in binary OpenPGP format (what C(signed-by) expects for a C(.gpg) file).
    type: path
    required: true
  fingerprints:
    description:
      - The fingerprints allowed, 40 (version 4) or 64 (version 5 and 6) hexadecimal digits; spaces are ignored.
      - Every primary key in the downloaded file must be one of them.
    type: list
    elements: str
    required: true
  mode:
    description: Permissions of O(dest).
    type: raw
    default: "0644"
  timeout:
    description: Seconds to wait for the download.
    type: int
    default: 30
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
notes:
  - Subkeys are trusted through their primary key and are not listed in O(fingerprints).
seealso:
  - name: Cloudflare package repository
    description: Where Cloudflare publishes its apt repository and signing key.
    link: https://pkg.cloudflare.com/
"""

EXAMPLES = r"""
- name: Trust Cloudflare's package signing key, pinned by fingerprint
  oscar_emr.remote_access.cloudflared_apt_key:
    url: https://pkg.cloudflare.com/cloudflare-main.gpg
    dest: /etc/apt/keyrings/cloudflared.gpg
    fingerprints:
      - "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"
"""

RETURN = r"""
fingerprints:
  description: The fingerprints of the primary keys in the downloaded key file, upper case without spaces.
  returned: always
  type: list
  elements: str
  sample: ["0123456789ABCDEF0123456789ABCDEF01234567"]
dest:
  description: The keyring path.
  returned: always
  type: str
  sample: /etc/apt/keyrings/cloudflared.gpg
"""

import base64  # noqa: E402 - after the documentation, as ansible-test wants
import hashlib  # noqa: E402 - after the documentation, as ansible-test wants
import os  # noqa: E402 - after the documentation, as ansible-test wants
import re  # noqa: E402 - after the documentation, as ansible-test wants
import struct  # noqa: E402 - after the documentation, as ansible-test wants
import tempfile  # noqa: E402 - after the documentation, as ansible-test wants

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation, as ansible-test wants
from ansible.module_utils.common.text.converters import to_native  # noqa: E402 - after the documentation, as ansible-test wants
from ansible.module_utils.urls import fetch_url  # noqa: E402 - after the documentation, as ansible-test wants

ARMOR_BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
PUBLIC_KEY = 6
SECRET_KEY = 5


class KeyFileError(ValueError):
    """The key file is not what it must be."""


def dearmor(data):
    """Return the binary packets of an ASCII-armoured key, or the data unchanged if it is binary."""
    if ARMOR_BEGIN not in data:
        return data
    text = data.decode("ascii", "replace")
    lines = text[text.index(ARMOR_BEGIN.decode()):].splitlines()[1:]
    body = []
    in_headers = True
    for line in lines:
        line = line.strip()
        if in_headers:
            if not line:
                in_headers = False
            elif ":" not in line:
                in_headers = False
                body.append(line)
            continue
        if line.startswith("-----END") or (line.startswith("=") and len(line) == 5):
            break
        body.append(line)
    try:
        return base64.b64decode("".join(body).encode("ascii"), validate=True)
    except (ValueError, TypeError):
        raise KeyFileError("the ASCII armour does not hold valid base64") from None


def packets(data):
    """Yield (tag, body) for each OpenPGP packet (RFC 4880/9580 old and new formats)."""
    i = 0
    size = len(data)

    def need(count):
        if i + count > size:
            raise KeyFileError("truncated OpenPGP packet")

    while i < size:
        ctb = bytearray(data[i:i + 1])[0]
        i += 1
        if not ctb & 0x80:
            raise KeyFileError("not OpenPGP data (byte %d is not a packet header)" % (i - 1))
        body = b""
        if ctb & 0x40:
            tag = ctb & 0x3F
            while True:
                need(1)
                first = bytearray(data[i:i + 1])[0]
                i += 1
                partial = False
                if first < 192:
                    length = first
                elif first < 224:
                    need(1)
                    length = ((first - 192) << 8) + bytearray(data[i:i + 1])[0] + 192
                    i += 1
                elif first == 255:
                    need(4)
                    length = struct.unpack(">I", data[i:i + 4])[0]
                    i += 4
                else:
                    length = 1 << (first & 0x1F)
                    partial = True
                need(length)
                body += data[i:i + length]
                i += length
                if not partial:
                    break
        else:
            tag = (ctb >> 2) & 0x0F
            length_type = ctb & 0x03
            if length_type == 3:
                length = size - i
            else:
                width = (1, 2, 4)[length_type]
                need(width)
                length = struct.unpack((">B", ">H", ">I")[length_type], data[i:i + width])[0]
                i += width
            need(length)
            body = data[i:i + length]
            i += length
        yield tag, body


def fingerprint(body):
    """The fingerprint of a public key packet body, upper-case hex."""
    if not body:
        raise KeyFileError("empty key packet")
    version = bytearray(body[:1])[0]
    if version == 4:
        # RFC 4880 defines the v4 fingerprint as SHA-1; it identifies, it does not protect.
        return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()  # noqa: S324
    if version == 5:
        return hashlib.sha256(b"\x9a" + struct.pack(">I", len(body)) + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + struct.pack(">I", len(body)) + body).hexdigest().upper()
    raise KeyFileError("version %d keys are not supported (only 4, 5 and 6)" % version)


def primary_fingerprints(data):
    """Fingerprints of the primary public keys in a key file (binary or armoured)."""
    found = []
    for tag, body in packets(dearmor(data)):
        if tag == SECRET_KEY:
            raise KeyFileError("the file holds a secret key; a repository key must be public only")
        if tag == PUBLIC_KEY:
            found.append(fingerprint(body))
    if not found:
        raise KeyFileError("the file holds no OpenPGP public key")
    return found


def normalise(value):
    return re.sub(r"\s+", "", value or "").upper()


def check(data, allowed):
    """Return the fingerprints in data; raise KeyFileError when one of them is not allowed."""
    allowed = set(normalise(v) for v in allowed)
    found = primary_fingerprints(data)
    unexpected = [fp for fp in found if fp not in allowed]
    if unexpected:
        raise KeyFileError("fingerprint(s) %s not in the pinned list %s: refusing to trust this key"
                           % (", ".join(unexpected), ", ".join(sorted(allowed))))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            fingerprints=dict(type="list", elements="str", required=True),
            mode=dict(type="raw", default="0644"),
            timeout=dict(type="int", default=30),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad = [v for v in params["fingerprints"] if not re.match(r"^([0-9A-F]{40}|[0-9A-F]{64})$", normalise(v))]
    if bad or not params["fingerprints"]:
        module.fail_json(msg="fingerprints must be a non-empty list of 40 or 64 hex digit fingerprints, got %r" % bad)

    response, info = fetch_url(module, params["url"], timeout=params["timeout"])
    if info.get("status") != 200 or response is None:
        module.fail_json(msg="could not download %s: HTTP %s %s" % (params["url"], info.get("status"), info.get("msg")),
                         fingerprints=[], dest=params["dest"])
    data = response.read()
    try:
        found = check(data, params["fingerprints"])
    except KeyFileError as exc:
        module.fail_json(msg="key from %s: %s" % (params["url"], to_native(exc)), fingerprints=[], dest=params["dest"])
    binary = dearmor(data)

    dest = params["dest"]
    current = None
    if os.path.exists(dest):
        with open(dest, "rb") as handle:
            current = handle.read()
    changed = current != binary
    before = []
    if current is not None:
        try:
            before = primary_fingerprints(current)
        except KeyFileError:
            before = ["(not an OpenPGP key)"]
    result = dict(changed=changed, fingerprints=found, dest=dest)
    if module._diff:
        result["diff"] = dict(before="\n".join(before) + ("\n" if before else ""), after="\n".join(found) + "\n",
                              before_header="%s (fingerprints)" % dest, after_header="%s (fingerprints)" % dest)
    if changed and not module.check_mode:
        directory = os.path.dirname(dest) or "."
        if not os.path.isdir(directory):
            module.fail_json(msg="the directory %s does not exist" % directory, **result)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".cloudflared_apt_key.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(binary)
            module.atomic_move(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    file_args = module.load_file_common_arguments(dict(path=dest, mode=params["mode"], owner="root", group="root"))
    if not module.check_mode or not changed:
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
