# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every cloudflare_* module shares: options, the client, by-name lookups, diff and exit.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._access_policy import AccessPolicyError
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (
    DEFAULT_BASE_URL,
    DEFAULT_RATE_LIMIT_WAIT,
    CloudflareAPIError,
    CloudflareClient,
    account_path,
)

REDACTED = "********"
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")

# kind -> (collection under /accounts/<id>/access, human name)
LOOKUP_KINDS = {
    "group": ("groups", "Access group"),
    "login_method": ("identity_providers", "identity provider (login method)"),
    "service_token": ("service_tokens", "service token"),
    "policy": ("policies", "reusable Access policy"),
}


def cloudflare_argument_spec():
    """The options every module of the ``cloudflare`` action group takes (see the doc fragment)."""
    return dict(
        api_token=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["CLOUDFLARE_API_TOKEN"])),
        account_id=dict(type="str", required=True, fallback=(env_fallback, ["CLOUDFLARE_ACCOUNT_ID"])),
        api_base_url=dict(type="str", default=DEFAULT_BASE_URL, fallback=(env_fallback, ["CLOUDFLARE_API_BASE_URL"])),
        api_timeout=dict(type="int", default=30),
        api_retries=dict(type="int", default=5),
        api_rate_limit_wait=dict(type="int", default=DEFAULT_RATE_LIMIT_WAIT),
        validate_certs=dict(type="bool", default=True),
    )


def redact(value, keys):
    """A copy of ``value`` with the values of ``keys`` (at any depth) replaced by ``********``."""
    if isinstance(value, dict):
        return dict((k, REDACTED if k in keys and v not in (None, "") else redact(v, keys)) for k, v in value.items())
    if isinstance(value, list):
        return [redact(v, keys) for v in value]
    return value


