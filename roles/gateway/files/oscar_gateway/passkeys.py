"""Passkeys and security keys (standalone mode): adding and removing them, the second step with one, and signing in
with one alone for the accounts that choose it.

- ``/passkeys``: the signed-in person's keys. Only a session that passed a second factor may add one (a stolen
  password alone never can); up to ``webauthn.MAX_CREDENTIALS_PER_USER``. The account also chooses here how it signs
  in (``store.passkey_sign_in``): with a passkey as the second step only, also with a passkey alone, or with a
  passkey alone and never with password and code (then a phished password and code are useless; the
  administrator's ``oscar-gateway-admin passkey-sign-in USER off`` is the way back).
- ``/passkey``: the sign-in with a passkey alone, user verification (PIN or biometrics on the key) required: for
  accounts that chose it, and as the step up of a session whose second step a policy does not take (a TOTP code
  where ``mfa.allowed_authenticators`` is ``[security_key]``).
- ``second_step`` / ``check_second_step``: the passkey on the second-step page after the password (``signin.py``).

Every ceremony's challenge state is a pending sign-in row (``pending_logins``), used once and expiring with it.
Sessions record the method in ``amr``: "hwk" for a key, which a policy's ``mfa.allowed_authenticators`` reads.
"""

import datetime
import json
import time

from . import pages, security, web, webauthn
from .store import PENDING_PER_ADDRESS, account_usable

AMR_SECOND_STEP = ["pwd", "hwk", "mfa"]
AMR_PASSKEY_ALONE = ["hwk", "mfa"]


def _when(value):
    return datetime.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M") if value else ""


