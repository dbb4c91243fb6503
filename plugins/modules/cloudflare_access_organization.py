#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_organization
short_description: Manage account-wide Cloudflare Access settings (MFA default, seat expiry)
version_added: 0.1.0
description:
  - Manages the Zero Trust organisation's settings that this collection relies on, the same for every clinic in the
    account. Cloudflare Access's own multi-factor authentication (TOTP, security keys, biometrics), independent of the
    login method, so that clinics that log in with email one-time PINs get a second factor, as the organisation-wide
    default (O(mfa)). How long an inactive user keeps a seat (O(user_seat_expiration_inactive_time)).
  - Only the settings given are compared and written. Settings Cloudflare returns that the task does not set (its
    defaults, other settings made in the dashboard) are neither compared nor changed, so a re-run with the same
    arguments makes no write.
  - Writes with C(PUT /accounts/<id>/access/organizations), sending the settings it manages merged into the current
    ones (the whole C(mfa_config) object, so C(amr_matching_session_duration) and other MFA keys set elsewhere stay).
  - The organisation must exist (a Zero Trust team); this module does not create one.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  idempotent:
    description: Re-running with the same arguments changes nothing.
    support: full
options:
  mfa:
    description:
      - The organisation's default for Cloudflare Access's own MFA. Policies and applications can override it with
        their own C(mfa_config) (see M(oscar_emr.remote_access.cloudflare_access_policy)).
    type: dict
    suboptions:
      required_for_all_apps:
        description:
          - Require the organisation's MFA on every application by default (C(mfa_required_for_all_apps)). Needs
            O(mfa.allowed_authenticators) and O(mfa.session_duration), sent with it.
        type: bool
      allowed_authenticators:
        description: The second factors users may use.
        type: list
        elements: str
        choices: [totp, biometrics, security_key]
      session_duration:
        description:
          - How long an MFA check lasts before Access asks again, in minutes or hours (V(30m), V(12h)); at most
            V(720h).
        type: str
      amr_matching_session_duration:
        description:
          - Skip Access's MFA for this long when the identity provider's C(amr) claim already says C(mfa), in minutes
            or hours; at most V(720h).
        type: str
  user_seat_expiration_inactive_time:
    description:
      - How long a user may be inactive before their seat stops counting against the account's seats, as a Go
        duration of at least V(730h) (one month), for example V(730h) or V(2190h).
      - Cloudflare's free plan has 50 seats per account, and anyone who authenticates takes one.
    type: str
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_policy
  - module: oscar_emr.remote_access.cloudflare_access_seats
  - name: Access MFA
    description: Cloudflare's documentation of independent MFA.
    link: https://developers.cloudflare.com/cloudflare-one/access-controls/access-settings/independent-mfa/
"""

EXAMPLES = r"""
- name: MFA for every application by default; seats of people inactive for a month are freed
  oscar_emr.remote_access.cloudflare_access_organization:
    mfa:
      required_for_all_apps: true
      allowed_authenticators: [totp, security_key, biometrics]
      session_duration: 12h
    user_seat_expiration_inactive_time: 730h
"""

RETURN = r"""
organization:
  description: The settings this module manages, as Cloudflare holds them after the run (in check mode, before).
  returned: always
  type: dict
  sample:
    mfa_required_for_all_apps: true
    mfa_config: {"allowed_authenticators": ["security_key", "totp"], "session_duration": "12h"}
    user_seat_expiration_inactive_time: 730h
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

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (  # noqa: E402
    AccessPolicyError,
    canonical_duration,
    validate_duration,
    validate_mfa_session,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    CloudflareModule,
)

# The minimum Cloudflare accepts for user_seat_expiration_inactive_time (one month).
MIN_SEAT_EXPIRATION = "730h"
MFA_KEYS = ("allowed_authenticators", "session_duration", "amr_matching_session_duration")


