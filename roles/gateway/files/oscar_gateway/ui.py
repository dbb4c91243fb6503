"""What every gateway page shares: rendering in the clinic's frame, the gateway's own URLs, safe return targets,
the CSRF refusal and the "sign in first" answer."""

import re
from urllib.parse import quote

from . import pages, paths, web

_NEXT_SAFE = re.compile(r"^[\x21-\x7e]{1,2048}$")


class Ui:
    def __init__(self, cfg, store, path_rules, csrf):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.store = store
        self.paths = path_rules
        self.csrf = csrf
        self.origin = "https://" + cfg["public_host"]
        self.prefix = cfg["ui_prefix"]

    def page(self, title, body, nonce, refresh=None):
        return pages.page(title, body, self.cfg["clinic_name"], nonce, refresh)

    def url(self, page, target, **params):
        """Absolute URL of one of the gateway's pages, with ``next`` (where to go after it) and more parameters."""
        query = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in sorted(params.items()) if v)
        nxt = "next=" + quote(target, safe="")
        return "%s%s/%s?%s" % (self.origin, self.prefix, page, nxt + ("&" + query if query else ""))

    def next_path(self, value):
        """A safe same-host target: a canonical path on this host, never a gateway page."""
        default = self.cfg["default_path"]
        if not value or not _NEXT_SAFE.match(value) or not value.startswith("/") or value.startswith("//"):
            return default
        if "\\" in value or "#" in value:
            return default
        try:
            decision = self.paths.normalize_url(self.origin + value)
        except paths.PathRejected:
            return default
        if decision == self.prefix or decision.startswith(self.prefix + "/") or decision == "/auth":
            return default
        return value

    def csrf_failed(self, request, nonce, form_name):
        self.store.audit("csrf_rejected", ip=request.client_ip() or "", method=request.method,
                         path=request.path, form=form_name)
        return 403, self.page("Request refused", pages.message(
            "This form expired or did not come from this site. Please try again.", self.prefix + "/login",
            "Back to sign-in"), nonce), []

    def need_login(self, request, nonce):
        if self.mode == "cloudflare":
            return 403, self.page("Access denied", pages.message("A valid Cloudflare Access sign-in is required."),
                                  nonce), []
        target = quote(self.next_path(request.arg("next")), safe="")
        return web.redirect(self.origin + self.prefix + "/login?next=" + target)