class CloudflareModule:
    """An AnsibleModule with a Cloudflare client and the by-name reconcile helpers."""

    def __init__(self, argument_spec, **kwargs):
        spec = cloudflare_argument_spec()
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.account_id = self.params["account_id"].strip()
        if not _ACCOUNT_ID.match(self.account_id):
            self.fail("account_id must be the 32-character hexadecimal Cloudflare account ID (dashboard: Account home, "
                      "or the URL after dash.cloudflare.com/); got %r" % self.params["account_id"])
        base = self.params["api_base_url"]
        parsed = urlparse(base or "")
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            self.fail("api_base_url must be an https:// URL such as %s; got %r" % (DEFAULT_BASE_URL, base))
        if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
            self.fail("api_base_url may use plain http:// only on a loopback address (a test double); the API token "
                      "would otherwise travel in clear text: %r" % base)
        if self.params["api_timeout"] < 1:
            self.fail("api_timeout must be at least 1 second")
        if self.params["api_retries"] < 0:
            self.fail("api_retries must be 0 or more")
        if self.params["api_rate_limit_wait"] < 0:
            self.fail("api_rate_limit_wait must be 0 or more seconds")
        self.client = CloudflareClient(
            self.params["api_token"], base_url=base, timeout=self.params["api_timeout"],
            max_retries=self.params["api_retries"], validate_certs=self.params["validate_certs"],
            rate_limit_wait=self.params["api_rate_limit_wait"])
        self._lookups = {}
        self.warnings = []

    # -- results ----------------------------------------------------------------------------

    def api_requests(self):
        return {"reads": self.client.reads, "writes": self.client.writes,
                "calls": ["%s %s -> %s" % entry for entry in self.client.log]}

    def _warn_rate_limited(self):
        waits = self.client.rate_limit_waits
        if waits:
            self.module.warn("Cloudflare rate-limited this API token (HTTP 429) %d time(s); waited %d s in all, as its "
                             "Retry-After asked. Its global limit is 1200 requests per 5 minutes per token: run fewer "
                             "clinics at once with the same token." % (len(waits), round(sum(waits))))

    def fail(self, msg, **kwargs):
        client = getattr(self, "client", None)
        if client is not None:
            kwargs.setdefault("api_requests", self.api_requests())
            self._warn_rate_limited()
        self.module.fail_json(msg=msg, **kwargs)

    def exit(self, changed, before=None, after=None, **result):
        if self.module._diff:
            result["diff"] = {"before": before if before is not None else {},
                              "after": after if after is not None else {}}
        result["api_requests"] = self.api_requests()
        self._warn_rate_limited()
        self.module.exit_json(changed=changed, **result)

    def invalid(self, error, root="args"):
        """Fail on an AccessPolicyError with its path-qualified message (without the ``args.`` root)."""
        message, where = str(error), error.path
        if message.startswith(root + "."):
            message = message[len(root) + 1:]
        if where.startswith(root + "."):
            where = where[len(root) + 1:]
        self.fail("invalid argument: %s" % message, argument=where)

    # -- API --------------------------------------------------------------------------------

    def path(self, *parts):
        return account_path(self.account_id, *parts)

    def call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except CloudflareAPIError as error:
            self.fail(str(error), status=error.status, cloudflare_errors=error.errors)
        return None  # pragma: no cover - fail() exits

    def list(self, path, query=None):
        return self.call(self.client.list, path, query)

    def find_by_name(self, collection, name, what, query=None, keep=None):
        """The one object of ``collection`` (under the account) named ``name``, or None.

        Cloudflare allows several objects with the same name; this collection manages them by
        name, so more than one match is an error that names the ids to clean up.
        """
        items = self.list(self.path(*collection.split("/")), query)
        matches = [item for item in items if item.get("name") == name and (keep is None or keep(item))]
        if len(matches) > 1:
            self.fail("%d objects of kind %s are named %r (ids: %s). These modules manage objects by name and cannot "
                      "tell them apart: delete or rename the extras in the Cloudflare dashboard."
                      % (len(matches), what, name, ", ".join(str(m.get("id")) for m in matches)))
        return matches[0] if matches else None

    # -- name <-> id lookups for rules ------------------------------------------------------

    def lookup(self, kind):
        """``{name: [ids]}`` and ``{id: name}`` for a kind of Access object, read once per run."""
        if kind not in self._lookups:
            collection = LOOKUP_KINDS[kind][0]
            items = self.list(self.path("access", collection))
            by_name = {}
            by_id = {}
            for item in items:
                by_name.setdefault(item.get("name"), []).append(item.get("id"))
                by_id[item.get("id")] = item.get("name")
            self._lookups[kind] = (by_name, by_id)
        return self._lookups[kind]

    def resolve(self, kind, name, where):
        """The id of the ``kind`` object named ``name``; fails with the argument path if unknown."""
        by_name = self.lookup(kind)[0]
        ids = by_name.get(name) or []
        what = LOOKUP_KINDS[kind][1]
        if not ids:
            raise AccessPolicyError(where, name, "does not name an existing %s in the account" % what)
        if len(ids) > 1:
            raise AccessPolicyError(where, name, "names %d %ss (ids: %s); rename or delete the extras"
                                    % (len(ids), what, ", ".join(ids)))
        return ids[0]

    def reverse(self, kind, object_id):
        by_id = self.lookup(kind)[1]
        return by_id.get(object_id)

    def missing_names(self, kind, names):
        by_name = self.lookup(kind)[0]
        return [n for n in names if n not in by_name]


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rule_kinds(rules):
    """Lookup kinds a human rule set refers to."""
    kinds = set()
    if rules.get("groups"):
        kinds.add("group")
    if rules.get("login_methods"):
        kinds.add("login_method")
    if rules.get("service_tokens"):
        kinds.add("service_token")
    return kinds


def api_rule_kinds(rules):
    """Lookup kinds a Cloudflare rule list refers to by id."""
    kinds = set()
    for rule in rules or []:
        if isinstance(rule, dict):
            if "group" in rule:
                kinds.add("group")
            if "login_method" in rule:
                kinds.add("login_method")
            if "service_token" in rule:
                kinds.add("service_token")
    return kinds
