"""What every gateway page shares: rendering in the clinic's frame, the gateway's own URLs, safe return targets,
the CSRF refusal and the "sign in first" answer."""

import re
import secrets
import threading
import time
from collections import OrderedDict
from urllib.parse import quote

from . import front_door, pages, paths, web

# A target as long as nginx accepts in a request line (large_client_header_buffers 8k).
_NEXT_SAFE = re.compile(r"^[\x21-\x7e]{1,8192}$")
# Targets longer than this (%-encoded) are kept here and the URL carries ~<id>: nginx refuses an upstream answer whose
# headers outgrow proxy_buffer_size (4k), so a long query in a sign-in redirect was a 500.
LONG_TARGET = 256
_TARGET_ID = re.compile(r"^~[A-Za-z0-9_-]{22}$")
# Bounded (anonymous visitors make them): the oldest go first, and an unknown id gives the default page.
MAX_TARGETS = 1024
TARGET_SECONDS = 900


class Ui:
    def __init__(self, cfg, store, path_rules, csrf):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.store = store
        self.paths = path_rules
        self.csrf = csrf
        self.origin = "https://" + cfg["public_host"]
        self.prefix = cfg["ui_prefix"]
        self._targets = OrderedDict()
        self._targets_lock = threading.Lock()

    def page(self, title, body, nonce, refresh=None):
        return pages.page(title, body, self.cfg["clinic_name"], nonce, refresh)

    def url(self, page, target, **params):
        """Absolute URL of one of the gateway's pages, with ``next`` (where to go after it) and more parameters."""
        query = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in sorted(params.items()) if v)
        nxt = "next=" + self.target_param(target)
        return "%s%s/%s?%s" % (self.origin, self.prefix, page, nxt + ("&" + query if query else ""))

    def target_param(self, target):
        """``target`` for a ``next`` parameter: %-encoded when short, else the id under which it is kept here."""
        quoted = quote(target, safe="")
        if len(quoted) <= LONG_TARGET:
            return quoted
        token = "~" + secrets.token_urlsafe(16)
        with self._targets_lock:
            self._targets[token] = (time.monotonic(), target)
            while len(self._targets) > MAX_TARGETS:
                self._targets.popitem(last=False)
        return token

    def _kept_target(self, token):
        with self._targets_lock:
            entry = self._targets.get(token)
        if entry is None or time.monotonic() - entry[0] > TARGET_SECONDS:
            return ""
        return entry[1]

    def next_path(self, value):
        """A safe same-host target: a canonical path on this host, never a gateway page."""
        default = self.cfg["default_path"]
        if value and _TARGET_ID.match(value):
            value = self._kept_target(value)
        if not value or not _NEXT_SAFE.match(value) or not value.startswith("/") or value.startswith("//"):
            return default
        if "\\" in value or "#" in value:
            return default
        try:
            decision = self.paths.normalize_url(self.origin + value)
        except paths.PathRejected:
            return default
        if decision == self.prefix + "/approvals":
            return value  # the one gateway page a sign-in may return to: the link in the approvers' mail opens it
        if decision == self.prefix or decision.startswith(self.prefix + "/") or decision == front_door.AUTH_PATH:
            return default
        return value

    def csrf_failed(self, request, nonce, form_name):
        self.store.audit("csrf_rejected", ip=request.client_ip() or "", method=request.method,
                         path=request.path, form=form_name)
        return 403, self.page("Request refused", pages.message(
            "This form expired or did not come from this site. Please try again.", self.prefix + "/login",
            "Back to sign-in"), nonce), []

    def need_login(self, request, nonce, back=None):
        """Send a visitor who is not signed in to the sign-in page, then to the ``next`` parameter's target (or
        ``back``, a path of this page to come back to)."""
        if self.mode == "cloudflare":
            return 403, self.page("Access denied", pages.message("A valid Cloudflare Access sign-in is required."),
                                  nonce), []
        target = self.target_param(self.next_path(back or request.arg("next")))
        return web.redirect(self.origin + self.prefix + "/login?next=" + target)
