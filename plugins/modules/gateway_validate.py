#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/gateway_validate.py),
# which runs on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gateway_validate
short_description: Check the access gateway's configuration on the controller
version_added: 0.1.0
description:
  - Checks the configuration the P(oscar_emr.remote_access.gateway#role) role writes, before anything changes on the
    host. The C(access_policy) inside it goes through the collection's single access-policy validator, the code the
    Cloudflare modules and the gateway itself use, so a mistake fails with its path, for example a message that
    starts with C(access_policy.policies[2].include.ip_ranges[0]) and names the invalid CIDR.
  - Also checks the users (names, e-mail addresses, roles, optional argon2id password hashes), the mode, the public
    host name and, in Cloudflare mode, the team domain and AUD tags, naming the role variable.
  - Returns the configuration with identity-provider secrets of the model replaced by C(********) (the gateway never
    needs them).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.role_validate
options:
  config:
    description: The gateway's configuration (the JSON object described in the gateway's README).
    type: dict
    required: true
  policy_variable:
    description: Name of the access-policy variable, used in error messages.
    type: str
    default: access_policy
  users_variable:
    description: Name of the users variable, used in error messages.
    type: str
    default: gateway_users
  current_users:
    description:
      - The accounts in the gateway's database now (username, enabled, admin_disabled, source); unset when there is no
        database yet.
      - The accounts O(config) would disable (listed with C(enabled) false, or in standalone mode no longer listed) are
        named in a warning; more than O(disable_max_share) of the enabled ones is refused unless O(allow_mass_disable).
    type: list
    elements: dict
  disable_max_share:
    description: Largest share (0 to 1) of the enabled accounts one run may disable; at least one is always allowed.
    type: float
    default: 0.25
  allow_mass_disable:
    description: Consent to disable more accounts than O(disable_max_share) allows.
    type: bool
    default: false
  today:
    description:
      - Today's date on the gateway's host (YYYY-MM-DD); unset, the controller's date.
      - An account in O(config) that is not in O(current_users) (or any account, when there is no database yet) whose
        C(expires) date is not after this day is refused, as it could never sign in.
    type: str
  audit_syslog:
    description:
      - The off-box copy's role variables by name (C(gateway_audit_syslog_host), C(_port), C(_ca), C(_peer),
        C(_queue_max), C(_retry_seconds)); checked when the host is set.
    type: dict
    default: {}
  mail_password_set:
    description:
      - Whether the inventory sets the mail relay's password (C(gateway_mail_password)); the password itself never
        reaches this check. A relay login needs both a user name (C(mail.credentials_file) set in O(config)) and a
        password, and a relay.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check the gateway's configuration before anything changes
  oscar_emr.remote_access.gateway_validate:
    config:
      mode: standalone
      clinic_name: Lakeside Family Clinic
      public_host: emr.lakeside.example
      access_policy: "{{ access_policy }}"
      users: []
  register: gateway_checked
"""

RETURN = r"""
config:
  description: The configuration, identity-provider secrets of the access-policy model redacted.
  returned: success
  type: dict
  sample: {"mode": "standalone", "clinic_name": "Lakeside Family Clinic", "public_host": "emr.lakeside.example"}
has_password_hashes:
  description: Whether any user carries a password hash (the role then hides the file's content from logs and diffs).
  returned: success
  type: bool
  sample: false
errors:
  description: Every problem found, each naming the variable and the offending value.
  returned: failure
  type: list
  elements: str
  sample: ["access_policy.policies[0].include.ip_ranges[0]: '10.0.0.300/32' is not a valid CIDR"]
"""
