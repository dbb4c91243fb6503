# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The access gateway's configuration schema: one set of rules for the controller and the gateway.

The gateway role's check (``plugins/action/gateway_validate.py``) runs ``check_config`` on the controller, naming each
problem by its role variable through ``ROLE_VARIABLES``; the gateway's own loader (``oscar_gateway/config.py``) runs
the same function on the host, naming the configuration key. So an input the role accepts is one the gateway accepts:
the two used to drift (a role named ``front desk`` passed the controller and stopped the gateway on the host).

The gateway role copies this file and ``_problems.py`` next to the gateway (``__gateway_shared_modules``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ._expiry import expired_when_new, is_expired, not_a_date
from ._problems import IDENTIFIER_RE, Problems, is_hostname, is_int, parse_email, show

MODES = ("cloudflare", "standalone")
USER_KEYS = ("username", "display_name", "email", "role", "enabled", "password_hash", "expires")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TEAM_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.cloudflareaccess\.com$")
# Cloudflare gives every Access application one AUD tag: 64 hexadecimal characters.
AUD_RE = re.compile(r"^[0-9a-f]{64}$")

# The one table from a configuration key (the file the role writes, roles/gateway/vars/main.yml __gateway_config) to
# the role variable it comes from; the controller's messages name the variable, the gateway's the key.
ROLE_VARIABLES = {
    "mode": "gateway_mode",
    "clinic_name": "gateway_clinic_name",
    "public_host": "gateway_public_host",
    "users": "gateway_users",
    "cloudflare.team_domain": "gateway_cloudflare_team_domain",
    "cloudflare.aud": "gateway_cloudflare_aud",
    "cloudflare.service_tokens": "gateway_cloudflare_service_tokens",
    "decision_cache.max_age_seconds": "gateway_decision_cache_ttl",
    "login.max_failures": "gateway_login_max_failures",
    "login.max_failures_per_address": "gateway_login_max_failures_per_address",
    "audit.retention_days": "gateway_audit_retention_days",
    "audit.disk_warn_days": "gateway_audit_disk_warn_days",
}
# Retention: at least a year (nobody's law asks for less), at most a century (a typo of days for years).
RETENTION_DAYS = (365, 36525)


def config_key(key):
    """Names a problem by its configuration key (the gateway's own loader)."""
    return key


def role_variable(key):
    """Names a problem by the role variable (the controller), ``users[2].email`` as ``gateway_users[2].email``."""
    head, sep, rest = key.partition("[")
    if sep and head in ROLE_VARIABLES:
        return ROLE_VARIABLES[head] + sep + rest
    return ROLE_VARIABLES.get(key, key)


def check_users(users, problems, name=config_key, today=None, existing=None):
    """The users' problems. ``existing`` (the usernames already on the gateway, with ``today`` on its host; the role's
    check reads both there) makes an account that is new and already expired an error: it could never sign in."""
    seen = set()
    for _index, where, user in problems.entries(name("users"), users, USER_KEYS, "must be a list of mappings"):
        username = user.get("username")
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            problems.add(where + ".username", "%s is not lower-case letters, digits, '.', '_' or '-'" % show(username))
        elif username in seen:
            problems.add(where + ".username", "%s is listed twice" % show(username))
        else:
            seen.add(username)
        email = user.get("email", "")
        if email:
            problems.check(parse_email, where + ".email", email)
        role = user.get("role", "")
        if role and (not isinstance(role, str) or not IDENTIFIER_RE.match(role)):
            # The access policy's rule for the roles it names (include.roles): one word of letters, digits, '.', '_',
            # '@', '+' or '-', so that every role an account can have is one a policy can name.
            problems.add(where + ".role", "%s is not a role name (letters, digits, '.', '_', '@', '+' or '-', no "
                         "spaces)" % show(role))
        if "enabled" in user and not isinstance(user["enabled"], bool):
            problems.add(where + ".enabled", "%s is not true or false" % show(user["enabled"]))
        expires = user.get("expires")
        if not_a_date(expires):
            problems.add(where + ".expires", not_a_date(expires))
        elif existing is not None and today is not None and is_expired(expires, today) \
                and user.get("username") not in existing:
            problems.add(where + ".expires", expired_when_new(expires, today, "account", "is not on the gateway yet"))
        password_hash = user.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str)
                                          or not password_hash.startswith("$argon2id$")):
            problems.add(where + ".password_hash", "must be an argon2id hash ($argon2id$...); the value is not shown")


def aud_tags(value):
    """The AUD tags as a list (the role accepts one tag as a string)."""
    return [value] if isinstance(value, str) else value


def check_config(cfg, problems=None, name=config_key, today=None, existing=None):
    """Record every problem of the gateway's configuration ``cfg`` (a mapping as the role writes it); returns
    ``problems``. ``today`` and ``existing``: see check_users (the role's check; the gateway's loader gives neither, as
    an account that expired since is simply expired)."""
    problems = Problems() if problems is None else problems
    if cfg.get("mode") not in MODES:
        problems.add(name("mode"), "%s is not 'standalone' or 'cloudflare'" % show(cfg.get("mode")))
    clinic = cfg.get("clinic_name")
    if not isinstance(clinic, str) or not clinic.strip():
        problems.add(name("clinic_name"), "must be set (shown on every page and in authenticator apps)")
    host = cfg.get("public_host")
    if not isinstance(host, str) or host != host.lower().strip().rstrip(".") or not is_hostname(host):
        problems.add(name("public_host"), "%s is not a lower-case host name without scheme or port" % show(host))
    cloudflare = cfg.get("cloudflare") or {}
    if cfg.get("mode") == "cloudflare":
        team = cloudflare.get("team_domain")
        if not isinstance(team, str) or not TEAM_RE.match(team):
            problems.add(name("cloudflare.team_domain"), "%s is not like <team>.cloudflareaccess.com" % show(team))
        aud = aud_tags(cloudflare.get("aud"))
        if not isinstance(aud, list) or not aud or not all(isinstance(a, str) and AUD_RE.match(a) for a in aud):
            problems.add(name("cloudflare.aud"), "%s is not one or more Access application AUD tags (64 hexadecimal "
                         "characters)" % show(cloudflare.get("aud")))
    ttl = (cfg.get("decision_cache") or {}).get("max_age_seconds", 0)
    if not is_int(ttl) or not 0 <= ttl <= 60:
        problems.add(name("decision_cache.max_age_seconds"), "%s is not a whole number of seconds from 0 to 60"
                     % show(ttl))
    login = cfg.get("login") or {}
    per_user, per_address = login.get("max_failures"), login.get("max_failures_per_address")
    if is_int(per_user) and is_int(per_address) and per_address < per_user:
        problems.add(name("login.max_failures_per_address"), "%r is less than %s (%r); a shared address "
                     "(masquerading WireGuard gateway, office NAT) would be banned before the user"
                     % (per_address, name("login.max_failures"), per_user))
    audit = cfg.get("audit") or {}
    retention = audit.get("retention_days", RETENTION_DAYS[0])
    if not is_int(retention) or not RETENTION_DAYS[0] <= retention <= RETENTION_DAYS[1]:
        problems.add(name("audit.retention_days"), "%s is not a whole number of days from %d (a year) to %d"
                     % ((show(retention), *RETENTION_DAYS)))
    warn = audit.get("disk_warn_days", 1)
    if not is_int(warn) or not 1 <= warn <= 3650:
        problems.add(name("audit.disk_warn_days"), "%s is not a whole number of days from 1 to 3650" % show(warn))
    check_users(cfg.get("users", []), problems, name, today, existing)
    return problems
