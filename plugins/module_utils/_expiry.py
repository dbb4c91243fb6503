# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""When an account stops working: the ``expires`` date of a WireGuard peer and of a gateway account, one rule for both.

``expires`` is a date (YYYY-MM-DD, or a date YAML already parsed): the first day the account no longer works, so it is
expired once that day has come (``expires <= today``, today on the host). A new account (a peer never issued, a
gateway account not yet on the gateway) whose date has already come could never work: that is an input error, most
likely the year. The fleet report lists accounts expiring within a number of days.

Used by the WireGuard model (``_wireguard.py``), the gateway's schema (``_gateway_config.py``, which the gateway role
copies next to the gateway with this file, so the gateway enforces expiry with this same rule) and the patch role's
report filter (``_patch_plan.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value):
    """The date of an ``expires`` value, or None when it is not a date (YYYY-MM-DD)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and DATE_RE.match(value.strip()):
        try:
            return datetime.datetime.strptime(value.strip(), "%Y-%m-%d").date()
        except ValueError:
            return None
    return None


def is_set(value):
    return value not in (None, "")


def not_a_date(value):
    """The problem with an ``expires`` value, or None when it is unset or a date."""
    if is_set(value) and parse_date(value) is None:
        return "%r is not a date YYYY-MM-DD" % (value,)
    return None


def is_expired(expires, today):
    """Whether an account with this ``expires`` (a date, a date string or unset) no longer works on ``today``."""
    date = parse_date(expires) if is_set(expires) else None
    return date is not None and date <= today


def expired_when_new(value, today, noun, new):
    """The error for a new account whose expiry date has already come (``new`` says why it is new)."""
    return ("%r is not after today (%s on the host) and this %s %s, so it would never work; correct the date (the "
            "year?) or leave the %s out" % (value, today.isoformat(), noun, new, noun))


def expiring(accounts, days=14, today=None, name_key="name"):
    """Enabled accounts whose ``expires`` falls within ``days`` from today, or has passed:
    ``[{"name", "expires", "days_left"}]`` (days_left negative once expired)."""
    today = today or datetime.date.today()
    found = []
    for account in accounts or []:
        if not isinstance(account, dict) or account.get("enabled") is False:
            continue
        date = parse_date(account.get("expires"))
        if date is None:
            continue
        left = (date - today).days
        if left <= days:
            found.append({"name": account.get(name_key), "expires": date.isoformat(), "days_left": left})
    return found
