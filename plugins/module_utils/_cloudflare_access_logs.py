# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cloudflare Access authentication logs: the query, the pull and one record's shape.

PRIVATE to this collection: it may change without notice.

``GET /accounts/{account_id}/access/logs/access_requests`` (api-contract.md, "Access authentication
logs"). Records are asked for oldest first (``direction=asc``) so that events arriving while the pages
are read land after the last page instead of shifting the pages already read. Cloudflare's ``ray_id``
names one request: records are de-duplicated by it here, and the gateway's audit store keys them by it.
"""

from __future__ import annotations

import datetime
import re

# The fields of one record that the contract names, in the order the module returns them.
RECORD_FIELDS = ("ray_id", "created_at", "user_email", "ip_address", "allowed", "action", "app_domain", "app_uid",
                 "connection")
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class AccessLogError(ValueError):
    pass


def parse_time(text, now=None, what="since"):
    """An aware UTC datetime from ISO 8601 (``2026-11-30T08:00:00Z``) or a span back from now (``90m``, ``24h``)."""
    text = (text or "").strip()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    relative = _RELATIVE.match(text)
    if relative:
        return now - datetime.timedelta(seconds=int(relative.group(1)) * _UNITS[relative.group(2)])
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AccessLogError("%s must be an ISO 8601 time such as 2026-11-30T08:00:00Z or a span back from now such "
                             "as 24h; got %r" % (what, text)) from None
    if when.tzinfo is None:
        raise AccessLogError("%s must say its time zone (Z or +00:00), since Cloudflare keeps UTC; got %r"
                             % (what, text))
    return when.astimezone(datetime.timezone.utc)


def iso(when):
    """The ISO 8601 UTC form Cloudflare's examples use: ``2026-11-30T08:00:00Z``."""
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def query(since, until=None):
    """The query string of one pull (page and per_page are added by the client's pager)."""
    params = {"since": iso(since), "direction": "asc"}
    if until is not None:
        params["until"] = iso(until)
    return params


def normalise(record):
    """One record with exactly RECORD_FIELDS (missing ones None), or None when it has no ray_id to key it by."""
    if not isinstance(record, dict):
        return None
    ray_id = record.get("ray_id")
    if not isinstance(ray_id, str) or not ray_id.strip():
        return None
    out = dict((name, record.get(name)) for name in RECORD_FIELDS)
    out["ray_id"] = ray_id.strip()
    if out["allowed"] is not None:
        out["allowed"] = bool(out["allowed"])
    return out


def pull(client, path, since, until=None, per_page=100):
    """Every record from ``since`` (to ``until``), oldest first, once per ray_id.

    Returns (records, without_ray_id): the second counts records that could not be keyed (left out).
    """
    records, seen, without_ray_id = [], set(), 0
    for raw in client.list(path, query(since, until), per_page=per_page):
        record = normalise(raw)
        if record is None:
            without_ray_id += 1
            continue
        if record["ray_id"] in seen:
            continue
        seen.add(record["ray_id"])
        records.append(record)
    records.sort(key=lambda r: (r["created_at"] or "", r["ray_id"]))
    return records, without_ray_id
