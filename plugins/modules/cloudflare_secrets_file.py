#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_secrets_file
short_description: Keep Cloudflare secrets in an Ansible Vault-encrypted vars file
version_added: 0.1.0
description:
  - Writes variables (a tunnel token, credentials, AUD tags) into an Ansible Vault-encrypted vars file, typically in
    the clinic inventory's C(group_vars/all/), so later runs of the roles find them without calling Cloudflare.
  - Idempotent, an existing file that already decrypts to the same variables is left alone (Vault encryption is
    salted, so rewriting would change the file on every run). A file the password cannot open is never overwritten.
  - Runs on the host where the task runs (normally the controller, C(localhost)) and needs the C(cryptography)
    library there, which ansible-core already depends on.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Shows which variables change, never their values.
    support: full
  idempotent:
    description: Re-running with the same arguments changes nothing.
    support: full
options:
  path:
    description:
      - The vars file to write (created with mode C(0600)). Its directory must exist.
    type: path
    required: true
  variables:
    description:
      - The variables the file defines (names are checked to be valid Ansible variable names).
    type: dict
    required: true
  vault_password_file:
    description:
      - File holding the Vault password (surrounding newlines are ignored).
    type: path
  vault_password:
    description:
      - The Vault password.
    type: str
  vault_id:
    description:
      - Vault ID label written in the file header (format 1.2); none by default.
    type: str
  comment:
    description:
      - A comment put at the top of the encrypted text.
    type: str
    default: Written by oscar_emr.remote_access (playbooks/cloudflare.yml). Do not edit by hand.
seealso:
  - module: oscar_emr.remote_access.cloudflare_tunnel
  - module: oscar_emr.remote_access.cloudflare_access_service_token
"""

EXAMPLES = r"""
- name: Keep the tunnel token and the Access AUD tags in the clinic's vault
  oscar_emr.remote_access.cloudflare_secrets_file:
    path: "{{ inventory_dir }}/group_vars/all/cloudflare_secrets.vault.yml"
    variables:
      cloudflared_tunnel_token: "{{ tunnel.token }}"
      cloudflared_access_aud_tags: "{{ auds }}"
    vault_password_file: ~/.config/oscar/demo-clinic.vault-pass
  no_log: true
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /srv/clinics/demo/group_vars/all/cloudflare_secrets.vault.yml
variables:
  description: Names of the variables the file now defines.
  returned: always
  type: list
  elements: str
  sample: [cloudflared_access_aud_tags, cloudflared_tunnel_token]
"""

import os  # noqa: E402
import re  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_vault import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    VaultError,
    decrypt,
    parse_vars,
    read_password_file,
    write_vault_vars,
)

DEFAULT_COMMENT = "Written by oscar_emr.remote_access (playbooks/cloudflare.yml). Do not edit by hand."


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            variables=dict(type="dict", required=True, no_log=True),
            vault_password_file=dict(type="path", no_log=False),
            vault_password=dict(type="str", no_log=True),
            vault_id=dict(type="str"),
            comment=dict(type="str", default=DEFAULT_COMMENT),
        ),
        mutually_exclusive=[("vault_password", "vault_password_file")],
        required_one_of=[("vault_password", "vault_password_file")],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    params = module.params
    path = params["path"]
    variables = params["variables"]
    for name in variables:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            module.fail_json(msg="variables: %r is not a valid Ansible variable name" % name)
    if params["vault_password"]:
        password = params["vault_password"]
    else:
        try:
            password = read_password_file(params["vault_password_file"])
        except (OSError, VaultError) as error:
            module.fail_json(msg="cannot read vault_password_file: %s" % error)

    before = {}
    if os.path.exists(path):
        try:
            with open(path, "rb") as handle:
                old = parse_vars(decrypt(handle.read(), password)) or {}
            before = dict((k, "(unchanged)" if old.get(k) == variables.get(k) else "(old value)") for k in old)
        except (OSError, VaultError):
            before = {"(file)": "(cannot be decrypted with this password)"}
    try:
        changed = write_vault_vars(path, variables, password, params["comment"], check_mode=module.check_mode,
                                   vault_id=params["vault_id"])
    except (OSError, VaultError) as error:
        module.fail_json(msg=str(error), path=path)
    result = {"changed": changed, "path": path, "variables": sorted(variables)}
    if module._diff:
        after = dict((k, "(unchanged)" if before.get(k) == "(unchanged)" else "(new value)") for k in variables)
        result["diff"] = {"before": before, "after": after,
                          "before_header": path + " (decrypted, values hidden)", "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
