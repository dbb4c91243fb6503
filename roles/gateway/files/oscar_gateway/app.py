"""The WSGI application: the nginx decision endpoint and the gateway's own pages.

``/auth`` answers nginx's ``auth_request`` with 200 (identity headers), 401 (``Location``: where
to go next) or 403, never anything else: every exception inside the decision is a 403. See
README.md for the full contract.
"""

import ipaddress
import json
import re
import secrets
import sys
import time
import traceback
from urllib.parse import parse_qs, quote, urlsplit

import segno

from . import _shared, cfaccess, pages, paths, policy, security, store

SESSION_COOKIE = "__Host-oscar-gw"
LOGIN_COOKIE = "__Host-oscar-gw-login"
CSRF_COOKIE = "__Host-oscar-gw-csrf"
MAX_BODY = 16 * 1024
MAX_HEADER_VALUE = 8192
_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}\.[0-9a-f]{32}$")
_NEXT_SAFE = re.compile(r"^[\x21-\x7e]{1,2048}$")
MFA_AMR = ("mfa", "otp", "hwk", "swk")

STATUS = {
    200: "200 OK", 302: "302 Found", 303: "303 See Other", 400: "400 Bad Request", 401: "401 Unauthorized",
    403: "403 Forbidden", 404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Payload Too Large",
    500: "500 Internal Server Error",
}


def _log(message):
    sys.stderr.write("oscar-gateway: %s\n" % message)
    sys.stderr.flush()


def _now():
    return time.time()