def desired_settings(params):
    """The settings the task asks for, in API names, canonical; keys not asked for are absent."""
    out = {}
    mfa = params["mfa"]
    if mfa is not None:
        config = {}
        if mfa["allowed_authenticators"] is not None:
            if not mfa["allowed_authenticators"]:
                raise AccessPolicyError.at("mfa.allowed_authenticators", "must name at least one authenticator")
            config["allowed_authenticators"] = sorted(set(mfa["allowed_authenticators"]))
        for key in ("session_duration", "amr_matching_session_duration"):
            if mfa[key] is not None:
                config[key] = canonical_duration(validate_mfa_session(mfa[key], "mfa." + key))
        if config:
            out["mfa_config"] = config
        if mfa["required_for_all_apps"] is not None:
            out["mfa_required_for_all_apps"] = mfa["required_for_all_apps"]
    seat = params["user_seat_expiration_inactive_time"]
    if seat is not None:
        out["user_seat_expiration_inactive_time"] = canonical_duration(
            validate_duration(seat, "user_seat_expiration_inactive_time", minimum=MIN_SEAT_EXPIRATION))
    return out


def current_settings(organization, wanted):
    """The current values of the settings in ``wanted``, in the same canonical form."""
    out = {}
    if "mfa_config" in wanted:
        current = organization.get("mfa_config") or {}
        config = {}
        for key in wanted["mfa_config"]:
            value = current.get(key)
            if key == "allowed_authenticators":
                value = sorted(set(value or []))
            elif value:
                value = canonical_duration(value)
            config[key] = value or ([] if key == "allowed_authenticators" else None)
        out["mfa_config"] = config
    if "mfa_required_for_all_apps" in wanted:
        out["mfa_required_for_all_apps"] = bool(organization.get("mfa_required_for_all_apps", False))
    if "user_seat_expiration_inactive_time" in wanted:
        value = organization.get("user_seat_expiration_inactive_time")
        out["user_seat_expiration_inactive_time"] = canonical_duration(value) if value else None
    return out


def main():
    cf = CloudflareModule(
        argument_spec=dict(
            mfa=dict(type="dict", options=dict(
                required_for_all_apps=dict(type="bool"),
                allowed_authenticators=dict(type="list", elements="str",
                                            choices=["totp", "biometrics", "security_key"]),
                session_duration=dict(type="str"),
                amr_matching_session_duration=dict(type="str"),
            )),
            user_seat_expiration_inactive_time=dict(type="str"),
        ),
        required_one_of=[("mfa", "user_seat_expiration_inactive_time")],
    )
    try:
        wanted = desired_settings(cf.params)
    except AccessPolicyError as error:
        cf.invalid(error)

    organization = cf.call(cf.client.get, cf.path("access", "organizations")) or {}
    before = current_settings(organization, wanted)
    after = dict(wanted)
    if before == after:
        cf.exit(False, before=before, after=after, organization=before)

    body = {}
    current_mfa = dict(organization.get("mfa_config") or {})
    if "mfa_config" in wanted or wanted.get("mfa_required_for_all_apps"):
        merged = dict((k, v) for k, v in current_mfa.items() if k in (*MFA_KEYS, "required_aaguids") and v)
        merged.update(wanted.get("mfa_config") or {})
        body["mfa_config"] = merged
        if wanted.get("mfa_required_for_all_apps") and not (merged.get("allowed_authenticators")
                                                            and merged.get("session_duration")):
            cf.fail("mfa.required_for_all_apps needs mfa.allowed_authenticators and mfa.session_duration (Cloudflare "
                    "refuses it without both, and the organisation has none set)")
    for key in ("mfa_required_for_all_apps", "user_seat_expiration_inactive_time"):
        if key in wanted:
            body[key] = wanted[key]
    result = organization
    if not cf.check_mode:
        result = cf.call(cf.client.put, cf.path("access", "organizations"), body) or {}
    cf.exit(True, before=before, after=after, organization=current_settings(result, wanted))


if __name__ == "__main__":
    main()
