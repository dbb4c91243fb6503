"""Signing in and out (standalone mode): password, then TOTP or a recovery code, or TOTP enrolment on first
sign-in; sign-out in both modes.

Every sign-in POST takes at least ``login.min_response_seconds`` (no timing oracle for known users), failures
feed the login regulation (``security.Regulation``), and a successful sign-in never reuses the session cookie
that came with it (session fixation).
"""

import json
import time

import segno

from . import pages, passkeys, security, web
from .store import account_expired, account_usable


class SignIn:
    def __init__(self, cfg, store, ui, identities, passwords, regulation, box, tokens, session_key, login_cookie):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.store = store
        self.ui = ui
        self.identities = identities
        self.passwords = passwords
        self.regulation = regulation
        self.box = box
        self.tokens = tokens
        self.login_cookie = login_cookie
        self.passkeys = None  # set by the application (passkeys.Passkeys needs this object too)
        # Recovery codes are stored as HMACs under a key of their own, derived from the session key.
        self.recovery_key = security.mac(session_key, "recovery-codes").encode("ascii")
        self.typed_name_key = security.mac(session_key, "typed-names").encode("ascii")

    def _pending(self, request, stage):
        token = self.tokens.from_cookie(request.cookie(self.login_cookie), "login")
        if token is None:
            return None
        row = self.store.pending_login(security.token_hash(token))
        if row is None or row["stage"] != stage or row["expires"] < time.time():
            return None
        return row

    def _form_post(self, request, nonce, form, handle):
        """A sign-in form's POST (``form``: login or mfa): its CSRF token first, then ``handle()``; the answer takes
        at least ``login.min_response_seconds`` whatever happened, so its timing tells nothing."""
        if request.method != "POST":
            raise web.HttpError(405)
        started = time.monotonic()
        try:
            if not self.ui.csrf.check(request, form):
                return self.ui.csrf_failed(request, nonce, form)
            return handle()
        finally:
            remaining = self.cfg["login"]["min_response_seconds"] - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)

    def _lockouts(self, keys, username, ip, audited_name=None):
        for key, seconds in self.regulation.fail(keys):
            self.store.audit("lockout", username=(username if audited_name is None else audited_name)
                             if key.startswith("user:") else "", ip=ip, key=key.split(":", 1)[0], seconds=seconds)

    def audited_name(self, typed, user):
        """The name the audit log gives a sign-in attempt: the account's own, or, for a name no account has, a keyed
        fingerprint of what was typed. People type their password into the username field; the audit log is kept
        for years and copied off the host, so it must not keep that. The same typed name gives the same
        fingerprint, so repeated tries of one name still show as one (and its lockout with it)."""
        if user is not None or not typed:
            return typed
        return "unknown:" + security.mac(self.typed_name_key, typed)[:16]

    # -- password -----------------------------------------------------------------------------------

    def login(self, request, nonce):
        if self.mode != "standalone":
            return 404, self.ui.page("Not found", pages.message("Sign-in is handled by Cloudflare Access."), nonce), []
        action = self.ui.prefix + "/login"
        if request.method == "GET":
            next_path = self.ui.next_path(request.arg("next"))
            csrf, headers = self.ui.csrf.issue(request, "login")
            body = pages.login_form(action, csrf, next_path, passkey_url=self._passkey_url(next_path))
            return 200, self.ui.page("Sign in", body, nonce), headers
        return self._form_post(request, nonce, "login", lambda: self._login_post(request, nonce))

    def _login_post(self, request, nonce):
        form = request.form()
        ip = request.client_ip() or ""
        username = (form.get("username") or "").strip().lower()[:64]
        password = form.get("password") or ""
        next_path = self.ui.next_path(form.get("next"))
        user = self.store.user(username) if username else None
        audited = self.audited_name(username, user)
        # A name no account has is regulated under its fingerprint too: the bans and failures tables must not keep a
        # password typed into the username field any more than the audit log may.
        keys = self.regulation.keys(username if user is not None else audited, ip)
        banned = self.regulation.banned(keys)
        # Under a ban the answer is a refusal whatever the password: no argon2 work for it (a locked-out flood must
        # not cost the host a hash per request).
        ok = not banned and self.passwords.verify(user["password_hash"] if user else None, password[:1024])
        usable = bool(ok and user and account_usable(user))
        if banned:
            self.store.audit("login_refused_locked", username=audited, ip=ip, method="POST", path=request.path,
                             key=banned.split(":", 1)[0])
            usable = False
        elif not usable:
            self.store.audit("login_failed", username=audited, ip=ip, method="POST", path=request.path,
                             reason="bad credentials" if not ok else
                             "account expired" if account_expired(user["expires"]) else "account disabled",
                             known_user=bool(user))
            self._lockouts(keys, username, ip, audited)
        elif self.store.passkey_sign_in(username) == "only":
            # The account signs in with its passkey alone: a right password (perhaps phished) is not enough, and the
            # answer is the same as for a wrong one.
            self.store.audit("login_refused_passkey_only", username=username, ip=ip, method="POST", path=request.path)
            usable = False
        if not usable:
            csrf, headers = self.ui.csrf.issue(request, "login")
            body = pages.login_form(request.path, csrf, next_path, "Sign-in failed. Check your username and "
                                    "password, or wait a few minutes if you tried several times.", username,
                                    self._passkey_url(next_path))
            return 200, self.ui.page("Sign in", body, nonce), headers
        if self.passwords.needs_rehash(user["password_hash"]):
            self.store.set_password_hash(username, self.passwords.hash(password))
        self.regulation.succeed(username)
        if not self.cfg["login"]["mfa_required"]:
            _session_hash, cookie = self.identities.create_session(username, False, ["pwd"], ip)
            self._rotate_out(request)
            self.store.audit("login", username=username, ip=ip, method="POST", path=request.path, mfa=False)
            return web.redirect(self.ui.origin + next_path, [cookie, web.clear_cookie(self.login_cookie)])
        stage = "totp" if user["totp_secret"] or self.store.passkeys(username) else "enroll"
        token, cookie_value = self.tokens.new("login")
        self.store.add_pending_login(security.token_hash(token), username, stage,
                                     self.cfg["sessions"]["pending_login_seconds"], ip, {"next": next_path})
        self.store.audit("login_password_ok", username=username, ip=ip, method="POST", path=request.path,
                         next_step=stage)
        page = "mfa" if stage == "totp" else "enroll"
        return web.redirect("%s%s/%s" % (self.ui.origin, self.ui.prefix, page),
                            [web.set_cookie(self.login_cookie, cookie_value, max_age=600, same_site="Strict")])

    def _passkey_url(self, next_path):
        return "%s/passkey?next=%s" % (self.ui.prefix, self.ui.target_param(next_path))

    def _rotate_out(self, request):
        """Session fixation: whatever session cookie came with the login is ended, never reused."""
        id_hash = self.identities.session_hash(request)
        if id_hash:
            self.store.end_session(id_hash, "replaced at login")

    def _finish_login(self, request, pending, amr, username=None):
        """A new session for the pending sign-in's account (or ``username``, a passkey's, when it named none)."""
        ip = request.client_ip() or ""
        username = username or pending["username"]
        self.store.delete_pending_login(pending["id_hash"])
        self._rotate_out(request)
        _session_hash, cookie = self.identities.create_session(username, True, amr, ip)
        next_path = self.ui.next_path(json.loads(pending["data"] or "{}").get("next"))
        self.store.audit("login", username=username, ip=ip, method="POST", path=request.path, mfa=True,
                         methods=amr)
        return next_path, [cookie, web.clear_cookie(self.login_cookie)]

    # -- second factor ------------------------------------------------------------------------------

    def mfa(self, request, nonce):
        if self.mode != "standalone":
            raise web.HttpError(404)
        pending = self._pending(request, "totp")
        if pending is None:
            return web.redirect(self.ui.origin + self.ui.prefix + "/login")
        if request.method == "GET":
            return self._mfa_page(request, nonce, pending)
        return self._form_post(request, nonce, "mfa", lambda: self._mfa_post(request, nonce, pending))

    def _mfa_page(self, request, nonce, pending, error=""):
        """The second step: the account's passkeys (a fresh challenge each time) and its TOTP code."""
        user = self.store.user(pending["username"])
        options = self.passkeys.second_step(pending)
        csrf, headers = self.ui.csrf.issue(request, "mfa")
        body = pages.mfa_form(request.path, csrf, "", error, options, totp=bool(user and user["totp_secret"]))
        return 200, self.ui.page("Two-step sign-in", body, nonce), headers

    def _mfa_post(self, request, nonce, pending):
        ip = request.client_ip() or ""
        username = pending["username"]
        form = request.form()
        code = (form.get("code") or "").strip()
        keys = self.regulation.keys(username, ip)
        banned = self.regulation.banned(keys)
        user = self.store.user(username)
        method = None
        if not banned and user and account_usable(user) and form.get("credential"):
            if self.passkeys.check_second_step(pending, form["credential"]):
                method = "passkey"
        elif not banned and user and account_usable(user) and (user["totp_secret"] or len(code) >= 10):
            digits = code.replace(" ", "")
            if digits.isdigit() and len(digits) == 6 and user["totp_secret"]:
                secret = self.box.open(user["totp_secret"], "totp:" + username)
                step = security.totp_match(secret, digits, user["totp_last_step"])
                if step is not None and self.store.use_totp_step(username, step):
                    method = "totp"
                elif step is None and security.totp_match(secret, digits, -1) is not None:
                    self.store.audit("mfa_replay_refused", username=username, ip=ip, method="POST", path=request.path)
            elif len(code) >= 10:
                left = self.store.use_recovery_code(
                    username, security.recovery_code_hash(self.recovery_key, username, code))
                if left is not None:
                    method = "recovery_code"
                    self.store.audit("mfa_recovery_code_used", username=username, ip=ip, method="POST",
                                     path=request.path, remaining=left)
        if method is None:
            if banned:
                self.store.audit("login_refused_locked", username=username, ip=ip, method="POST", path=request.path,
                                 key=banned.split(":", 1)[0], step="mfa")
            else:
                self.store.audit("mfa_failed", username=username, ip=ip, method="POST", path=request.path)
                self._lockouts(keys, username, ip)
            return self._mfa_page(request, nonce, pending, "That did not work. Use your passkey, or wait for a new "
                                  "code and try again.")
        self.regulation.succeed(username)
        amr = {"totp": ["pwd", "otp", "mfa"], "passkey": passkeys.AMR_SECOND_STEP}.get(method, ["pwd", "mfa", "kba"])
        next_path, headers = self._finish_login(request, pending, amr)
        return web.redirect(self.ui.origin + next_path, headers)

    def enroll(self, request, nonce):
        if self.mode != "standalone":
            raise web.HttpError(404)
        pending = self._pending(request, "enroll")
        if pending is None:
            return web.redirect(self.ui.origin + self.ui.prefix + "/login")
        username = pending["username"]
        data = json.loads(pending["data"] or "{}")
        if not data.get("secret"):
            data["secret"] = self.box.seal(security.new_totp_secret(), "pending:" + pending["id_hash"])
            self.store.set_pending_login_data(pending["id_hash"], data)
        secret = self.box.open(data["secret"], "pending:" + pending["id_hash"])
        uri = security.provisioning_uri(secret, username, self.cfg["login"]["totp_issuer"])
        svg = segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#12344d")
        error = ""
        if request.method == "POST":
            if not self.ui.csrf.check(request, "enroll"):
                return self.ui.csrf_failed(request, nonce, "enroll")
            ip = request.client_ip() or ""
            step = security.totp_match(secret, request.form().get("code") or "", 0)
            if step is not None:
                codes = security.new_recovery_codes()
                self.store.enroll_totp(username, self.box.seal(secret, "totp:" + username), step,
                                       [security.recovery_code_hash(self.recovery_key, username, c) for c in codes])
                self.store.audit("mfa_enrolled", username=username, ip=ip, method="POST", path=request.path)
                next_path, headers = self._finish_login(request, pending, ["pwd", "otp", "mfa"])
                return 200, self.ui.page("Recovery codes", pages.recovery_codes(codes, self.ui.origin + next_path),
                                         nonce), headers
            self.store.audit("mfa_enroll_failed", username=username, ip=ip, method="POST", path=request.path)
            error = "That code did not match. Check the time on your phone and try again."
        elif request.method != "GET":
            raise web.HttpError(405)
        csrf, headers = self.ui.csrf.issue(request, "enroll")
        return 200, self.ui.page("Set up two-step sign-in",
                                 pages.enroll_form(request.path, csrf, "", svg, secret, error), nonce), headers

    # -- sign-out -----------------------------------------------------------------------------------

    def logout(self, request, nonce):
        if request.method == "GET":
            csrf, headers = self.ui.csrf.issue(request, "logout")
            body = ('<form method="post" action="%s/logout">%s<button type="submit">Sign out</button></form>'
                    % (self.ui.prefix, pages.hidden("csrf", csrf)))
            return 200, self.ui.page("Sign out", body, nonce), headers
        if request.method != "POST":
            raise web.HttpError(405)
        if not self.ui.csrf.check(request, "logout"):
            return self.ui.csrf_failed(request, nonce, "logout")
        id_hash = self.identities.session_hash(request)
        if id_hash:
            username = self.store.live_session_username(id_hash)
            if username is not None and self.store.end_session(id_hash, "logout"):
                self.store.audit("logout", username=username, ip=request.client_ip() or "",
                                 method="POST", path=request.path)
        target = self.ui.origin + ("/cdn-cgi/access/logout" if self.mode == "cloudflare" else self.ui.prefix + "/login")
        return web.redirect(target, [web.clear_cookie(self.identities.session_cookie)])
