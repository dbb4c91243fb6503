# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The gateway role's rules on the controller, beyond the gateway's own configuration schema (``_gateway_config.py``,
which the gateway's loader runs on the host too): the access policy through the collection's one validator, the
accounts it cannot reach or names wrongly, how many accounts a run may disable, and the host name the gateway answers
for. Run by the ``gateway_validate`` action plugin (``roles/gateway/tasks/validate.yml``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import ipaddress
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import (
    IDP_SECRET_KEYS,
    AccessPolicyError,
    gateway_allow_policies_for,
    gateway_mode_errors,
    shadowed_deny_warnings,
    validate_access_policy,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._expiry import parse_date
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._gateway_config import check_config, role_variable
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import (
    did_you_mean,
    is_hostname,
    is_int,
    show,
)

REDACTED = "********"
# The off-box copy's settings (not in the gateway's configuration: rsyslog uses them), by role variable.
AUDIT_SYSLOG_VARIABLES = ("gateway_audit_syslog_host", "gateway_audit_syslog_port", "gateway_audit_syslog_ca",
                          "gateway_audit_syslog_peer", "gateway_audit_syslog_queue_max",
                          "gateway_audit_syslog_retry_seconds")
_RSYSLOG_SIZE = re.compile(r"^[1-9][0-9]*[kmg]?$")
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def reach_warnings(model, cfg, policy_variable, users_variable):
    """Enabled accounts that no allow policy of the gateway admits: they could sign in and reach nothing, which a
    clinic finds out from a locked-out physician unless it is said here."""
    warnings = []
    for index, user in enumerate(cfg.get("users") or []):
        if not isinstance(user, dict) or user.get("enabled", True) is False:
            continue
        if not gateway_allow_policies_for(model, cfg.get("mode"), user.get("username", ""), user.get("email", ""),
                                          user.get("role", "")):
            warnings.append("%s[%d] (%s, %s): no allow policy of %s that the gateway applies includes this account "
                            "(by email, email domain, group, user or role), so it can sign in but reach nothing"
                            % (users_variable, index, user.get("username"), user.get("email") or "no email",
                               policy_variable))
    return warnings


def unknown_user_errors(model, cfg, policy_variable, users_variable):
    """Users a policy the gateway applies names that are neither a gateway account nor a user of the policy model: the
    model checks its own users only when it lists some, and a misspelt name would make the policy silently match
    nobody (an allow letting no one in, a deny or exclude stopping no one)."""
    known = set(u.get("username") for u in cfg.get("users") or [] if isinstance(u, dict))
    known.update(u["name"] for u in model.get("users") or [])
    errors = []
    for index, policy in enumerate(model["policies"]):
        if "gateway" not in policy["targets"]:
            continue
        for clause in ("include", "require", "exclude"):
            for position, name in enumerate(policy[clause]["users"]):
                if name not in known:
                    errors.append("%s.policies[%d].%s.users[%d]: %s (policy %s) is neither an account in %s nor a user "
                                  "in %s.users, so the policy never matches it%s" % (
                                      policy_variable, index, clause, position, show(name), show(policy["name"]),
                                      users_variable, policy_variable, did_you_mean(name, known)))
    return errors


def accounts_disabled(cfg, current_users):
    """(usernames this configuration disables, number enabled now), as the gateway's sync does when it loads the
    configuration (roles/gateway/files/oscar_gateway/app.py, sync_users): an account the inventory lists with
    enabled: false, and in standalone mode an inventory account the inventory no longer lists."""
    enabled_now = dict((row["username"], row.get("source")) for row in current_users
                       if row.get("enabled") and not row.get("admin_disabled"))
    listed = dict((u.get("username"), u) for u in cfg.get("users") or [] if isinstance(u, dict))
    disabled = [name for name in enabled_now if name in listed and listed[name].get("enabled", True) is False]
    if cfg.get("mode") == "standalone":
        disabled += [name for name, source in enabled_now.items() if source == "inventory" and name not in listed]
    return sorted(disabled), len(enabled_now)


def mass_disable(cfg, args, problems, users_variable):
    """Refuse a run that disables more than the set share of the enabled accounts without consent (a one-letter typo,
    gateway_user: for gateway_users:, once signed every member of staff out and locked them out); say which accounts a
    run disables, in its output."""
    if args["current_users"] is None:  # no database yet: nothing to disable
        return
    share = args["disable_max_share"]
    if not 0 <= share <= 1:
        problems.add("gateway_users_disable_max_share", "%s is not a share between 0 and 1" % show(share))
        return
    disabled, enabled = accounts_disabled(cfg, args["current_users"])
    if not disabled:
        return
    allowed = max(1, int(share * enabled))
    names = ", ".join(disabled)
    if len(disabled) > allowed and not args["allow_mass_disable"]:
        problems.add(users_variable, "this run would disable %d of the %d enabled accounts (%s) and end their "
                     "sessions, more than gateway_users_disable_max_share (%s) allows; check %s (a misspelt or "
                     "empty list disables everyone), or if this is meant set gateway_users_allow_mass_disable: true "
                     "for this run"
                     % (len(disabled), enabled, names, share, users_variable))
        return
    problems.warn(users_variable, "this run disables %d account(s) and ends their sessions: %s"
                  % (len(disabled), names))


def domain_mismatch(model, cfg, policy_variable):
    """In cloudflare mode the gateway accepts only requests for gateway_public_host, and Cloudflare Access sends
    only those for the application's domain: two different names would let nobody in."""
    domain, host = model["application"]["domain"].lower(), cfg.get("public_host")
    if cfg.get("mode") == "cloudflare" and isinstance(host, str) and host and host.lower() != domain:
        return ("gateway_public_host: %r is not %s.application.domain (%r); in cloudflare mode both name the host "
                "Cloudflare Access protects" % (host.lower(), policy_variable, domain))
    return None


def front_door_name_mismatch(cfg, server_names):
    """gateway_public_host follows nginx_server_names[0], the front door's canonical name (certificates and HTTP
    redirects use it); set apart, the two would let nobody in: the gateway refuses every other host name."""
    host = cfg.get("public_host")
    if not isinstance(server_names, list) or not server_names or not isinstance(host, str) or not host:
        return None
    canonical = str(server_names[0]).strip().lower().rstrip(".")
    if host.strip().lower().rstrip(".") == canonical:
        return None
    return ("gateway_public_host: %r is not nginx_server_names[0] (%r), the name the front door sends everyone to, "
            "and the gateway refuses requests for any other name; leave gateway_public_host unset (it follows "
            "nginx_server_names[0]) or put the name first in nginx_server_names" % (host, canonical))


def mail_login_problems(cfg, args, problems):
    """The relay's login comes as a pair: a user name without a password (or the reverse) would fail at every
    attempt, and a password set while no relay is would be installed for nothing."""
    mail = cfg.get("mail") or {}
    has_user, has_password = bool(mail.get("credentials_file")), bool(args.get("mail_password_set"))
    if has_user and not has_password:
        problems.add("gateway_mail_password", "is empty while gateway_mail_username is set; put the relay's password "
                     "in Vault")
    elif has_password and not has_user:
        problems.add("gateway_mail_username", "is empty while gateway_mail_password is set")
    if (has_user or has_password) and not mail.get("relay_host"):
        problems.add("gateway_mail_relay_host", "is empty while the relay's login is set")


def redact_login_method_secrets(policy):
    """The gateway never uses identity-provider secrets: keep them out of its configuration file."""
    out = copy.deepcopy(policy)
    for method in out.get("login_methods") or []:
        if isinstance(method, dict) and isinstance(method.get("config"), dict):
            for key in IDP_SECRET_KEYS:
                if key in method["config"]:
                    method["config"][key] = REDACTED
    return out


def check_audit_syslog(settings, problems):
    """The off-box copy's role variables (``settings`` maps each of AUDIT_SYSLOG_VARIABLES to its value)."""
    host = settings.get("gateway_audit_syslog_host") or ""
    if not host:
        return problems
    if not isinstance(host, str) or (not is_hostname(host.rstrip(".")) and not _is_address(host)):
        problems.add("gateway_audit_syslog_host", "%s is not a host name or an IP address" % show(host))
    port = settings.get("gateway_audit_syslog_port")
    if not is_int(port) or not 1 <= port <= 65535:
        problems.add("gateway_audit_syslog_port", "%s is not a TCP port (1-65535; syslog over TLS: 6514)" % show(port))
    ca = settings.get("gateway_audit_syslog_ca") or ""
    if not isinstance(ca, str) or not _PEM_CERTIFICATE.search(ca):
        problems.add("gateway_audit_syslog_ca", "must be the PEM certificate of the CA that signed the receiver's "
                     "certificate (-----BEGIN CERTIFICATE-----...), so the copy goes only to that receiver")
    peer = settings.get("gateway_audit_syslog_peer") or ""
    if peer and (not isinstance(peer, str) or (not is_hostname(peer.lstrip("*.")) and not _is_address(peer))):
        problems.add("gateway_audit_syslog_peer", "%s is not a name a certificate carries" % show(peer))
    size = settings.get("gateway_audit_syslog_queue_max")
    if not isinstance(size, str) or not _RSYSLOG_SIZE.match(size.lower()):
        problems.add("gateway_audit_syslog_queue_max", "%s is not a size like 512m or 1g" % show(size))
    retry = settings.get("gateway_audit_syslog_retry_seconds")
    if not is_int(retry) or not 1 <= retry <= 3600:
        problems.add("gateway_audit_syslog_retry_seconds", "%s is not a whole number of seconds from 1 to 3600"
                     % show(retry))
    return problems


def _is_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def gateway_problems(args, problems, server_names=None):
    """Record in ``problems`` every problem of the gateway role's inputs ``args`` (the action's arguments: config,
    policy_variable, users_variable, current_users, disable_max_share, allow_mass_disable, today, audit_syslog);
    ``server_names`` is nginx_server_names when the inventory sets it. Returns ``(config, warnings)``: the
    configuration to write (login methods' secrets redacted; None when there are problems) and the warnings (None
    when the policy is invalid)."""
    cfg = copy.deepcopy(args["config"])
    warnings = None
    try:
        model = validate_access_policy(cfg.get("access_policy"), name=args["policy_variable"])
    except AccessPolicyError as exc:
        problems.errors.append(str(exc))
    else:
        problems.errors.extend(gateway_mode_errors(model, cfg.get("mode"), name=args["policy_variable"]))
        warnings = reach_warnings(model, cfg, args["policy_variable"], args["users_variable"])
        warnings += shadowed_deny_warnings(model, args["policy_variable"])
        problems.errors.extend(unknown_user_errors(model, cfg, args["policy_variable"], args["users_variable"]))
        domain_error = domain_mismatch(model, cfg, args["policy_variable"])
        if domain_error:
            problems.errors.append(domain_error)
    if server_names is not None:
        name_error = front_door_name_mismatch(cfg, server_names)
        if name_error:
            problems.errors.append(name_error)
    mass_disable(cfg, args, problems, args["users_variable"])
    check_audit_syslog(args.get("audit_syslog") or {}, problems)
    mail_login_problems(cfg, args, problems)
    # The gateway's own schema, the one its loader runs on the host, naming the role variables; with the accounts
    # on the gateway now and the host's date, a new account that has already expired is refused (expires).
    today = parse_date(args.get("today")) or datetime.date.today()
    existing = [row.get("username") for row in args.get("current_users") or []]
    check_config(cfg, problems, lambda key: args["users_variable"] + key[5:] if key.startswith("users")
                 else role_variable(key), today=today, existing=existing)
    if problems:
        return None, warnings
    for user in cfg.get("users") or []:
        # An unquoted YAML date reaches here as a date: the configuration file holds the ISO text.
        if parse_date(user.get("expires")):
            user["expires"] = parse_date(user["expires"]).isoformat()
    cfg["access_policy"] = redact_login_method_secrets(cfg["access_policy"])
    return cfg, warnings