class Passkeys:
    def __init__(self, cfg, store, ui, identities, regulation, sign_in):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.store = store
        self.ui = ui
        self.identities = identities
        self.regulation = regulation
        self.sign_in = sign_in
        self.rp = webauthn.RelyingParty(cfg["public_host"], cfg["clinic_name"])

    def _credentials(self, username):
        return [bytes(row["credential"]) for row in self.store.passkeys(username)]

    def _accept(self, state, username, answer):
        """The credential id (base64url) if ``answer`` is a good assertion by one of the account's keys whose
        counter moved on; None otherwise (audited by the caller)."""
        try:
            credential_id, counter, _verified = self.rp.verify(state, self._credentials(username), answer)
        except webauthn.Refused as exc:
            web.log("passkey of %s refused: %s" % (username, exc))
            return None
        key_id = credential_id.hex()
        if not self.store.use_passkey(key_id, counter):
            self.store.audit("passkey_counter_refused", username=username, credential=key_id[:12], counter=counter)
            return None
        return key_id

    # -- the second step after the password --------------------------------------------------------

    def second_step(self, pending):
        """Assertion options for the second-step page when the account has keys (the state joins the pending
        sign-in), else None."""
        credentials = self._credentials(pending["username"])
        if not credentials:
            return None
        options, state = self.rp.assertion(credentials, "discouraged")
        data = json.loads(pending["data"] or "{}")
        data["webauthn"] = state
        self.store.set_pending_login_data(pending["id_hash"], data)
        return options

    def check_second_step(self, pending, text):
        """The key's id if the posted answer (``credential`` field) passes with the state of ``second_step``."""
        state = json.loads(pending["data"] or "{}").get("webauthn")
        if not state:
            return None
        try:
            answer = webauthn.parse_answer(text)
        except webauthn.Refused:
            return None
        return self._accept(state, pending["username"], answer)

    # -- a passkey alone ---------------------------------------------------------------------------

    def sign_in_page(self, request, nonce):
        if self.mode != "standalone":
            raise web.HttpError(404)
        if request.method == "GET":
            return self._sign_in_form(request, nonce, self.ui.next_path(request.arg("next")))
        return self.sign_in._form_post(request, nonce, "passkey", lambda: self._sign_in_post(request, nonce))

    def _sign_in_form(self, request, nonce, next_path, error=""):
        options, state = self.rp.assertion([], "required")
        token, cookie_value = self.sign_in.tokens.new("login")
        self.store.add_pending_login(security.token_hash(token), "", "passkey",
                                     self.cfg["sessions"]["pending_login_seconds"], request.client_ip() or "",
                                     {"next": next_path, "webauthn": state},
                                     keep_per_address=PENDING_PER_ADDRESS)
        csrf, headers = self.ui.csrf.issue(request, "passkey")
        headers.append(web.set_cookie(self.sign_in.login_cookie, cookie_value, max_age=600, same_site="Strict"))
        body = pages.passkey_sign_in(request.path, csrf, next_path, options, error,
                                     self.ui.prefix + "/login?next=" + self.ui.target_param(next_path))
        return 200, self.ui.page("Sign in with a passkey", body, nonce), headers

    def _sign_in_post(self, request, nonce):
        ip = request.client_ip() or ""
        form = request.form()
        next_path = self.ui.next_path(form.get("next"))
        pending = self.sign_in._pending(request, "passkey")
        username, reason = "", "no pending sign-in"
        if pending is not None:
            self.store.delete_pending_login(pending["id_hash"])  # one answer per challenge
            try:
                answer = webauthn.parse_answer(form.get("credential"))
                row = self.store.passkey(self.rp.answer_credential_id(answer).hex())
            except webauthn.Refused:
                row, reason = None, "unreadable answer"
            else:
                reason = "unknown key" if row is None else ""
            if row is not None:
                username = row["username"]
                user = self.store.user(username)
                if self.regulation.banned(self.regulation.keys(username, ip)):
                    reason = "locked"
                elif user is None or not account_usable(user):
                    reason = "account disabled or expired"
                elif self.store.passkey_sign_in(username) == "off" and not self._stepping_up(request, username):
                    reason = "account signs in with password and second step"
                elif self._accept(json.loads(pending["data"])["webauthn"], username, answer) is None:
                    reason = "key refused"
        if reason:
            self.store.audit("passkey_login_failed", username=username, ip=ip, method="POST", path=request.path,
                             reason=reason)
            if reason != "locked":
                self.sign_in._lockouts(self.regulation.keys(username, ip), username, ip)
            return self._sign_in_form(request, nonce, next_path, "That did not work. Use the passkey you set up "
                                      "for this clinic, or sign in with your password.")
        self.regulation.succeed(username)
        next_path, headers = self.sign_in._finish_login(request, pending, AMR_PASSKEY_ALONE, username)
        return web.redirect(self.ui.origin + next_path, headers)

    def _stepping_up(self, request, username):
        """Whether the request carries a live session of ``username`` already (signed in with password and a second
        step a policy does not take): then the key is the step up, whatever the account chose."""
        session = self.identities.load_session(request, request.client_ip() or "", request.path, request.method)
        return session is not None and session.mfa and session.username == username

    # -- the account's keys ------------------------------------------------------------------------

    def manage(self, request, nonce):
        if self.mode != "standalone":
            raise web.HttpError(404)
        session, subject, _identity = self.identities.signed_in(request)
        if subject is None:
            return self.ui.need_login(request, nonce)
        if not session.mfa:
            return 403, self.ui.page("Passkeys", pages.message(
                "Adding a passkey needs a sign-in with a second step. Sign out and sign in again."), nonce), []
        username, ip = session.username, request.client_ip() or ""
        notice, error = "", ""
        if request.method == "POST":
            if not self.ui.csrf.check(request, "passkeys"):
                return self.ui.csrf_failed(request, nonce, "passkeys")
            form = request.form()
            action = form.get("action")
            if action == "add":
                error = self._add(request, session, form)
                notice = "" if error else "Passkey added."
            elif action == "remove":
                key_id = form.get("credential_id") or ""
                row = self.store.passkey(key_id) if key_id else None
                if row is not None and row["username"] == username:
                    self.store.remove_passkeys(username, key_id)
                    self.store.audit("passkey_removed", username=username, ip=ip, method="POST", path=request.path,
                                     credential=key_id[:12], by=username)
                    notice = "Passkey removed."
                else:
                    error = "No such passkey."
            elif action == "sign_in" and form.get("mode") in pages.SIGN_IN_MODES:
                if self.store.set_passkey_sign_in(username, form["mode"]):
                    self.store.audit("passkey_sign_in_set", username=username, ip=ip, method="POST",
                                     path=request.path, mode=form["mode"], by=username)
                    notice = "Saved: you sign in with %s." % pages.SIGN_IN_MODES[form["mode"]]
                else:
                    error = "Add a passkey first."
            else:
                raise web.HttpError(400)
        elif request.method != "GET":
            raise web.HttpError(405)
        return self._manage_page(request, nonce, session, notice, error)

    def _ceremony_id(self, session):
        """The pending row that holds this session's registration state: one per session, replaced on each view."""
        return security.mac(self.sign_in.recovery_key, "passkey-registration", session.id_hash)

    def _manage_page(self, request, nonce, session, notice, error):
        username = session.username
        handle = self.store.passkey_user_handle(username, webauthn.b64url(webauthn.new_user_handle()))
        credentials = self._credentials(username)
        options, state = self.rp.registration(webauthn.unb64url(handle), username, session.display_name, credentials)
        ceremony = self._ceremony_id(session)
        self.store.delete_pending_login(ceremony)
        self.store.add_pending_login(ceremony, username, "passkey-registration",
                                     self.cfg["sessions"]["pending_login_seconds"], request.client_ip() or "",
                                     {"webauthn": state})
        keys = [{"credential_id": r["credential_id"], "name": r["name"], "created": _when(r["created"]),
                 "last_used": _when(r["last_used"])} for r in self.store.passkeys(username)]
        csrf, headers = self.ui.csrf.issue(request, "passkeys")
        body = pages.passkeys_page(request.path, csrf, options, keys, self.store.passkey_sign_in(username),
                                   notice, error)
        return 200, self.ui.page("Passkeys", body, nonce), headers

    def _add(self, request, session, form):
        """Register the posted key; an error message, or "" when it was added."""
        pending = self.store.pending_login(self._ceremony_id(session))
        name = " ".join((form.get("name") or "").split())[:40] or "passkey"
        ip = request.client_ip() or ""
        if pending is None or pending["username"] != session.username or pending["expires"] < time.time():
            return "The page expired. Try again."
        self.store.delete_pending_login(pending["id_hash"])
        try:
            credential_id, credential, counter = self.rp.register(
                json.loads(pending["data"])["webauthn"], webauthn.parse_answer(form.get("credential")))
        except webauthn.Refused as exc:
            web.log("passkey registration of %s refused: %s" % (session.username, exc))
            self.store.audit("passkey_add_failed", username=session.username, ip=ip, method="POST",
                             path=request.path)
            return "The passkey could not be added. Try again."
        key_id = credential_id.hex()
        if not self.store.add_passkey(session.username, key_id, credential, counter, name,
                                      webauthn.MAX_CREDENTIALS_PER_USER):
            return "No more passkeys can be added (at most %d)." % webauthn.MAX_CREDENTIALS_PER_USER
        self.store.audit("passkey_added", username=session.username, ip=ip, method="POST", path=request.path,
                         credential=key_id[:12], name=name)
        return ""
