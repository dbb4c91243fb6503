"""Who is asking: the gateway's sessions (cookie, lifetime, inactivity) and the subject the access policy is
evaluated for (a signed-in user, a Cloudflare Access identity or service token, or an anonymous visitor)."""

import functools
import json
import time

from . import _shared, cfaccess, security, web
from .remembered import Remembered
from .store import account_expired

_ap = _shared.access_policy_module()


@functools.lru_cache(maxsize=64)
def _amr(stored):
    """A session's sign-in methods from their stored JSON; the few distinct values are parsed once, not per request."""
    return tuple(json.loads(stored or "[]"))


class Session:
    """A session row as read (never changed afterwards: the store may hand the same one to later requests while the
    database is unchanged)."""

    __slots__ = (
        "account_expires",
        "admin_disabled",
        "amr",
        "created",
        "display_name",
        "email",
        "enabled",
        "expires",
        "id_hash",
        "last_activity",
        "mfa",
        "revoked_at",
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
        self.amr = _amr(row["amr"])
        self.display_name = row["display_name"] or row["username"]
        self.email = row["email"] or ""
        self.role = row["role"] or ""
        self.revoked_at = row["revoked_at"]
        self.enabled = row["enabled"]
        self.admin_disabled = row["admin_disabled"]
        self.account_expires = row["account_expires"]


class Identities:
    """Sessions and subjects. ``verifier`` and ``service_token_ids`` (client id -> token names) are for Cloudflare
    mode only."""

    def __init__(self, cfg, store, evaluator, tokens, session_cookie, verifier=None, service_token_ids=None):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.store = store
        self.evaluator = evaluator
        self.tokens = tokens
        self.session_cookie = session_cookie
        self.verifier = verifier
        self.service_token_ids = service_token_ids or {}
        self._memberships = {}
        self._session_hashes = Remembered()  # valid session cookies' id hashes

    # -- sessions ---------------------------------------------------------------------------------

    def create_session(self, username, mfa, amr, ip):
        """(session id hash, Set-Cookie header)."""
        token, cookie_value = self.tokens.new("session")
        id_hash = security.token_hash(token)
        self.store.create_session(id_hash, username, self.cfg["sessions"]["absolute_seconds"], mfa, amr, ip)
        return id_hash, web.set_cookie(self.session_cookie, cookie_value)

    def session_hash(self, request):
        """The id hash of the session cookie the request carries (signature checked), or None. A pure function of the
        cookie's value and the key: each signed-in browser's value is checked once and remembered (valid ones only, so
        forged values cannot fill the memory), not hashed twice on every request."""
        value = request.cookie(self.session_cookie)
        if not value:
            return None
        id_hash = self._session_hashes.get(value)
        if id_hash is None:
            token = self.tokens.from_cookie(value, "session")
            if not token:
                return None
            id_hash = self._session_hashes.put(value, security.token_hash(token))
        return id_hash

    def load_session(self, request, ip="", path="", method=""):
        """The request's live session, or None; one found expired, inactive or of a disabled user is ended here."""
        id_hash = self.session_hash(request)
        if id_hash is None:
            return None
        session = self.store.session(id_hash, Session)
        if session is None or session.revoked_at is not None:
            return None
        now = time.time()
        reason = None
        if now >= session.expires:
            reason = "expired"
        elif now - session.last_activity > self.cfg["sessions"]["inactivity_seconds"]:
            reason = "inactive"
        elif self.mode == "standalone" and (not session.enabled or session.admin_disabled):
            reason = "user disabled"
        elif self.mode == "standalone" and account_expired(session.account_expires):
            reason = "account expired"
        if reason:
            if self.store.end_session(session.id_hash, reason):
                self.store.audit("session_ended", username=session.username, ip=ip, method=method, path=path,
                                 reason=reason)
            return None
        return session

    def touch(self, session):
        """Record activity, at most once per ``activity_write_seconds``."""
        now = time.time()
        if now - session.last_activity >= self.cfg["sessions"]["activity_write_seconds"]:
            self.store.touch_session(session.id_hash, now)

    # -- subjects ---------------------------------------------------------------------------------

    def _membership(self, username, email, role):
        """(roles, groups) of a person in the access-policy model. The model does not change while the gateway runs
        and the account's role is part of the key: each person's is worked out once, not on every request."""
        key = (username, email, role)
        found = self._memberships.get(key)
        if found is None:
            found = (frozenset(self.evaluator.roles_for(username, email, [role])),
                     frozenset(self.evaluator.groups_for(username, email)))
            if len(self._memberships) < 4096:
                self._memberships[key] = found
        return found

    def user_subject(self, session, ip):
        email = session.email if self.mode == "standalone" else session.username
        username = session.username if self.mode == "standalone" else self.evaluator.model_username(email)
        roles, groups = self._membership(username, email, session.role)
        return _ap.Subject("user", ip, username=username, email=email, display_name=session.display_name,
                           roles=roles, groups=groups, amr=session.amr)

    def cf_subject(self, identity, ip):
        if identity.kind == "service":
            names = self.service_token_ids.get(identity.common_name, set())
            return _ap.Subject("service", ip, username="service:" + identity.common_name,
                               service_tokens=names, country=identity.country)
        email = identity.email
        user = self.store.active_user_by_email(email)
        username = self.evaluator.model_username(email) or (user["username"] if user else "")
        display = (user["display_name"] if user else "") or email
        roles, groups = self._membership(username, email, user["role"] if user else "")
        return _ap.Subject("user", ip, username=username, email=email, display_name=display, roles=roles,
                           groups=groups, amr=identity.amr, country=identity.country)

    def cf_identity(self, request):
        try:
            return self.verifier.verify(request.header("Cf-Access-Jwt-Assertion"))
        except cfaccess.TokenRejected:
            return None

    def identify(self, request, ip, path, method):
        """(session or None, subject, Cloudflare identity or None); the subject is anonymous when nobody is known.

        In Cloudflare mode the Access token says who it is; a gateway session (which holds justifications and
        approvals) counts only when it belongs to that same person.
        """
        if self.mode == "cloudflare":
            identity = self.cf_identity(request)
            if identity is None:
                return None, _ap.Subject("anonymous", ip), None
            session = None
            if identity.kind == "user":
                session = self.load_session(request, ip, path, method)
                if session is not None and session.username != identity.email:
                    session = None
            return session, self.cf_subject(identity, ip), identity
        session = self.load_session(request, ip, path, method)
        if session is None:
            return None, _ap.Subject("anonymous", ip), None
        return session, self.user_subject(session, ip), None

    def signed_in(self, request):
        """(session, subject, identity) for the pages that need a person signed in; (None, None, None) otherwise."""
        session, subject, identity = self.identify(request, request.client_ip() or "", request.path, request.method)
        if subject.kind != "user":
            return None, None, None
        return session, subject, identity
