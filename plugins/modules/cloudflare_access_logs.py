#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cloudflare_access_logs
short_description: Read Cloudflare Access authentication logs since a given time
version_added: 0.1.0
description:
  - Reads the account's Access authentication logs (who signed in or was refused, to which application, from which
    address, with which login method) with C(GET /accounts/<id>/access/logs/access_requests), oldest first, every
    page, from O(since) to O(until).
  - Cloudflare keeps these logs for 24 hours on the free plan (30 days Standard, 180 days Enterprise). The playbook
    C(playbooks/access_logs.yml) runs this module on a schedule and appends the records to the clinic's audit
    store, keyed by C(ray_id), so nothing is lost and nothing is stored twice.
  - Each record is returned once per C(ray_id) (Cloudflare's identifier of the request). Records without a
    C(ray_id) cannot be de-duplicated; they are left out and counted in RV(without_ray_id), with a warning.
  - Reads only; it never changes anything, so check mode runs the same reads.
  - "The API token needs the account permission C(Access: Audit Logs Read)."
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
extends_documentation_fragment:
  - oscar_emr.remote_access.cloudflare
  - oscar_emr.remote_access.cloudflare.attributes
attributes:
  check_mode:
    description: Reads the same in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: It never changes anything.
    support: full
options:
  since:
    description:
      - The earliest event to read, as ISO 8601 with a time zone (V(2026-11-30T08:00:00Z)) or a span back from now
        (V(90m), V(24h), V(7d)).
    type: str
    required: true
  until:
    description:
      - The latest event to read, in the same forms as O(since). Not set, up to now.
    type: str
  per_page:
    description:
      - Records asked for per page (1 to 1000).
    type: int
    default: 100
seealso:
  - module: oscar_emr.remote_access.cloudflare_access_application
"""

EXAMPLES = r"""
- name: The last day of Access sign-ins
  oscar_emr.remote_access.cloudflare_access_logs:
    since: 24h
  register: access_logs

- name: Everything since the last record the audit store holds (a few minutes of overlap; duplicates are dropped there)
  oscar_emr.remote_access.cloudflare_access_logs:
    since: "2026-11-30T07:50:00Z"
"""

RETURN = r"""
records:
  description: The records, oldest first, once per C(ray_id), each with exactly these keys (missing ones null).
  returned: always
  type: list
  elements: dict
  contains:
    ray_id:
      description: Cloudflare's identifier of the request (the de-duplication key).
      type: str
    created_at:
      description: When it happened (ISO 8601, UTC).
      type: str
    user_email:
      description: Who authenticated (or tried to).
      type: str
    ip_address:
      description: The address they came from.
      type: str
    allowed:
      description: Whether Access let them in.
      type: bool
    action:
      description: The event, such as a login.
      type: str
    app_domain:
      description: The Access application's domain.
      type: str
    app_uid:
      description: The Access application's id.
      type: str
    connection:
      description: The login method (identity provider) used.
      type: str
  sample:
    - ray_id: 8a1b2c3d4e5f6a7b
      created_at: "2026-11-30T08:01:02Z"
      user_email: dr.lee@clinic.example
      ip_address: 198.51.100.7
      allowed: true
      action: login
      app_domain: oscar.clinic.example
      app_uid: df7e2w5f-02b7-4d9d-af26-8d1988fca630
      connection: onetimepin
count:
  description: How many records RV(records) holds.
  returned: always
  type: int
since:
  description: The O(since) used, as ISO 8601 UTC.
  returned: always
  type: str
until:
  description: The O(until) used, as ISO 8601 UTC, or null.
  returned: always
  type: str
newest:
  description: The C(created_at) of the newest record, or null when there are none (the next pull can start there).
  returned: always
  type: str
without_ray_id:
  description: Records left out because they had no C(ray_id).
  returned: always
  type: int
api_requests:
  description: HTTP requests this run made to the Cloudflare API (one read per page; never a write).
  returned: always
  type: dict
  contains:
    reads:
      description: Number of GET requests.
      type: int
      returned: always
    writes:
      description: Number of POST, PUT, PATCH and DELETE requests (always 0 here).
      type: int
      returned: always
    calls:
      description: Each request as C(METHOD path -> HTTP status).
      type: list
      elements: str
      returned: always
"""

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_access_logs import (  # noqa: E402
    AccessLogError,
    iso,
    parse_time,
    pull,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_module import (  # noqa: E402
    CloudflareModule,
)


def main():
    cf = CloudflareModule(dict(
        since=dict(type="str", required=True),
        until=dict(type="str"),
        per_page=dict(type="int", default=100),
    ))
    params = cf.params
    try:
        since = parse_time(params["since"], what="since")
        until = parse_time(params["until"], what="until") if params["until"] else None
    except AccessLogError as error:
        cf.fail(str(error))
    if until is not None and until < since:
        cf.fail("until (%s) is before since (%s)" % (iso(until), iso(since)))
    if not 1 <= params["per_page"] <= 1000:
        cf.fail("per_page must be 1 to 1000; got %d" % params["per_page"])
    records, without_ray_id = cf.call(pull, cf.client, cf.path("access", "logs", "access_requests"), since, until,
                                      params["per_page"])
    if without_ray_id:
        cf.module.warn("%d Access log record(s) had no ray_id and were left out: they cannot be de-duplicated"
                       % without_ray_id)
    newest = records[-1]["created_at"] if records else None
    cf.exit(False, records=records, count=len(records), since=iso(since), until=iso(until) if until else None,
            newest=newest, without_ray_id=without_ray_id)


if __name__ == "__main__":
    main()