class Request:
    __slots__ = ("_cookies", "_form", "environ", "method", "path", "query")

    def __init__(self, environ):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/")
        self.query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=20)
        self._cookies = None
        self._form = None

    def header(self, name):
        value = self.environ.get("HTTP_" + name.upper().replace("-", "_"))
        if value is None or len(value) > MAX_HEADER_VALUE:
            return None
        return value

    def cookie(self, name):
        """The cookie's value; None if absent or present more than once (no cookie tossing)."""
        if self._cookies is None:
            found = {}
            raw = self.environ.get("HTTP_COOKIE", "")
            if len(raw) <= MAX_HEADER_VALUE:
                for part in raw.split(";"):
                    key, sep, value = part.strip().partition("=")
                    if sep:
                        found.setdefault(key, []).append(value.strip().strip('"'))
            self._cookies = found
        values = self._cookies.get(name)
        if not values or len(values) != 1:
            return None
        return values[0]

    def arg(self, name):
        values = self.query.get(name)
        return values[0] if values else ""

    def form(self):
        if self._form is None:
            self._form = {}
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                raise _HttpError(413)
            body = self.environ["wsgi.input"].read(length) if length else b""
            ctype = (self.environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
            if length and ctype != "application/x-www-form-urlencoded":
                raise _HttpError(400)
            parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
            self._form = {k: v[0] for k, v in parsed.items() if len(v) == 1}
        return self._form


class _HttpError(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Session:
    __slots__ = (
        "amr",
        "created",
        "display_name",
        "email",
        "expires",
        "id_hash",
        "last_activity",
        "mfa",
        "role",
        "username",
    )

    def __init__(self, row):
        self.id_hash = row["id_hash"]
        self.username = row["username"]
        self.created = row["created"]
        self.last_activity = row["last_activity"]
        self.expires = row["expires"]
        self.mfa = bool(row["mfa"])
        self.amr = json.loads(row["amr"] or "[]")
        self.display_name = row["display_name"] or row["username"]
        self.email = row["email"] or ""
        self.role = row["role"] or ""


class Gateway:
    def __init__(self, cfg, keys, db=None):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.host = cfg["public_host"]
        self.origin = "https://" + self.host
        self.prefix = cfg["ui_prefix"]
        self.session_key = keys["session_key"]
        self.box = security.SecretBox(keys["data_key"])
        self.store = db or store.Store(cfg["database"], cfg["audit_jsonl"], log=_log)
        self.paths = paths.PathRules(cfg["oscar_context"], cfg["extra_blocked_paths"])
        self.evaluator = policy.Evaluator(cfg["access_policy"])
        self.policies = {p["name"]: p for p in cfg["access_policy"]["policies"]}
        self._ap = _shared.access_policy_module()
        login = cfg["login"]
        self.passwords = security.Passwords(**login["argon2"])
        self.regulation = security.Regulation(
            self.store, login["max_failures"], login["find_seconds"], login["ban_seconds"], login["ban_max_seconds"],
            max_failures_per_address=login["max_failures_per_address"])
        self.verifier = None
        if self.mode == "cloudflare":
            cf = cfg["cloudflare"]
            keyset = cfaccess.KeySet(cf["certs_url"], cf["jwks_ttl_seconds"], cf["jwks_min_refetch_seconds"],
                                     cf["jwks_timeout_seconds"], log=_log)
            self.verifier = cfaccess.Verifier(cf["issuer"], cf["aud"], keyset, cf["leeway_seconds"])
            self.service_token_ids = {}
            for name, client_id in cf["service_tokens"].items():
                self.service_token_ids.setdefault(client_id, set()).add(name)
        self.sync_users()
        self.routes = {
            self.prefix + "/login": self.page_login,
            self.prefix + "/mfa": self.page_mfa,
            self.prefix + "/enroll": self.page_enroll,
            self.prefix + "/justify": self.page_justify,
            self.prefix + "/approval": self.page_approval,
            self.prefix + "/approvals": self.page_approvals,
            self.prefix + "/logout": self.page_logout,
            self.prefix: self.page_home,
            self.prefix + "/": self.page_home,
        }

    # -- users ----------------------------------------------------------------------------------

    def sync_users(self):
        """Make the users table follow the inventory; users dropped from it are disabled, sessions revoked."""
        now = _now()
        listed = set()
        for user in self.cfg["users"]:
            listed.add(user["username"])
            row = self.store.one("SELECT * FROM users WHERE username = ?", (user["username"],))
            if row is None:
                self.store.execute(
                    "INSERT INTO users (username, display_name, email, role, enabled, source, password_hash,"
                    " created, updated) VALUES (?, ?, ?, ?, ?, 'inventory', ?, ?, ?)",
                    (user["username"], user["display_name"], user["email"], user["role"], int(user["enabled"]),
                     user["password_hash"], now, now))
                continue
            password_hash = user["password_hash"] or row["password_hash"]
            self.store.execute(
                "UPDATE users SET display_name = ?, email = ?, role = ?, enabled = ?, source = 'inventory',"
                " password_hash = ?, updated = ? WHERE username = ?",
                (user["display_name"], user["email"], user["role"], int(user["enabled"]), password_hash, now,
                 user["username"]))
            if not user["enabled"] and row["enabled"]:
                self.revoke_sessions(user["username"], "disabled in inventory")
        if self.mode == "standalone":
            for row in self.store.all("SELECT username FROM users WHERE source = 'inventory' AND enabled = 1"):
                if row["username"] not in listed:
                    self.store.execute("UPDATE users SET enabled = 0, updated = ? WHERE username = ?",
                                       (now, row["username"]))
                    self.revoke_sessions(row["username"], "removed from inventory")

    def revoke_sessions(self, username=None, reason="revoked", by="system"):
        return self.store.revoke_sessions(reason, by, username)

    # -- WSGI entry -----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/auth":
            status, headers = self.auth(request)
            start_response(STATUS[status], headers)
            return [b""]
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            start_response(STATUS[200], [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
            return [b"ok\n"]
        handler = self.routes.get(request.path)
        if handler is None:
            body = pages.page("Not found", pages.message("Page not found."), self.cfg["clinic_name"], "x")
            return self._respond(start_response, 404, body)
        nonce = secrets.token_urlsafe(16)
        try:
            status, body, headers = handler(request, nonce)
        except _HttpError as exc:
            _log("page %s %s refused with %d" % (request.method, request.path, exc.status))
            status, body, headers = exc.status, self._page("Request refused", pages.message(
                "The request could not be processed."), nonce), []
        except Exception:  # noqa: BLE001 - never leak internals to the browser
            _log("page error: %s" % traceback.format_exc())
            status, body, headers = 500, self._page("Something went wrong", pages.message(
                "The sign-in service had a problem. Please try again."), nonce), []
        return self._respond(start_response, status, body, headers, nonce)

    def _respond(self, start_response, status, body, headers=(), nonce="x"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        out = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Content-Security-Policy",
             "default-src 'none'; style-src 'nonce-%s'; img-src 'self' data:; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'" % nonce),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts,
            # and the CSRF check wants this origin there.
            ("Referrer-Policy", "same-origin"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ]
        out.extend(headers)
        start_response(STATUS[status], out)
        return [data]

    def _page(self, title, body, nonce, refresh=None):
        return pages.page(title, body, self.cfg["clinic_name"], nonce, refresh)

    # -- request facts ----------------------------------------------------------------------------

    def client_ip(self, request):
        """The real client IP nginx resolved (X-Real-IP, or a single-valued X-Forwarded-For)."""
        value = request.header("X-Real-IP")
        if value is None:
            value = request.header("X-Forwarded-For")
        if value is None:
            return None
        value = value.strip()
        if "," in value:
            return None  # nginx sets one address; a list means something appended to it
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return None

    @staticmethod
    def is_navigation(request):
        """A user-initiated page load (counts as activity); background requests do not."""
        if request.header("X-Requested-With"):
            return False
        mode = request.header("Sec-Fetch-Mode")
        if mode is not None:
            dest = request.header("Sec-Fetch-Dest") or ""
            return mode == "navigate" and dest in ("document", "iframe", "frame", "")
        accept = request.header("Accept") or ""
        return "text/html" in accept

    def _split_original(self, request):
        """(decision path, raw target for redirects) from X-Original-URL; raises PathRejected."""
        url = request.header("X-Original-URL")
        if not url:
            raise paths.PathRejected("no X-Original-URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise paths.PathRejected("unreadable X-Original-URL") from exc
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or host != self.host or parts.username or parts.password:
            raise paths.PathRejected("not this gateway's https host")
        if port not in (None, 443):
            raise paths.PathRejected("unexpected port")
        decision_path = self.paths.normalize_url(url)
        target = url.split("://", 1)[1]
        target = target[target.find("/"):] if "/" in target else "/"
        return decision_path, target

    # -- cookies and tokens -----------------------------------------------------------------------

    def _sign(self, token, purpose):
        return security.mac(self.session_key, purpose, token)[:32]

    def _new_token(self, purpose):
        token = secrets.token_urlsafe(32)
        return token, "%s.%s" % (token, self._sign(token, purpose))

    def _token_from_cookie(self, value, purpose):
        if not value or not _TOKEN_RE.match(value):
            return None
        token, _sep, signature = value.partition(".")
        if not secrets.compare_digest(signature, self._sign(token, purpose)):
            return None
        return token

    @staticmethod
    def _cookie(name, value, max_age=None, same_site="Lax"):
        parts = ["%s=%s" % (name, value), "Path=/", "Secure", "HttpOnly", "SameSite=" + same_site]
        if max_age is not None:
            parts.append("Max-Age=%d" % max_age)
        return ("Set-Cookie", "; ".join(parts))

    def _clear_cookie(self, name):
        return self._cookie(name, "", max_age=0, same_site="Strict")

    def _csrf(self, request, form_name):
        """(csrf token for the form, Set-Cookie headers). The cookie is random; the token is its HMAC."""
        value = request.cookie(CSRF_COOKIE)
        headers = []
        if not value or not re.match(r"^[A-Za-z0-9_-]{32,64}$", value):
            value = secrets.token_urlsafe(32)
            headers.append(self._cookie(CSRF_COOKIE, value, same_site="Strict"))
            request._cookies = None
            request.environ["HTTP_COOKIE"] = "%s=%s" % (CSRF_COOKIE, value)
        return security.mac(self.session_key, "csrf", form_name, value), headers

    def _check_csrf(self, request, form_name):
        origin = request.header("Origin")
        if origin is not None and origin != self.origin:
            return False
        site = request.header("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin",):
            return False
        value = request.cookie(CSRF_COOKIE)
        token = request.form().get("csrf", "")
        if not value or not token:
            return False
        expected = security.mac(self.session_key, "csrf", form_name, value)
        return secrets.compare_digest(token.encode("utf-8", "replace"), expected.encode("ascii"))

    def _csrf_failed(self, request, nonce, form_name):
        self.store.audit("csrf_rejected", ip=self.client_ip(request) or "", method=request.method,
                         path=request.path, form=form_name)
        return 403, self._page("Request refused", pages.message(
            "This form expired or did not come from this site. Please try again.", self.prefix + "/login",
            "Back to sign-in"), nonce), []

    # -- sessions ---------------------------------------------------------------------------------

    def create_session(self, username, mfa, amr, ip):
        token, cookie_value = self._new_token("session")
        now = _now()
        self.store.execute(
            "INSERT INTO sessions (id_hash, username, created, last_activity, expires, mfa, amr, login_ip)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (security.token_hash(token), username, now, now, now + self.cfg["sessions"]["absolute_seconds"],
             int(mfa), json.dumps(list(amr)), ip or ""))
        return security.token_hash(token), self._cookie(SESSION_COOKIE, cookie_value)

    def load_session(self, request, ip="", path="", method=""):
        token = self._token_from_cookie(request.cookie(SESSION_COOKIE), "session")
        if token is None:
            return None
        row = self.store.one(
            "SELECT s.*, u.display_name AS display_name, u.email AS email, u.role AS role, u.enabled AS enabled,"
            " u.admin_disabled AS admin_disabled FROM sessions s LEFT JOIN users u ON u.username = s.username"
            " WHERE s.id_hash = ?", (security.token_hash(token),))
        if row is None or row["revoked_at"] is not None:
            return None
        now = _now()
        reason = None
        if now >= row["expires"]:
            reason = "expired"
        elif now - row["last_activity"] > self.cfg["sessions"]["inactivity_seconds"]:
            reason = "inactive"
        elif self.mode == "standalone" and (not row["enabled"] or row["admin_disabled"]):
            reason = "user disabled"
        if reason:
            if self.store.end_session(row["id_hash"], reason):
                self.store.audit("session_ended", username=row["username"], ip=ip, method=method, path=path,
                                 reason=reason)
            return None
        return Session(row)

    def touch(self, session):
        now = _now()
        if now - session.last_activity >= self.cfg["sessions"]["activity_write_seconds"]:
            self.store.execute("UPDATE sessions SET last_activity = ? WHERE id_hash = ? AND last_activity < ?",
                               (now, session.id_hash, now))

    def user_subject(self, session, ip):
        email = session.email if self.mode == "standalone" else session.username
        username = session.username if self.mode == "standalone" else self.evaluator.model_username(email)
        return policy.Subject(
            "user", ip, username=username, email=email, display_name=session.display_name,
            roles=self.evaluator.roles_for(username, email, [session.role]),
            groups=self.evaluator.groups_for(username, email), amr=session.amr)

    def cf_subject(self, identity, ip):
        if identity.kind == "service":
            names = self.service_token_ids.get(identity.common_name, set())
            return policy.Subject("service", ip, username="service:" + identity.common_name,
                                  service_tokens=names, country=identity.country)
        email = identity.email
        user = self.store.one("SELECT * FROM users WHERE email = ? AND enabled = 1 AND admin_disabled = 0",
                              (email,))
        username = self.evaluator.model_username(email) or (user["username"] if user else "")
        display = (user["display_name"] if user else "") or email
        role = user["role"] if user else ""
        return policy.Subject(
            "user", ip, username=username, email=email, display_name=display,
            roles=self.evaluator.roles_for(username, email, [role]), groups=self.evaluator.groups_for(username, email),
            amr=identity.amr, country=identity.country)

    def cf_identity(self, request):
        try:
            return self.verifier.verify(request.header("Cf-Access-Jwt-Assertion"))
        except cfaccess.TokenRejected:
            return None

    # -- the decision -----------------------------------------------------------------------------

    def auth(self, request):
        """nginx auth_request: (status, headers) with status 200, 401 or 403 only."""
        try:
            return self._auth(request)
        except Exception:  # noqa: BLE001 - fail closed: any error is a refusal
            _log("decision error (answered 403): %s" % traceback.format_exc())
            try:
                self.store.audit("denied", ip=self.client_ip(request) or "", reason="internal error")
            except Exception:  # noqa: BLE001, S110 - the refusal stands even if the audit write fails
                pass
            return 403, [("Cache-Control", "no-store"), ("X-Accel-Expires", "0")]

    def _deny(self, reason, ip="", path="", method="", username="", policy_name="", audit=True):
        if audit:
            self.store.audit("denied", username=username, ip=ip or "", method=method, path=path,
                             policy=policy_name, reason=reason)
        return 403, [("Cache-Control", "no-store"), ("X-Accel-Expires", "0")]

    def _redirect401(self, location):
        return 401, [("Location", location), ("Cache-Control", "no-store"), ("X-Accel-Expires", "0")]

    def _ui_url(self, page, target, **params):
        query = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in sorted(params.items()) if v)
        nxt = "next=" + quote(target, safe="")
        return "%s%s/%s?%s" % (self.origin, self.prefix, page, nxt + ("&" + query if query else ""))

    def _auth(self, request):
        now = _now()
        method = request.header("X-Original-Method") or "GET"
        if not _METHOD_RE.match(method):
            return self._deny("bad method")
        ip = self.client_ip(request)
        if ip is None:
            return self._deny("no trustworthy client address", method=method)
        try:
            path, target = self._split_original(request)
        except paths.PathRejected as exc:
            return self._deny("path refused: %s" % str(exc)[:120], ip=ip, method=method)
        if self.paths.is_blocked(path):
            return self._deny("blocked path", ip=ip, method=method, path=path)

        session = None
        identity = None
        if self.mode == "cloudflare":
            identity = self.cf_identity(request)
            subject = self.cf_subject(identity, ip) if identity else policy.Subject("anonymous", ip)
            if identity is not None and identity.kind == "user":
                session = self.load_session(request, ip, path, method)
                if session is not None and session.username != identity.email:
                    session = None
        else:
            session = self.load_session(request, ip, path, method)
            subject = self.user_subject(session, ip) if session else policy.Subject("anonymous", ip)

        outcome, matched = self.evaluator.decide(path, subject)
        name = matched["name"] if matched else ""
        if outcome == policy.BYPASS:
            return 200, self._identity_headers(None, cache=True)
        if outcome == policy.SERVICE:
            return 200, self._identity_headers(subject, cache=True)
        if outcome == policy.DENY:
            if self.mode == "cloudflare" and identity is None:
                return self._deny("no valid Cloudflare Access token", ip, path, method, policy_name=name)
            return self._deny("policy" if matched else "no policy allows this path", ip, path, method,
                              subject.username or subject.email, name)
        if outcome == policy.LOGIN:
            if self.mode == "cloudflare":
                return self._deny("no valid Cloudflare Access token", ip, path, method, policy_name=name)
            return self._redirect401(self._ui_url("login", target))

        # Allowed by policy: the per-policy controls.
        if self.mode == "standalone":
            mfa = matched["mfa"]
            if (mfa["required"] or self.cfg["login"]["mfa_required"]) and not session.mfa:
                return self._redirect401(self._ui_url("login", target))
            age = now - session.created
            limit = self._seconds(matched.get("session_duration"))
            mfa_limit = self._seconds(mfa.get("session_duration")) if mfa["required"] else None
            if (limit and age > limit) or (mfa_limit and age > mfa_limit):
                self.store.audit("session_too_old", username=session.username, ip=ip, method=method, path=path,
                                 policy=name)
                return self._redirect401(self._ui_url("login", target))
        else:
            if "cloudflare" not in matched["targets"] and matched["mfa"]["required"] and not any(
                    a in identity.amr for a in MFA_AMR):
                return self._deny("policy requires MFA the Access token does not show", ip, path, method,
                                  identity.email, name)
            limit = self._seconds(matched.get("session_duration"))
            if limit and identity.issued_at and now - identity.issued_at > limit:
                return self._redirect401(self.origin + "/cdn-cgi/access/logout")

        if matched["purpose_justification"]["required"]:
            if session is None or not self.store.one(
                    "SELECT 1 FROM justifications WHERE session_hash = ? AND policy = ?", (session.id_hash, name)):
                return self._redirect401(self._ui_url("justify", target, policy=name))
        if matched["approval"]["required"]:
            if session is None or not self.store.one(
                    "SELECT 1 FROM approval_requests WHERE session_hash = ? AND policy = ? AND status = 'approved'"
                    " AND grant_expires > ?", (session.id_hash, name, now)):
                return self._redirect401(self._ui_url("approval", target, policy=name))

        navigation = self.is_navigation(request)
        if session is not None and navigation:
            self.touch(session)
        if navigation and self.cfg["audit_navigations"]:
            self.store.audit("access", username=subject.username or subject.email, ip=ip, method=method, path=path,
                             policy=name)
        return 200, self._identity_headers(subject, cache=not navigation or not self.cfg["audit_navigations"],
                                           session=session)

    def _seconds(self, duration):
        if not duration:
            return None
        seconds = self._ap.duration_seconds(duration)
        return seconds or None

    def _identity_headers(self, subject, cache=False, session=None):
        ttl = self.cfg["decision_cache"]["max_age_seconds"] if cache else 0
        if ttl and session is not None:
            remaining = min(session.expires - _now(),
                            session.last_activity + self.cfg["sessions"]["inactivity_seconds"] - _now())
            ttl = max(0, min(ttl, int(remaining)))
        # nginx's auth cache (only ever keyed on this session or token) may keep an allow for ttl
        # seconds; no Cache-Control then, as nginx 1.22 lets "no-store" veto X-Accel-Expires.
        headers = [("X-Accel-Expires", str(int(ttl)))]
        if not ttl:
            headers.append(("Cache-Control", "no-store"))
        if subject is None:
            return headers
        headers.extend([
            ("Remote-User", _header_safe(subject.username or subject.email)),
            ("Remote-Email", _header_safe(subject.email)),
            ("Remote-Name", _header_safe(subject.display_name or subject.username)),
            ("Remote-Groups", _header_safe(",".join(sorted(subject.groups | subject.roles)))),
        ])
        return headers

    # -- pages ------------------------------------------------------------------------------------

    def _next(self, value):
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

    def _redirect(self, location, headers=()):
        return 303, "", [("Location", location), *list(headers)]

    def page_home(self, request, nonce):
        return self._redirect(self.origin + self.cfg["default_path"])

    def _pending(self, request, stage):
        token = self._token_from_cookie(request.cookie(LOGIN_COOKIE), "login")
        if token is None:
            return None
        row = self.store.one("SELECT * FROM pending_logins WHERE id_hash = ?", (security.token_hash(token),))
        if row is None or row["stage"] != stage or row["expires"] < _now():
            return None
        return row

    def _pad(self, started):
        remaining = self.cfg["login"]["min_response_seconds"] - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)

    def page_login(self, request, nonce):
        if self.mode != "standalone":
            return 404, self._page("Not found", pages.message("Sign-in is handled by Cloudflare Access."), nonce), []
        action = self.prefix + "/login"
        if request.method == "GET":
            next_path = self._next(request.arg("next"))
            csrf, headers = self._csrf(request, "login")
            body = pages.login_form(action, csrf, next_path)
            return 200, self._page("Sign in", body, nonce), headers
        if request.method != "POST":
            raise _HttpError(405)
        started = time.monotonic()
        try:
            if not self._check_csrf(request, "login"):
                return self._csrf_failed(request, nonce, "login")
            return self._login_post(request, nonce)
        finally:
            self._pad(started)

    def _login_post(self, request, nonce):
        form = request.form()
        ip = self.client_ip(request) or ""
        username = (form.get("username") or "").strip().lower()[:64]
        password = form.get("password") or ""
        next_path = self._next(form.get("next"))
        keys = self.regulation.keys(username, ip)
        banned = self.regulation.banned(keys)
        user = self.store.one("SELECT * FROM users WHERE username = ?", (username,)) if username else None
        ok = self.passwords.verify(user["password_hash"] if user else None, password[:1024])
        usable = bool(ok and user and user["enabled"] and not user["admin_disabled"])
        if banned:
            self.store.audit("login_refused_locked", username=username, ip=ip, method="POST", path=request.path,
                             key=banned.split(":", 1)[0])
            usable = False
        elif not usable:
            self.store.audit("login_failed", username=username, ip=ip, method="POST", path=request.path,
                             reason="bad credentials" if not ok else "account disabled",
                             known_user=bool(user))
            for key, seconds in self.regulation.fail(keys):
                self.store.audit("lockout", username=username if key.startswith("user:") else "", ip=ip,
                                 key=key.split(":", 1)[0], seconds=seconds)
        if not usable:
            csrf, headers = self._csrf(request, "login")
            body = pages.login_form(request.path, csrf, next_path, "Sign-in failed. Check your username and "
                                    "password, or wait a few minutes if you tried several times.", username)
            return 200, self._page("Sign in", body, nonce), headers
        if self.passwords.needs_rehash(user["password_hash"]):
            self.store.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                               (self.passwords.hash(password), username))
        self.regulation.succeed(username)
        if not self.cfg["login"]["mfa_required"]:
            _session_hash, cookie = self.create_session(username, False, ["pwd"], ip)
            self._rotate_out(request, username)
            self.store.audit("login", username=username, ip=ip, method="POST", path=request.path, mfa=False)
            return self._redirect(self.origin + next_path, [cookie, self._clear_cookie(LOGIN_COOKIE)])
        stage = "totp" if user["totp_secret"] else "enroll"
        token, cookie_value = self._new_token("login")
        now = _now()
        self.store.execute(
            "INSERT INTO pending_logins (id_hash, username, stage, created, expires, ip, data) VALUES (?,?,?,?,?,?,?)",
            (security.token_hash(token), username, stage, now, now + self.cfg["sessions"]["pending_login_seconds"],
             ip, json.dumps({"next": next_path})))
        self.store.execute("DELETE FROM pending_logins WHERE expires < ?", (now,))
        self.store.audit("login_password_ok", username=username, ip=ip, method="POST", path=request.path,
                         next_step=stage)
        page = "mfa" if stage == "totp" else "enroll"
        return self._redirect("%s%s/%s" % (self.origin, self.prefix, page),
                              [self._cookie(LOGIN_COOKIE, cookie_value, max_age=600, same_site="Strict")])

    def _rotate_out(self, request, username):
        """Session fixation: whatever session cookie came with the login is ended, never reused."""
        token = self._token_from_cookie(request.cookie(SESSION_COOKIE), "session")
        if token:
            self.store.end_session(security.token_hash(token), "replaced at login")

    def _finish_login(self, request, pending, amr, extra_headers=()):
        ip = self.client_ip(request) or ""
        self.store.execute("DELETE FROM pending_logins WHERE id_hash = ?", (pending["id_hash"],))
        self._rotate_out(request, pending["username"])
        _session_hash, cookie = self.create_session(pending["username"], True, amr, ip)
        next_path = self._next(json.loads(pending["data"] or "{}").get("next"))
        self.store.audit("login", username=pending["username"], ip=ip, method="POST", path=request.path, mfa=True,
                         methods=amr)
        return next_path, [cookie, self._clear_cookie(LOGIN_COOKIE), *list(extra_headers)]

    def page_mfa(self, request, nonce):
        if self.mode != "standalone":
            raise _HttpError(404)
        pending = self._pending(request, "totp")
        if pending is None:
            return self._redirect(self.origin + self.prefix + "/login")
        if request.method == "GET":
            csrf, headers = self._csrf(request, "mfa")
            return 200, self._page("Two-step sign-in", pages.mfa_form(request.path, csrf, ""), nonce), headers
        if request.method != "POST":
            raise _HttpError(405)
        started = time.monotonic()
        try:
            if not self._check_csrf(request, "mfa"):
                return self._csrf_failed(request, nonce, "mfa")
            return self._mfa_post(request, nonce, pending)
        finally:
            self._pad(started)

    def _mfa_post(self, request, nonce, pending):
        ip = self.client_ip(request) or ""
        username = pending["username"]
        code = (request.form().get("code") or "").strip()
        keys = self.regulation.keys(username, ip)
        banned = self.regulation.banned(keys)
        user = self.store.one("SELECT * FROM users WHERE username = ?", (username,))
        method = None
        if not banned and user and user["enabled"] and not user["admin_disabled"] and user["totp_secret"]:
            digits = code.replace(" ", "")
            if digits.isdigit() and len(digits) == 6:
                secret = self.box.open(user["totp_secret"], "totp:" + username)
                step = security.totp_match(secret, digits, user["totp_last_step"])
                if step is not None and self.store.execute(
                        "UPDATE users SET totp_last_step = ? WHERE username = ? AND totp_last_step < ?",
                        (step, username, step)).rowcount == 1:
                    method = "totp"
                elif step is None and security.totp_match(secret, digits, -1) is not None:
                    self.store.audit("mfa_replay_refused", username=username, ip=ip, method="POST", path=request.path)
            elif len(code) >= 10:
                digest = security.recovery_code_hash(self.box_key, username, code)
                if self.store.execute(
                        "UPDATE recovery_codes SET used_at = ? WHERE username = ? AND code_hash = ?"
                        " AND used_at IS NULL",
                        (_now(), username, digest)).rowcount == 1:
                    method = "recovery_code"
                    left = self.store.one("SELECT COUNT(*) FROM recovery_codes WHERE username = ? AND used_at IS NULL",
                                          (username,))[0]
                    self.store.audit("mfa_recovery_code_used", username=username, ip=ip, method="POST",
                                     path=request.path, remaining=left)
        if method is None:
            if banned:
                self.store.audit("login_refused_locked", username=username, ip=ip, method="POST", path=request.path,
                                 key=banned.split(":", 1)[0], step="mfa")
            else:
                self.store.audit("mfa_failed", username=username, ip=ip, method="POST", path=request.path)
                for key, seconds in self.regulation.fail(keys):
                    self.store.audit("lockout", username=username if key.startswith("user:") else "", ip=ip,
                                     key=key.split(":", 1)[0], seconds=seconds)
            csrf, headers = self._csrf(request, "mfa")
            return 200, self._page("Two-step sign-in", pages.mfa_form(
                request.path, csrf, "", "That code did not work. Wait for a new code and try again."), nonce), headers
        self.regulation.succeed(username)
        amr = ["pwd", "otp", "mfa"] if method == "totp" else ["pwd", "mfa", "kba"]
        next_path, headers = self._finish_login(request, pending, amr)
        return self._redirect(self.origin + next_path, headers)

    @property
    def box_key(self):
        return security.mac(self.session_key, "recovery-codes").encode("ascii")

    def page_enroll(self, request, nonce):
        if self.mode != "standalone":
            raise _HttpError(404)
        pending = self._pending(request, "enroll")
        if pending is None:
            return self._redirect(self.origin + self.prefix + "/login")
        username = pending["username"]
        data = json.loads(pending["data"] or "{}")
        if not data.get("secret"):
            data["secret"] = self.box.seal(security.new_totp_secret(), "pending:" + pending["id_hash"])
            self.store.execute("UPDATE pending_logins SET data = ? WHERE id_hash = ?",
                               (json.dumps(data), pending["id_hash"]))
        secret = self.box.open(data["secret"], "pending:" + pending["id_hash"])
        uri = security.provisioning_uri(secret, username, self.cfg["login"]["totp_issuer"])
        svg = segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#12344d")
        error = ""
        if request.method == "POST":
            if not self._check_csrf(request, "enroll"):
                return self._csrf_failed(request, nonce, "enroll")
            ip = self.client_ip(request) or ""
            step = security.totp_match(secret, request.form().get("code") or "", 0)
            if step is not None:
                codes = security.new_recovery_codes()
                with self.store.transaction() as conn:
                    conn.execute("UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE username = ?",
                                 (self.box.seal(secret, "totp:" + username), step, username))
                    conn.execute("DELETE FROM recovery_codes WHERE username = ?", (username,))
                    for code in codes:
                        conn.execute("INSERT INTO recovery_codes (username, code_hash) VALUES (?, ?)",
                                     (username, security.recovery_code_hash(self.box_key, username, code)))
                self.store.audit("mfa_enrolled", username=username, ip=ip, method="POST", path=request.path)
                next_path, headers = self._finish_login(request, pending, ["pwd", "otp", "mfa"])
                return 200, self._page("Recovery codes", pages.recovery_codes(codes, self.origin + next_path),
                                       nonce), headers
            self.store.audit("mfa_enroll_failed", username=username, ip=ip, method="POST", path=request.path)
            error = "That code did not match. Check the time on your phone and try again."
        elif request.method != "GET":
            raise _HttpError(405)
        csrf, headers = self._csrf(request, "enroll")
        return 200, self._page("Set up two-step sign-in",
                               pages.enroll_form(request.path, csrf, "", svg, secret, error), nonce), headers

    def _page_identity(self, request):
        """(session, subject, identity) for the pages that need someone signed in."""
        ip = self.client_ip(request) or ""
        if self.mode == "cloudflare":
            identity = self.cf_identity(request)
            if identity is None or identity.kind != "user":
                return None, None, None
            session = self.load_session(request, ip, request.path, request.method)
            if session is not None and session.username != identity.email:
                session = None
            return session, self.cf_subject(identity, ip), identity
        session = self.load_session(request, ip, request.path, request.method)
        if session is None:
            return None, None, None
        return session, self.user_subject(session, ip), None

    def _need_login(self, request, nonce):
        if self.mode == "cloudflare":
            return 403, self._page("Access denied", pages.message("A valid Cloudflare Access sign-in is required."),
                                   nonce), []
        target = quote(self._next(request.arg("next")), safe="")
        return self._redirect(self.origin + self.prefix + "/login?next=" + target)

    def _policy_for(self, name, key):
        policy_obj = self.policies.get(name)
        if policy_obj is None or not policy_obj[key]["required"]:
            raise _HttpError(400)
        return policy_obj

    def page_justify(self, request, nonce):
        source = request.form() if request.method == "POST" else {
            "policy": request.arg("policy"), "next": request.arg("next")}
        name = source.get("policy") or ""
        policy_obj = self._policy_for(name, "purpose_justification")
        next_path = self._next(source.get("next"))
        session, subject, identity = self._page_identity(request)
        if subject is None:
            return self._need_login(request, nonce)
        prompt = policy_obj["purpose_justification"]["prompt"]
        error = ""
        if request.method == "POST":
            if not self._check_csrf(request, "justify"):
                return self._csrf_failed(request, nonce, "justify")
            reason = " ".join((source.get("reason") or "").split())
            if 10 <= len(reason) <= 1000:
                headers = []
                if session is None:  # Cloudflare mode: a gateway session holds the justification
                    session_hash, cookie = self.create_session(identity.email, False, identity.amr,
                                                               self.client_ip(request) or "")
                    headers.append(cookie)
                else:
                    session_hash = session.id_hash
                self.store.execute("INSERT OR REPLACE INTO justifications (session_hash, policy, text, time)"
                                   " VALUES (?, ?, ?, ?)", (session_hash, name, reason, _now()))
                self.store.audit("justification", username=subject.username or subject.email,
                                 ip=self.client_ip(request) or "", method="POST", path=next_path, policy=name,
                                 text=reason)
                return self._redirect(self.origin + next_path, headers)
            error = "Please describe the purpose in 10 to 1000 characters."
        elif request.method != "GET":
            raise _HttpError(405)
        csrf, headers = self._csrf(request, "justify")
        return 200, self._page("Purpose of access", pages.justify_form(
            self.prefix + "/justify", csrf, next_path, name, prompt, error), nonce), headers

    # -- approvals --------------------------------------------------------------------------------

    def _expire_requests(self):
        now = _now()
        for row in self.store.all("SELECT id, username, policy FROM approval_requests WHERE status = 'pending'"
                                  " AND expires < ?", (now,)):
            if self.store.execute("UPDATE approval_requests SET status = 'expired', decided_at = ? WHERE id = ?"
                                  " AND status = 'pending'", (now, row["id"])).rowcount:
                self.store.audit("approval_expired", username=row["username"], policy=row["policy"],
                                 request_id=row["id"])

    def page_approval(self, request, nonce):
        """The requester's page: ask for approval, then wait for it."""
        source = request.form() if request.method == "POST" else {
            "policy": request.arg("policy"), "next": request.arg("next")}
        name = source.get("policy") or ""
        policy_obj = self._policy_for(name, "approval")
        next_path = self._next(source.get("next"))
        session, subject, _identity = self._page_identity(request)
        if subject is None:
            return self._need_login(request, nonce)
        if session is None:
            return self._redirect(self._ui_url("justify", next_path, policy=name))
        self._expire_requests()
        now = _now()
        ip = self.client_ip(request) or ""
        latest = self.store.one("SELECT * FROM approval_requests WHERE session_hash = ? AND policy = ?"
                                " ORDER BY id DESC LIMIT 1", (session.id_hash, name))
        if latest is not None and latest["status"] == "approved" and latest["grant_expires"] > now:
            return self._redirect(self.origin + next_path)
        if request.method == "POST":
            if not self._check_csrf(request, "approval"):
                return self._csrf_failed(request, nonce, "approval")
            if latest is None or latest["status"] != "pending":
                justification = self.store.one("SELECT text FROM justifications WHERE session_hash = ? AND policy = ?",
                                               (session.id_hash, name))
                reason = justification["text"] if justification else ""
                cursor = self.store.execute(
                    "INSERT INTO approval_requests (username, email, session_hash, policy, reason, path, created,"
                    " expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (subject.username or subject.email, subject.email, session.id_hash, name, reason,
                     next_path.split("?", 1)[0], now, now + self.cfg["approvals"]["request_ttl_seconds"]))
                self.store.audit("approval_requested", username=subject.username or subject.email, ip=ip,
                                 method="POST", path=next_path, policy=name, request_id=cursor.lastrowid,
                                 reason=reason)
            return self._redirect(self._ui_url("approval", next_path, policy=name))
        if request.method != "GET":
            raise _HttpError(405)
        if latest is not None and latest["status"] == "pending":
            body = pages.message("Your request #%d is waiting for approval. This page refreshes by itself; an approver"
                                 " opens %s%s/approvals to decide." % (latest["id"], self.origin, self.prefix))
            return 200, self._page("Waiting for approval", body, nonce, refresh=15), []
        note = ""
        if latest is not None:
            note = pages.message("Your last request was %s." % latest["status"])
        csrf, headers = self._csrf(request, "approval")
        body = (note + "<p>Access to this part of OSCAR needs approval from: %s.</p>" % pages.esc(", ".join(
            g["name"] or ", ".join(g["emails"]) for g in policy_obj["approval"]["groups"]))
            + '<form method="post" action="%s/approval">' % self.prefix + pages.hidden("csrf", csrf)
            + pages.hidden("policy", name) + pages.hidden("next", next_path)
            + '<button type="submit">Request access</button></form>')
        return 200, self._page("Approval needed", body, nonce), headers

    def _approver_groups(self, policy_obj, email):
        return [g for g in policy_obj["approval"]["groups"] if email and email in g["emails"]]

    def page_approvals(self, request, nonce):
        """The approvers' page: pending requests they may decide, never their own."""
        _session, subject, _identity = self._page_identity(request)
        if subject is None:
            return self._need_login(request, nonce)
        self._expire_requests()
        email = subject.email
        me = subject.username or subject.email
        ip = self.client_ip(request) or ""
        message = ""
        if request.method == "POST":
            if not self._check_csrf(request, "approvals"):
                return self._csrf_failed(request, nonce, "approvals")
            form = request.form()
            decision = form.get("decision")
            try:
                request_id = int(form.get("request_id") or "0")
            except ValueError:
                request_id = 0
            row = self.store.one("SELECT * FROM approval_requests WHERE id = ?", (request_id,))
            policy_obj = self.policies.get(row["policy"]) if row else None
            if decision not in ("approve", "deny") or row is None or policy_obj is None:
                message = "That request does not exist."
            elif row["username"] == me or (email and row["email"] == email):
                self.store.audit("approval_self_refused", username=me, ip=ip, method="POST", path=request.path,
                                 policy=row["policy"], request_id=row["id"])
                message = "You cannot approve your own request."
            elif not self._approver_groups(policy_obj, email):
                self.store.audit("approval_not_approver", username=me, ip=ip, method="POST", path=request.path,
                                 policy=row["policy"], request_id=row["id"])
                message = "You are not an approver for this request."
            elif row["status"] != "pending" or row["expires"] < _now():
                message = "That request is no longer pending."
            else:
                message = self._vote(row, policy_obj, me, email, decision, ip, request.path)
        rows = self.store.all("SELECT * FROM approval_requests WHERE status = 'pending' AND expires >= ? ORDER BY id",
                              (_now(),))
        csrf, headers = self._csrf(request, "approvals")
        items = []
        for row in rows:
            policy_obj = self.policies.get(row["policy"])
            if policy_obj is None or not self._approver_groups(policy_obj, email):
                continue
            if row["username"] == me or (email and row["email"] == email):
                continue
            buttons = "".join(
                '<form class="inline" method="post" action="%s/approvals">%s%s%s'
                '<button type="submit" class="%s">%s</button></form>'
                % (self.prefix, pages.hidden("csrf", csrf), pages.hidden("request_id", str(row["id"])),
                   pages.hidden("decision", d), "danger" if d == "deny" else "", label)
                for d, label in (("approve", "Approve"), ("deny", "Deny")))
            items.append("<tr><td>#%d</td><td>%s<br><span class=\"muted\">%s</span></td><td>%s</td><td>%s</td></tr>"
                         % (row["id"], pages.esc(row["username"]), pages.esc(row["policy"]),
                            pages.esc(row["reason"]), buttons))
        body = pages.message(message) if message else ""
        if items:
            body += ("<table><tr><th>#</th><th>Who</th><th>Purpose</th><th></th></tr>%s</table>" % "".join(items))
        else:
            body += "<p>No requests are waiting for you.</p>"
        return 200, self._page("Access requests", body, nonce), headers

    def _vote(self, row, policy_obj, me, email, decision, ip, path):
        now = _now()
        inserted = self.store.execute(
            "INSERT OR IGNORE INTO approval_votes (request_id, approver, approver_email, decision, time)"
            " VALUES (?, ?, ?, ?, ?)", (row["id"], me, email, decision, now)).rowcount
        if not inserted:
            return "You already decided on this request."
        self.store.audit("approval_vote", username=me, ip=ip, method="POST", path=path, policy=row["policy"],
                         request_id=row["id"], decision=decision, requester=row["username"])
        votes = self.store.all("SELECT * FROM approval_votes WHERE request_id = ?", (row["id"],))
        if any(v["decision"] == "deny" for v in votes):
            if self.store.execute("UPDATE approval_requests SET status = 'denied', decided_at = ? WHERE id = ?"
                                  " AND status = 'pending'", (now, row["id"])).rowcount:
                self.store.audit("approval_denied", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=me)
            return "Request #%d denied." % row["id"]
        approvals = set(v["approver_email"] for v in votes if v["decision"] == "approve")
        approvals.discard(row["email"])
        if all(len(approvals & set(g["emails"])) >= g["approvals_needed"] for g in policy_obj["approval"]["groups"]):
            grant = now + self.cfg["approvals"]["grant_seconds"]
            if self.store.execute("UPDATE approval_requests SET status = 'approved', decided_at = ?, grant_expires = ?"
                                  " WHERE id = ? AND status = 'pending'", (now, grant, row["id"])).rowcount:
                self.store.audit("approval_granted", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=sorted(approvals), until=grant)
            return "Request #%d approved." % row["id"]
        return "Your approval of request #%d is recorded; more approvals are needed." % row["id"]

    def page_logout(self, request, nonce):
        if request.method == "GET":
            csrf, headers = self._csrf(request, "logout")
            body = ('<form method="post" action="%s/logout">%s<button type="submit">Sign out</button></form>'
                    % (self.prefix, pages.hidden("csrf", csrf)))
            return 200, self._page("Sign out", body, nonce), headers
        if request.method != "POST":
            raise _HttpError(405)
        if not self._check_csrf(request, "logout"):
            return self._csrf_failed(request, nonce, "logout")
        token = self._token_from_cookie(request.cookie(SESSION_COOKIE), "session")
        if token:
            row = self.store.one("SELECT username FROM sessions WHERE id_hash = ? AND revoked_at IS NULL",
                                 (security.token_hash(token),))
            if row and self.store.end_session(security.token_hash(token), "logout"):
                self.store.audit("logout", username=row["username"], ip=self.client_ip(request) or "",
                                 method="POST", path=request.path)
        target = self.origin + ("/cdn-cgi/access/logout" if self.mode == "cloudflare" else self.prefix + "/login")
        return self._redirect(target, [self._clear_cookie(SESSION_COOKIE)])


def _header_safe(value):
    """Identity header values: printable ASCII only (nginx copies them into OSCAR's request)."""
    return "".join(ch for ch in (value or "") if 0x20 <= ord(ch) < 0x7F)[:512]
