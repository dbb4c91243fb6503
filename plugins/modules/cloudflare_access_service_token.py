#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_service_token
short_description: Manage a Cloudflare Access service token (machine credentials)
version_added: 0.1.0
description:
  - Creates, updates, rotates, refreshes or deletes one Cloudflare Access service token, found by O(name).
  - Machines (a lab's integration server, a fax gateway) send its C(CF-Access-Client-Id) and
    C(CF-Access-Client-Secret) headers and are admitted by a V(service_auth) policy
    (M(oscar_emr.remote_access.cloudflare_access_policy)).
  - Cloudflare shows the client secret B(only once), when the token is created or rotated. This module then returns it
    in RV(client_secret) only if the task runs with C(no_log=true), and can write it straight into an Ansible
    Vault-encrypted vars file (O(secret_file)). It refuses to create or rotate a token when the secret would be
    neither returned nor saved.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  idempotent:
    description: Re-running with the same arguments changes nothing.
    support: partial
    details: O(rotate=true) and O(refresh=true) act on every run; O(refresh_within) is idempotent.
options:
  name:
    description:
      - Name of the service token. Must be unique among the account's service tokens.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the token, V(absent) deletes it (machines using it are locked out at once).
    type: str
    choices: [present, absent]
    default: present
  duration:
    description:
      - How long the token is valid from creation or refresh, as a Go duration (V(8760h) is one year, Cloudflare's
        default), or V(forever) for a token that never expires (the clinic's choice; prefer a duration and
        O(refresh_within) where the integration allows it). When not set, an existing token's duration is left alone.
    type: str
  rotate:
    description:
      - Issue a new client secret now. Reports a change on every run.
      - The old secret stops working at once, unless O(rotate_grace_period) keeps it valid for a while.
    type: bool
    default: false
  rotate_grace_period:
    description:
      - With O(rotate=true), how long the previous client secret keeps working after the rotation, as a Go duration
        in hours or minutes (for example V(24h)), so an integration (online booking, a lab) can switch to the new
        secret without an outage. Sent to Cloudflare as C(previous_client_secret_expires_at) (now plus this).
      - Not set (or V(0s)), the previous secret stops at once, Cloudflare's default.
    type: str
  refresh:
    description:
      - Extend the token's expiry by its O(duration) from now. Reports a change on every run.
    type: bool
    default: false
  refresh_within:
    description:
      - Refresh the token only if it expires within this Go duration (for example V(720h)), so a scheduled run keeps it
        alive without a change on every run.
    type: str
  secret_file:
    description:
      - Path of an Ansible Vault-encrypted vars file (for example in the clinic's C(group_vars/all/)) to write the
        client id and secret to whenever Cloudflare issues a secret (create, rotate). Mode C(0600).
      - An existing file that does not decrypt with the given password is never overwritten.
    type: path
  secret_file_variable:
    description:
      - Name of the variable the file defines; it holds C(id), C(name), C(client_id) and C(client_secret).
      - Defaults to C(cloudflare_service_token_) followed by O(name) in lower case with other characters as C(_).
    type: str
  vault_password_file:
    description:
      - File holding the Vault password for O(secret_file) (surrounding newlines are ignored).
    type: path
  vault_password:
    description:
      - The Vault password for O(secret_file).
    type: str
  vault_id:
    description:
      - Vault ID label written in the file header (format 1.2); none by default.
    type: str
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
  - name: Service tokens
    description: Cloudflare's documentation of service tokens.
    link: https://developers.cloudflare.com/cloudflare-one/identity/service-tokens/
"""

EXAMPLES = r"""
- name: A token for the lab's integration server, secret written to the clinic's vault
  oscar_emr.remote_access.cloudflare_access_service_token:
    name: "demo-clinic: lab-integration"
    duration: 8760h
    refresh_within: 720h
    secret_file: "{{ inventory_dir }}/group_vars/all/cloudflare_service_tokens.vault.yml"
    vault_password_file: "{{ lookup('ansible.builtin.env', 'ANSIBLE_VAULT_PASSWORD_FILE') }}"

- name: Rotate the secret and receive it (never shown in the output)
  oscar_emr.remote_access.cloudflare_access_service_token:
    name: "demo-clinic: lab-integration"
    rotate: true
  register: lab_token
  no_log: true

- name: Delete the token
  oscar_emr.remote_access.cloudflare_access_service_token:
    name: "demo-clinic: lab-integration"
    state: absent
"""

RETURN = r"""
id:
  description: ID of the token (used in C(service_token) policy rules).
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 3d6f0a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b
client_id:
  description: The C(CF-Access-Client-Id) value.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: 88bf3b6d86161464f6509f7219099e57.access
expires_at:
  description:
    - When the token expires (RFC 3339, as Cloudflare reports it); null for a V(forever) token. For fleet reports.
  returned: when it exists (not in check mode for a new one)
  type: str
  sample: "2027-11-22T05:00:00Z"
previous_client_secret_expires_at:
  description:
    - After a rotation with O(rotate_grace_period), until when the previous secret keeps working (RFC 3339).
  returned: when a secret was rotated with a grace period (also in check mode, as planned)
  type: str
  sample: "2026-12-07T06:00:00Z"
client_secret:
  description:
    - The C(CF-Access-Client-Secret) value, shown by Cloudflare only when the token is created or rotated.
    - Returned only then, and only when the task runs with C(no_log=true).
  returned: when a secret was issued and the task has no_log
  type: str
service_token:
  description: The token as Cloudflare holds it, without secret.
  returned: when it exists (not in check mode for a new one)
  type: dict
  sample: {"id": "3d6f0a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "name": "demo-clinic: lab-integration",
           "client_id": "88bf3b6d86161464f6509f7219099e57.access", "duration": "8760h",
           "expires_at": "2027-11-22T05:00:00Z"}
secret_issued:
  description: Whether Cloudflare issued a new client secret in this run.
  returned: always
  type: bool
secret_file_written:
  description: Whether O(secret_file) was (or in check mode would be) written.
  returned: always
  type: bool
api_requests:
  description: HTTP requests this run made to the Cloudflare API.
  returned: always
  type: dict
  contains:
    reads:
      description: Number of GET requests.
      type: int
      returned: always
    writes:
      description: Number of POST, PUT, PATCH and DELETE requests.
      type: int
      returned: always
    calls:
      description: Each request as C(METHOD path -> status).
      type: list
      elements: str
      returned: always
"""

import datetime  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

from ansible.module_utils.basic import missing_required_lib  # noqa: E402

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    AccessPolicyError,
    canonical_duration,
    duration_seconds,
    validate_duration,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    REDACTED,
    CloudflareModule,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_vault import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    VaultError,
    read_password_file,
    write_vault_vars,
)

PUBLIC_KEYS = ("id", "name", "client_id", "duration", "expires_at", "created_at", "updated_at", "last_seen_at",
               "previous_client_secret_expires_at")
FOREVER = "forever"


def public(token):
    return dict((k, token.get(k)) for k in PUBLIC_KEYS if k in (token or {}))


def parse_time(text):
    if not text:
        return None
    text = text.strip().replace("Z", "+00:00")
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def token_duration(value, path):
    """A Go duration Cloudflare accepts for a token, or ``forever``; returned canonical."""
    if isinstance(value, str) and value.strip().lower() == FOREVER:
        return FOREVER
    return canonical_duration(validate_duration(value, path, allow_zero=False))


def same_duration(left, right):
    return canonical_duration(left or "8760h") == canonical_duration(right or "8760h")


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_variable(name):
    return "cloudflare_service_token_" + re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            duration=dict(type="str"),
            rotate=dict(type="bool", default=False),
            rotate_grace_period=dict(type="str"),
            refresh=dict(type="bool", default=False),
            refresh_within=dict(type="str"),
            secret_file=dict(type="path"),
            secret_file_variable=dict(type="str", no_log=False),
            vault_password_file=dict(type="path", no_log=False),
            vault_password=dict(type="str", no_log=True),
            vault_id=dict(type="str"),
        ),
        mutually_exclusive=[("vault_password", "vault_password_file")],
    )
    params = cf.params
    name = params["name"].strip()
    if not name:
        cf.fail("name must not be empty")
    try:
        duration = token_duration(params["duration"], "duration") if params["duration"] is not None else None
        grace = None
        if params["rotate_grace_period"] is not None:
            grace = validate_duration(params["rotate_grace_period"], "rotate_grace_period")
            if not params["rotate"]:
                raise AccessPolicyError.at("rotate_grace_period", "applies to a rotation: set rotate: true as well")
        refresh_within = validate_duration(params["refresh_within"], "refresh_within", allow_zero=False) \
            if params["refresh_within"] is not None else None
    except AccessPolicyError as error:
        cf.invalid(error)

    password = None
    variable = params["secret_file_variable"] or default_variable(name)
    if params["secret_file"]:
        if not HAS_CRYPTOGRAPHY:
            cf.fail(missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
            cf.fail("secret_file_variable %r is not a valid Ansible variable name" % variable)
        if params["vault_password"]:
            password = params["vault_password"]
        elif params["vault_password_file"]:
            try:
                password = read_password_file(params["vault_password_file"])
            except (OSError, VaultError) as error:
                cf.fail("cannot read vault_password_file: %s" % error)
        else:
            cf.fail("secret_file needs vault_password or vault_password_file: the secret is never written in clear")

    current = cf.find_by_name("access/service_tokens", name, "service token", query={"name": name})

    if params["state"] == "absent":
        if current is None:
            cf.exit(False, secret_issued=False, secret_file_written=False)
        if not cf.check_mode:
            cf.call(cf.client.delete, cf.path("access", "service_tokens", current["id"]))
        before = {"name": name, "duration": current.get("duration"), "client_id": current.get("client_id")}
        cf.exit(True, before=before, after={}, id=current["id"], secret_issued=False, secret_file_written=False)

    def secret_gate(action):
        if not cf.module.no_log and not params["secret_file"]:
            cf.fail("refusing to %s service token %r: Cloudflare shows its client secret only now, and it would be "
                    "lost (no secret_file) or printed (the task lacks no_log: true). Set no_log: true on the task and "
                    "register the result, or give secret_file." % (action, name))

    result = {"secret_issued": False, "secret_file_written": False}
    issued = None
    before = {}
    if current is not None:
        before = {"name": name, "duration": canonical_duration(current.get("duration") or "8760h"),
                  "client_id": current.get("client_id"), "expires_at": current.get("expires_at")}
    after = dict(before) if current else {"name": name, "duration": canonical_duration(duration or "8760h"),
                                          "client_id": "(issued by Cloudflare)", "expires_at": "(set by Cloudflare)"}
    changed = False
    token = current

    if current is None:
        secret_gate("create")
        changed = True
        after["client_secret"] = REDACTED
        if not cf.check_mode:
            body = {"name": name}
            if duration:
                body["duration"] = duration
            issued = cf.call(cf.client.post, cf.path("access", "service_tokens"), body)
            token = issued
    else:
        token_id = current["id"]
        if duration and not same_duration(duration, current.get("duration")):
            changed = True
            after["duration"] = canonical_duration(duration)
            if not cf.check_mode:
                token = cf.call(cf.client.put, cf.path("access", "service_tokens", token_id),
                                {"name": name, "duration": duration})
        refresh = params["refresh"]
        never_expires = (duration or current.get("duration")) == FOREVER
        if not refresh and refresh_within and not never_expires:
            expires = parse_time(current.get("expires_at"))
            now = datetime.datetime.now(datetime.timezone.utc)
            if expires is None or (expires - now).total_seconds() <= duration_seconds(refresh_within):
                refresh = True
        if refresh:
            changed = True
            extension = canonical_duration(duration or current.get("duration") or "8760h")
            after["expires_at"] = "(extended by %s from now)" % extension
            if not cf.check_mode:
                token = cf.call(cf.client.post, cf.path("access", "service_tokens", token_id, "refresh"))
        if params["rotate"]:
            secret_gate("rotate")
            changed = True
            before["client_secret"] = REDACTED
            after["client_secret"] = REDACTED + " (new)"
            body = {}
            if grace and duration_seconds(grace) > 0:
                until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                    seconds=duration_seconds(grace))
                body["previous_client_secret_expires_at"] = rfc3339(until)
                after["previous_client_secret_expires_at"] = body["previous_client_secret_expires_at"]
                result["previous_client_secret_expires_at"] = body["previous_client_secret_expires_at"]
            else:
                after["previous_client_secret_expires_at"] = "(now: the previous secret stops at once)"  # noqa: S105
            if not cf.check_mode:
                issued = cf.call(cf.client.post, cf.path("access", "service_tokens", token_id, "rotate"), body)
                token = dict(token or {}, **public(issued))

    if issued is not None:
        result["secret_issued"] = True
        if cf.module.no_log:
            result["client_secret"] = issued.get("client_secret")
    if params["secret_file"]:
        if issued is not None or (cf.check_mode and changed and ("client_secret" in after)):
            variables = {variable: {"id": (issued or {}).get("id") or (token or {}).get("id"), "name": name,
                                    "client_id": (issued or token or {}).get("client_id"),
                                    "client_secret": (issued or {}).get("client_secret")}}
            if cf.check_mode:
                result["secret_file_written"] = True
            else:
                try:
                    result["secret_file_written"] = write_vault_vars(
                        params["secret_file"], variables, password,
                        "Cloudflare Access service token %r, written by oscar_emr.remote_access."
                        "cloudflare_access_service_token. Do not edit." % name,
                        vault_id=params["vault_id"])
                except (OSError, VaultError) as error:
                    cf.fail("the service token's new secret could not be written to %s: %s. Rotate it again once "
                            "the file is writable." % (params["secret_file"], error), id=(token or {}).get("id"),
                            secret_issued=True)
                changed = changed or result["secret_file_written"]
        elif not os.path.exists(params["secret_file"]):
            cf.module.warn("secret_file %s does not exist, and Cloudflare shows a service token's secret only when it "
                           "is created or rotated: run once with rotate: true to issue a new secret and write it"
                           % params["secret_file"])

    if token:
        result.update(id=token.get("id"), client_id=token.get("client_id"), service_token=public(token),
                      expires_at=token.get("expires_at"))
        if not cf.check_mode:
            after.update(client_id=token.get("client_id"))
            if token.get("expires_at"):
                after["expires_at"] = token.get("expires_at")
    cf.exit(changed, before=before, after=after, **result)


if __name__ == "__main__":
    main()
