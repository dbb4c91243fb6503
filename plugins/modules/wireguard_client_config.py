#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wireguard_client_config
short_description: Issue a WireGuard peer's client configuration and QR code on the controller
version_added: 0.1.0
description:
  - "Meant to run on the controller (C(delegate_to: localhost)). Writes C(<path>/<name>.conf) for one peer of a
    WireGuard server (mode C(0600), directory C(0700)): its tunnel address, the server as the only peer, the endpoint,
    and a split tunnel to O(allowed_ips) only. For a peer whose keys it generates, also a QR code of the
    configuration as C(<path>/<name>.png) (mode C(0600)) for the WireGuard mobile apps."
  - "Two steps, so that a generated private key never passes through Ansible's variables or output: O(state=key)
    before the server is configured, O(state=present) after. O(state=key) makes sure the peer has a private key on
    the controller and returns only its public key, for the server: the key of the existing configuration, or a new
    one kept in a pending file (C(.<name>.key), mode C(0600)) until O(state=present) writes the configuration
    with it and removes the pending file. So the key is stable across runs, and a run that fails in between reuses
    the pending key."
  - "When this controller has no configuration for the peer but the server already knows a public key for it
    (O(known_public_key), issued from another controller), no new key is made and a warning says so; the same when
    the configuration here holds a key the server no longer has. O(reissue=true) makes a new key."
  - A peer with its own keys (O(generate=false)) gets a configuration without the private key, for its owner to
    complete on the device, and no QR code.
  - With O(vault_password), the configuration is written as Ansible Vault text (C(ansible-vault view) shows it) and no
    PNG is written, since a QR code holds the private key in the clear.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check mode and report whether a configuration would be issued or rewritten.
    support: full
  diff_mode:
    description: Reports which files would change, never their content (it holds a private key).
    support: partial
  platform:
    description: Runs on the controller.
    platforms: posix
    support: full
requirements:
  - segno (for O(qr_png) and O(return_qr))
  - cryptography (for O(vault_password); ansible-core depends on it)
options:
  path:
    description: The directory for the peer's files (one per clinic and server); created with mode C(0700).
    type: path
    required: true
  name:
    description: The peer's name; the files are C(<name>.conf) and C(<name>.png).
    type: str
    required: true
  state:
    description:
      - V(key) makes sure a generated peer has a private key here and returns its public key (no configuration yet).
      - V(present) writes or updates the configuration (and QR code) with the key from V(key).
      - V(absent) removes the peer's files (a removed peer).
    type: str
    choices: [key, present, absent]
    default: present
  generate:
    description: Whether the peer's keys are generated here (V(false) for a device that made its own).
    type: bool
    default: true
  reissue:
    description: With O(state=key), make a new private key for a generated peer (its configuration and QR code follow).
    type: bool
    default: false
  known_public_key:
    description: The public key the server has on record for this peer, if any.
    type: str
  public_key:
    description: The public key of a peer with its own keys (O(generate=false)).
    type: str
  address:
    description: The peer's tunnel address with its prefix, for example V(10.90.1.10/32).
    type: str
  allowed_ips:
    description:
      - What the client routes through the tunnel; the OSCAR front door's address as a /32, plus any extra destinations.
    type: list
    elements: str
    default: []
  dns:
    description: DNS servers for the client, if any.
    type: list
    elements: str
    default: []
  endpoint:
    description: The server's public name or address and port.
    type: str
  server_public_key:
    description: The server interface's public key.
    type: str
  preshared_key:
    description: The peer's preshared key, if it has one.
    type: str
  persistent_keepalive:
    description: Seconds between keepalives from the client (0 for none).
    type: int
    default: 25
  comment:
    description: Comment lines at the top of the configuration (who, where, expiry).
    type: str
    default: ""
  qr_png:
    description: Write the QR code PNG for a generated peer.
    type: bool
    default: true
  return_qr:
    description:
      - Return the QR code as text for the terminal (RV(qr_terminal)) when a configuration is issued on this run.
    type: bool
    default: false
  vault_password:
    description: Write the configuration as Ansible Vault text with this password (and read it back with it).
    type: str
  vault_id:
    description: The vault ID label to put in the Vault header.
    type: str
    default: ""
notes:
  - Run the task with C(no_log=true); RV(qr_terminal) and the files hold the client's private key.
"""

EXAMPLES = r"""
- name: Key of a generated peer (its public key goes to the server)
  oscar_emr.remote_access.wireguard_client_config:
    path: /srv/clinics/clients/lakeside_clinic/wg-pi
    name: dr-smith-laptop
    state: key
  delegate_to: localhost
  become: false
  register: client_key

- name: Client configuration for it, once the server is configured
  oscar_emr.remote_access.wireguard_client_config:
    path: /srv/clinics/clients/lakeside_clinic/wg-pi
    name: dr-smith-laptop
    address: 10.90.1.10/32
    allowed_ips: [192.168.1.20/32]
    endpoint: vpn.lakeside-clinic.example:51820
    server_public_key: Lh2P3SYr4dqxE8FVGo1cDtNGuvRyJ3aQpTjKCxY5Vmw=
    preshared_key: "{{ psk }}"
    return_qr: true
  delegate_to: localhost
  become: false
  no_log: true
  register: client
