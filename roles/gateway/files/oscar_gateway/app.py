"""The WSGI application: builds the gateway's parts from the configuration and routes requests to them.

``/auth`` is nginx's ``auth_request`` (``decision_endpoint``), ``/healthz`` the local health answer, and the pages
under ``ui_prefix`` are sign-in (``signin``) and justification and approvals (``approvals``). See README.md for
the full contract.
"""

import json
import secrets
import traceback

from . import (
    _shared,
    approvals,
    cfaccess,
    decision_endpoint,
    front_door,
    identity,
    outbox,
    pages,
    passkeys,
    paths,
    security,
    signin,
    store,
    ui,
    web,
)


class Gateway:
    def __init__(self, cfg, keys, db=None):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.session_key = keys["session_key"]
        self.box = security.SecretBox(keys["data_key"])
        self.store = db or store.Store(cfg["database"], cfg["audit_jsonl"], log=web.log)
        self.paths = paths.PathRules(cfg["oscar_context"], cfg["extra_blocked_paths"])
        self.evaluator = _shared.access_policy_module().Evaluator(cfg["access_policy"])
        login = cfg["login"]
        self.passwords = security.Passwords(**login["argon2"])
        self.regulation = security.Regulation(
            self.store, login["max_failures"], login["find_seconds"], login["ban_seconds"], login["ban_max_seconds"],
            max_failures_per_address=login["max_failures_per_address"])
        self.verifier = None
        service_token_ids = {}
        if self.mode == "cloudflare":
            cf = cfg["cloudflare"]
            keyset = cfaccess.KeySet(cf["certs_url"], cf["jwks_ttl_seconds"], cf["jwks_min_refetch_seconds"],
                                     cf["jwks_timeout_seconds"], log=web.log)
            self.verifier = cfaccess.Verifier(cf["issuer"], cf["aud"], keyset, cf["leeway_seconds"])
            for name, client_id in cf["service_tokens"].items():
                service_token_ids.setdefault(client_id, set()).add(name)

        tokens = web.SignedTokens(self.session_key)
        self.ui = ui.Ui(cfg, self.store, self.paths, web.Csrf(self.session_key, "https://" + cfg["public_host"],
                                                              front_door.CSRF_COOKIE))
        self.identities = identity.Identities(cfg, self.store, self.evaluator, tokens, front_door.SESSION_COOKIE,
                                              self.verifier, service_token_ids)
        self.decision = decision_endpoint.DecisionEndpoint(cfg, self.store, self.paths, self.evaluator,
                                                           self.identities, self.ui)
        sign_in = signin.SignIn(cfg, self.store, self.ui, self.identities, self.passwords, self.regulation, self.box,
                                tokens, self.session_key, front_door.LOGIN_COOKIE)
        passkey_pages = passkeys.Passkeys(cfg, self.store, self.ui, self.identities, self.regulation, sign_in)
        sign_in.passkeys = passkey_pages
        self.outbox = outbox.Outbox(cfg, self.store)
        access = self.approvals = approvals.Approvals(cfg, self.store, self.ui, self.identities,
                                                      {p["name"]: p for p in cfg["access_policy"]["policies"]},
                                                      self.outbox)
        self.sync_users()
        prefix = cfg["ui_prefix"]
        self.routes = {
            prefix + "/login": sign_in.login,
            prefix + "/mfa": sign_in.mfa,
            prefix + "/enroll": sign_in.enroll,
            prefix + "/passkey": passkey_pages.sign_in_page,
            prefix + "/passkeys": passkey_pages.manage,
            prefix + "/justify": access.justify,
            prefix + "/approval": access.request_page,
            prefix + "/approvals": access.approvers_page,
            prefix + "/logout": sign_in.logout,
            prefix: self.page_home,
            prefix + "/": self.page_home,
        }

    def sync_users(self):
        """Make the users table follow the inventory; users dropped from it (standalone mode) or disabled there are
        disabled and their sessions revoked."""
        self.store.sync_users(self.cfg["users"], disable_unlisted=self.mode == "standalone")

    def revoke_sessions(self, username=None, reason="revoked", by="system"):
        return self.store.revoke_sessions(reason, by, username)

    def page_home(self, request, nonce):
        return web.redirect(self.ui.origin + self.cfg["default_path"])

    def __call__(self, environ, start_response):
        request = web.Request(environ)
        if request.path == front_door.AUTH_PATH:
            status, headers = self.decision(request)
            start_response(web.STATUS[status], headers)
            return [b""]
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            start_response(web.STATUS[200], [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
            return [b"ok\n"]
        if request.path == "/healthz/mail" and request.method in ("GET", "HEAD"):
            # The approval mail's outbox for the fleet's health snapshot (_clinic_health.py), on the socket only.
            start_response(web.STATUS[200], [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            return [json.dumps(self.outbox.health()).encode("ascii") + b"\n"]
        handler = self.routes.get(request.path)
        if handler is None:
            body = pages.page("Not found", pages.message("Page not found."), self.cfg["clinic_name"], "x")
            return web.respond(start_response, 404, body)
        nonce = secrets.token_urlsafe(16)
        try:
            status, body, headers = handler(request, nonce)
        except web.HttpError as exc:
            web.log("page %s %s refused with %d" % (request.method, request.path, exc.status))
            status, body, headers = exc.status, self.ui.page("Request refused", pages.message(
                "The request could not be processed."), nonce), []
        except Exception:  # noqa: BLE001 - never leak internals to the browser
            web.log("page error: %s" % traceback.format_exc())
            status, body, headers = 500, self.ui.page("Something went wrong", pages.message(
                "The sign-in service had a problem. Please try again."), nonce), []
        return web.respond(start_response, status, body, headers, nonce)
