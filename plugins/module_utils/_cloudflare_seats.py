# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cloudflare Access seats: who the clinics sharing one account can admit, counted once each.

PRIVATE to this collection: it may change without notice. Pure Python on validated access-policy
models (``validate_access_policy``); the cloudflare_access_seats module finds the models.

Anyone who authenticates through Access takes a seat (50 per account on the free plan). The people
a clinic's Cloudflare allow policies can admit are the emails they include, directly or through a
group. A whole email domain, ``everyone`` or an include with no identity at all (a network, a
country, a login method) admits people no inventory lists: those are counted from
``domain_estimates`` when given, and otherwise reported as open-ended, so the count is a lower
bound. Service tokens take no seat.
"""

from __future__ import annotations

FREE_PLAN_SEATS = 50


def admitted(model):
    """``(emails, open_ended)`` for one validated model.

    ``emails`` is the set of addresses its Cloudflare allow policies can admit; ``open_ended`` lists
    ``(policy name, what)`` for the includes that admit people no list names (``what`` is
    ``"email_domain:<domain>"``, ``"everyone"`` or ``"unlisted"``).
    """
    groups = dict((g["name"], g) for g in model.get("groups", []))
    emails = set()
    open_ended = []
    for policy in model.get("policies", []):
        if policy["decision"] != "allow" or "cloudflare" not in policy["targets"]:
            continue
        include = policy["include"]
        named = set(include["emails"])
        domains = list(include["email_domains"])
        for name in include["groups"]:
            group = groups.get(name) or {}
            named.update(group.get("emails") or [])
            domains.extend(group.get("email_domains") or [])
        emails.update(named)
        for domain in domains:
            open_ended.append((policy["name"], "email_domain:%s" % domain))
        if include["everyone"]:
            open_ended.append((policy["name"], "everyone"))
        elif not (named or domains) and any(include[k] for k in ("ip_ranges", "countries", "login_methods",
                                                                 "auth_methods")):
            open_ended.append((policy["name"], "unlisted"))
    return emails, open_ended


def count(clinics, domain_estimates=None):
    """Seats the clinics can use together.

    ``clinics`` maps a clinic's name to its validated model. Returns a dict: ``seats`` (distinct emails
    plus the estimates of the domains no listed email covers), ``emails`` (sorted), ``per_clinic``
    (name -> number of its people), ``estimated`` (domain -> estimate used), ``open_ended`` (list of
    ``{clinic, policy, what}`` that no estimate covers: the count is a lower bound when it is not empty).
    """
    domain_estimates = dict(domain_estimates or {})
    everyone = set()
    per_clinic = {}
    unknown = []
    domains = {}
    for clinic in sorted(clinics):
        emails, open_ended = admitted(clinics[clinic])
        per_clinic[clinic] = len(emails)
        everyone.update(emails)
        for policy, what in open_ended:
            if what.startswith("email_domain:") and what.split(":", 1)[1] in domain_estimates:
                domains.setdefault(what.split(":", 1)[1], set()).add(clinic)
            else:
                unknown.append({"clinic": clinic, "policy": policy, "what": what})
    estimated = dict((domain, int(domain_estimates[domain])) for domain in sorted(domains))
    # An estimate is the domain's whole head count: listed emails of that domain are part of it, not extra.
    listed_elsewhere = set(e for e in everyone if e.rsplit("@", 1)[-1] not in estimated)
    seats = len(listed_elsewhere) + sum(
        max(n, len([e for e in everyone if e.endswith("@" + d)])) for d, n in estimated.items())
    return {"seats": seats, "emails": sorted(everyone), "per_clinic": per_clinic, "estimated": estimated,
            "open_ended": unknown}