"""

RETURN = r"""
public_key:
  description: The peer's public key (null in check mode when a key would be generated).
  returned: always
  type: str
issued:
  description:
    - With O(state=key), whether a new private key was (or would be) made or a pending one is waiting.
    - With O(state=present), whether the configuration was written with a new key on this run.
  returned: always
  type: bool
conf_path:
  description: The configuration file.
  returned: always
  type: str
png_path:
  description: The QR code file, when one is written.
  returned: when a PNG is kept
  type: str
qr_terminal:
  description: The QR code as lines of block characters, when O(return_qr=true) and a configuration was issued.
  returned: when issued
  type: str
"""

import io  # noqa: E402
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._files import atomic_write  # noqa: E402
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard import (  # noqa: E402
    parse_config,
    render_client_config,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard_crypto import (  # noqa: E402
    HAS_CRYPTOGRAPHY,
    VaultError,
    generate_private_key,
    is_key,
    is_vault,
    public_key,
    vault_decrypt,
    vault_encrypt,
)

try:
    import segno

    HAS_SEGNO = True
except ImportError:
    HAS_SEGNO = False


def qr_png(text):
    qr = segno.make(text, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def qr_terminal(text):
    """The QR code in half-block characters, light modules drawn, for a dark terminal (as qrencode -t UTF8).

    Dark modules are no-break spaces: YAML result callbacks fold long lines at ordinary spaces, which would cut a
    row in two and make the code unreadable; a terminal shows a no-break space as a space."""
    qr = segno.make(text, error="m", micro=False)
    rows = [list(row) for row in qr.matrix_iter(border=2)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    blocks = {(False, False): "\u2588", (False, True): "\u2580", (True, False): "\u2584", (True, True): "\u00a0"}
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2]):
        lines.append("".join(blocks[(bool(a), bool(b))] for a, b in zip(top, bottom)))
    return "\n".join(lines)


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, IOError):
        return None


def write(module, path, data):
    atomic_write(path, data, 0o600, module, prefix=".wgclient-")


def ensure_directory(module, path, check):
    """Create the directory (and missing parents) with mode 0700; tighten an existing one. True if changed."""
    if os.path.isdir(path):
        if (os.stat(path).st_mode & 0o777) != 0o700:
            if not check:
                os.chmod(path, 0o700)
            return True
        return False
    if not check:
        os.makedirs(path, 0o700)
        os.chmod(path, 0o700)
    return True


def read_plaintext(module, path, password):
    """The text of a configuration or pending key file (decrypted when it is Vault text), or None."""
    data = read(path)
    if data is None:
        return None
    if is_vault(data):
        if not password:
            module.fail_json(msg="%s is Vault-encrypted: give the vault password (wireguard_client_vault_password) or"
                             " move the file away" % path)
        try:
            return vault_decrypt(data, password).decode("utf-8")
        except VaultError as error:
            module.fail_json(msg="%s cannot be read: %s; it is left alone" % (path, error))
    return data.decode("utf-8", "replace")


def conf_key(text):
    if text is None:
        return None
    values = parse_config(text)["interface"].get("privatekey", [])
    return values[0] if values and is_key(values[0]) else None


def pending_key(text):
    if text is None:
        return None
    text = text.strip()
    return text if is_key(text) else None


def encode(module, text):
    data = text.encode("utf-8")
    if module.params["vault_password"]:
        data = vault_encrypt(data, module.params["vault_password"], module.params["vault_id"] or None)
    return data


def step_key(module, result, conf_path, pending_path):
    """state=key: make sure a generated peer has a private key here; return its public key only."""
    p = module.params
    check = module.check_mode
    password = p["vault_password"]
    known = p["known_public_key"] or None
    pending = pending_key(read_plaintext(module, pending_path, password))
    existing = conf_key(read_plaintext(module, conf_path, password))
    key = None
    if p["reissue"] and not pending:
        key = None
    elif pending:
        key = pending
        result["issued"] = True
    elif existing and (known is None or public_key(existing) == known):
        key = existing
    elif known:
        result["public_key"] = known
        if existing:
            module.warn("%s holds a key that the server no longer has for %s (re-issued elsewhere?); the server's key"
                        " is kept and the file is left alone. Re-issue the peer to get a working configuration here."
                        % (conf_path, p["name"]))
        else:
            module.warn("No client configuration for %s on this controller, but the server knows its key (issued from"
                        " another controller); that key is kept. Re-issue the peer to get a configuration here."
                        % p["name"])
        return
    if key is None:
        result["issued"] = result["changed"] = True
        result["diff"] = dict(before="", after="%s (new private key)\n" % pending_path)
        if check:
            return
        key = generate_private_key()
        ensure_directory(module, p["path"], False)
        write(module, pending_path, encode(module, key + "\n"))
    result["public_key"] = public_key(key)


def step_present(module, result, conf_path, png_path, pending_path):
    p = module.params
    check = module.check_mode
    password = p["vault_password"]
    changed_files = []
    if not p["server_public_key"]:
        if check:
            # The server key does not exist yet (first run in check mode): a configuration would be written.
            result["changed"] = True
            return
        module.fail_json(msg="server_public_key is needed to write a client configuration")
    existing_text = read_plaintext(module, conf_path, password)
    private = None
    if p["generate"]:
        private = pending_key(read_plaintext(module, pending_path, password))
        if private:
            result["issued"] = True
        else:
            private = conf_key(existing_text)
        if not private:
            if check and p["reissue"]:
                result["changed"] = True
                return
            # Issued from another controller (state=key warned): nothing to write here.
            return
        result["public_key"] = public_key(private)
    else:
        if not p["public_key"] or not is_key(p["public_key"]):
            module.fail_json(msg="public_key is needed (and must be a WireGuard key) when generate is false")
        result["public_key"] = p["public_key"]

    text = render_client_config(
        {"client_address": p["address"], "client_allowed_ips": p["allowed_ips"]}, private, p["server_public_key"],
        p["endpoint"], preshared_key=p["preshared_key"], dns=p["dns"],
        persistent_keepalive=p["persistent_keepalive"], comment=p["comment"] or None)

    if ensure_directory(module, p["path"], check):
        changed_files.append(p["path"] + "/")
    raw = read(conf_path)
    if existing_text != text or (raw is not None and bool(password) != is_vault(raw)):
        changed_files.append(conf_path)
        if not check:
            write(module, conf_path, encode(module, text))
    elif (os.stat(conf_path).st_mode & 0o777) != 0o600:
        changed_files.append(conf_path + " (mode)")
        if not check:
            os.chmod(conf_path, 0o600)
    if os.path.exists(pending_path):
        changed_files.append(pending_path + " (removed)")
        if not check:
            os.unlink(pending_path)

    if p["generate"] and p["qr_png"] and not password:
        image = qr_png(text)
        if read(png_path) != image:
            changed_files.append(png_path)
            if not check:
                write(module, png_path, image)
        elif (os.stat(png_path).st_mode & 0o777) != 0o600:
            changed_files.append(png_path + " (mode)")
            if not check:
                os.chmod(png_path, 0o600)
        result["png_path"] = png_path
    elif os.path.exists(png_path):
        changed_files.append(png_path + " (removed)")
        if not check:
            os.unlink(png_path)

    if result["issued"] and p["return_qr"] and p["generate"]:
        result["qr_terminal"] = qr_terminal(text)
    if changed_files:
        result["changed"] = True
        result["diff"] = dict(before="", after="\n".join(changed_files) + "\n")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["key", "present", "absent"], default="present"),
            generate=dict(type="bool", default=True),
            reissue=dict(type="bool", default=False),
            known_public_key=dict(type="str", no_log=False),
            public_key=dict(type="str", no_log=False),
            address=dict(type="str"),
            allowed_ips=dict(type="list", elements="str", default=[]),
            dns=dict(type="list", elements="str", default=[]),
            endpoint=dict(type="str"),
            server_public_key=dict(type="str", no_log=False),
            preshared_key=dict(type="str", no_log=True),
            persistent_keepalive=dict(type="int", default=25, no_log=False),
            comment=dict(type="str", default=""),
            qr_png=dict(type="bool", default=True),
            return_qr=dict(type="bool", default=False),
            vault_password=dict(type="str", no_log=True),
            vault_id=dict(type="str", default=""),
        ),
        required_if=[("state", "present", ("address", "allowed_ips", "endpoint"))],
        supports_check_mode=True,
    )
    p = module.params
    directory = p["path"]
    conf_path = os.path.join(directory, p["name"] + ".conf")
    png_path = os.path.join(directory, p["name"] + ".png")
    pending_path = os.path.join(directory, "." + p["name"] + ".key")
    result = dict(changed=False, issued=False, public_key=None, conf_path=conf_path)

    if p["state"] == "absent":
        removed = [path for path in (conf_path, png_path, pending_path) if os.path.exists(path)]
        if removed and not module.check_mode:
            for path in removed:
                os.unlink(path)
        result["changed"] = bool(removed)
        if removed:
            result["diff"] = dict(before="\n".join(removed) + "\n", after="")
        module.exit_json(**result)

    needs_qr = p["state"] == "present" and p["generate"] and (p["qr_png"] or p["return_qr"])
    if needs_qr and not HAS_SEGNO:
        module.fail_json(msg=missing_required_lib("segno"))
    if p["vault_password"] and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))

    if p["state"] == "key":
        if not p["generate"]:
            module.fail_json(msg="state=key is for peers whose keys are generated (generate=true)")
        step_key(module, result, conf_path, pending_path)
    else:
        step_present(module, result, conf_path, png_path, pending_path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
