"""``/auth``: the answer to nginx's ``auth_request`` for every request to OSCAR.

200 (with identity headers), 401 (``Location``: where the browser goes next) or 403, never anything else: any
exception inside the decision is a 403. Which policy applies is the shared evaluator's answer
(``_access_policy/decision.py``); this file adds what only the gateway knows: the request's facts, sessions,
per-policy MFA and session age, justification and approval, the audit and nginx's cache.
"""

import functools
import operator
import re
import threading
import time
import traceback
from urllib.parse import urlsplit

from . import _shared, front_door, paths, web
from .remembered import Remembered

_ap = _shared.access_policy_module()
_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")
# Access token "amr" values that show a second factor (Cloudflare passes the identity provider's).
MFA_AMR = ("mfa", "otp", "hwk", "swk")
_NO_STORE = ("Cache-Control", "no-store")
_NO_CACHE = ("X-Accel-Expires", "0")
# Requests let through without a person signed in: by a service token (the Access token names the token's Client ID,
# ``common_name``, and no email), or by a bypass policy (by address, or for everyone on a path). The report shows
# them by these events (plugins/module_utils/_access_report/model.py).
SERVICE_TOKEN_EVENT = "access_service_token"  # noqa: S105 - an event name, not a secret
BYPASS_EVENT = "access_bypass"
# One record per way in, account, address and policy in this many seconds: an integration polling every few seconds
# must not flood the audit store (nginx's decision cache already hides most repeats from the gateway).
UNATTENDED_WINDOW_SECONDS = 300
_subject_fields = operator.attrgetter(*_ap.Subject.__slots__)  # every field of a subject, as one tuple


class UnattendedAudit:
    """The audit of requests let through without a person: the first of each window per (event, account, address,
    policy) is recorded, with the window's length in its detail (``window_seconds``) so a reader knows the use may
    have gone on that long after the last record. Remembered in memory (one gateway process, many threads): a restart
    records the next request again, never fewer."""

    MAX_KEYS = 10000

    def __init__(self, store, window=UNATTENDED_WINDOW_SECONDS, clock=time.time):
        self.store = store
        self.window = window
        self.clock = clock
        self._last = {}
        self._lock = threading.Lock()

    def record(self, event, username, ip, method, path, policy, **detail):
        """Audit this request unless one like it was audited less than ``window`` seconds ago; True if audited."""
        now = self.clock()
        key = (event, username, ip, policy)
        with self._lock:
            last = self._last.get(key)
            if last is not None and 0 <= now - last < self.window:
                return False
            if len(self._last) >= self.MAX_KEYS:  # many addresses: forget the windows that are over
                self._last = {k: t for k, t in self._last.items() if 0 <= now - t < self.window}
                if len(self._last) >= self.MAX_KEYS:
                    self._last = {}  # more records then, never fewer
            self._last[key] = now
        self.store.audit(event, username=username, ip=ip, method=method, path=path, policy=policy,
                         window_seconds=self.window, **detail)
        return True


class DecisionEndpoint:
    def __init__(self, cfg, store, path_rules, evaluator, identities, ui):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.host = cfg["public_host"]
        self.store = store
        self.paths = path_rules
        self.evaluator = evaluator
        self.identities = identities
        self.ui = ui
        self.unattended = UnattendedAudit(store)
        # Pure results remembered per decision's inputs: the target URL, the path and subject, the person.
        self._splits = Remembered()
        self._decisions = Remembered()
        self._identity_values = Remembered()

    def __call__(self, request):
        """(status, headers) with status 200, 401 or 403 only."""
        try:
            return self._decide(request)
        except Exception:  # noqa: BLE001 - fail closed: any error is a refusal
            web.log("decision error (answered 403): %s" % traceback.format_exc())
            try:
                self.store.audit("denied", ip=request.client_ip() or "", reason="internal error")
            except Exception:  # noqa: BLE001, S110 - the refusal stands even if the audit write fails
                pass
            return 403, [_NO_STORE, _NO_CACHE]

    def _deny(self, reason, ip="", path="", method="", username="", policy_name="", audit=True):
        if audit:
            self.store.audit("denied", username=username, ip=ip or "", method=method, path=path,
                             policy=policy_name, reason=reason)
        return 403, [_NO_STORE, _NO_CACHE]

    @staticmethod
    def _redirect401(location):
        return 401, [("Location", location), _NO_STORE, _NO_CACHE]

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

    def _split_remembered(self, request):
        """``_split_original``, remembered per X-Original-URL (a pure function of it and the configuration; the same
        pages are asked for over and over). Refusals are not remembered."""
        url = request.header("X-Original-URL")
        found = self._splits.get(url)
        if found is None:
            found = self._splits.put(url, self._split_original(request))
        return found

    def _evaluate(self, path, subject):
        """The shared evaluator's (outcome, policy), remembered per path and subject: a pure function of the two and of
        the access-policy model, which does not change while the gateway runs. Every field of the subject is part of
        the key (whatever the evaluator may read of it)."""
        key = (path, _subject_fields(subject))
        found = self._decisions.get(key)
        if found is None:
            found = self._decisions.put(key, self.evaluator.decide(path, subject))
        return found

    def _decide(self, request):
        now = time.time()
        method = request.header("X-Original-Method") or "GET"
        if not _METHOD_RE.match(method):
            return self._deny("bad method")
        ip = request.client_ip()
        if ip is None:
            return self._deny("no trustworthy client address", method=method)
        try:
            path, target = self._split_remembered(request)
        except paths.PathRejected as exc:
            return self._deny("path refused: %s" % str(exc)[:120], ip=ip, method=method)
        if self.paths.is_blocked(path):
            return self._deny("blocked path", ip=ip, method=method, path=path)

        session, subject, identity = self.identities.identify(request, ip, path, method)
        outcome, matched = self._evaluate(path, subject)
        name = matched["name"] if matched else ""
        if outcome == _ap.BYPASS:
            # Whoever it is (a person signed in may be in the bypassed network too), the policy let the address in.
            self.unattended.record(BYPASS_EVENT, subject.username or subject.email, ip, method, path, name)
            return 200, self._identity_headers(None, cache=True)
        if outcome == _ap.SERVICE:
            self._service_token_used(subject, ip, method, path, name)
            return 200, self._identity_headers(subject, cache=True)
        if outcome == _ap.DENY:
            if self.mode == "cloudflare" and identity is None:
                return self._deny("no valid Cloudflare Access token", ip, path, method, policy_name=name)
            return self._deny("policy" if matched else "no policy allows this path", ip, path, method,
                              subject.username or subject.email, name)
        if outcome == _ap.LOGIN:
            if self.mode == "cloudflare":
                return self._deny("no valid Cloudflare Access token", ip, path, method, policy_name=name)
            return self._redirect401(self.ui.url("login", target))

        # Allowed by policy: the per-policy controls.
        if self.mode == "standalone":
            mfa = matched["mfa"]
            if (mfa["required"] or self.cfg["login"]["mfa_required"]) and not session.mfa:
                return self._redirect401(self.ui.url("login", target))
            if mfa["required"] and not _ap.authenticator_allowed(mfa["allowed_authenticators"], session.amr):
                # Signed in with a second factor this policy does not take (a TOTP code where it wants a security
                # key): sign in again, with a passkey when that is what it takes.
                self.store.audit("authenticator_refused", username=session.username, ip=ip, method=method,
                                 path=path, policy=name, methods=sorted(session.amr),
                                 allowed=mfa["allowed_authenticators"])
                page = "passkey" if "security_key" in mfa["allowed_authenticators"] else "login"
                return self._redirect401(self.ui.url(page, target))
            age = now - session.created
            limit = self._seconds(matched.get("session_duration"))
            mfa_limit = self._seconds(mfa.get("session_duration")) if mfa["required"] else None
            if (limit and age > limit) or (mfa_limit and age > mfa_limit):
                self.store.audit("session_too_old", username=session.username, ip=ip, method=method, path=path,
                                 policy=name)
                return self._redirect401(self.ui.url("login", target))
        else:
            if "cloudflare" not in matched["targets"] and matched["mfa"]["required"] and not any(
                    a in identity.amr for a in MFA_AMR):
                return self._deny("policy requires MFA the Access token does not show", ip, path, method,
                                  identity.email, name)
            limit = self._seconds(matched.get("session_duration"))
            if limit and identity.issued_at and now - identity.issued_at > limit:
                return self._redirect401(self.ui.origin + "/cdn-cgi/access/logout")

        if matched["purpose_justification"]["required"]:
            if session is None or self.store.justification(session.id_hash, name) is None:
                return self._redirect401(self.ui.url("justify", target, policy=name))
        if matched["approval"]["required"]:
            if session is None or not self.store.has_approval_grant(session.id_hash, name, now):
                return self._redirect401(self.ui.url("approval", target, policy=name))

        navigation = request.is_navigation()
        if session is not None and navigation:
            self.identities.touch(session)
        if subject.kind == "service":  # a service token an allow policy admits
            self._service_token_used(subject, ip, method, path, name)
        elif navigation and self.cfg["audit_navigations"]:
            self.store.audit("access", username=subject.username or subject.email, ip=ip, method=method, path=path,
                             policy=name)
        return 200, self._identity_headers(subject, cache=not navigation or not self.cfg["audit_navigations"],
                                           session=session)

    def _service_token_used(self, subject, ip, method, path, policy_name):
        self.unattended.record(SERVICE_TOKEN_EVENT, subject.username, ip, method, path, policy_name,
                               service_tokens=sorted(subject.service_tokens))

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _seconds(duration):
        """A policy's duration in seconds; the policies' few strings are parsed once, not on every request."""
        if not duration:
            return None
        seconds = _ap.duration_seconds(duration)
        return seconds or None

    def _identity_headers(self, subject, cache=False, session=None):
        ttl = self.cfg["decision_cache"]["max_age_seconds"] if cache else 0
        if ttl and session is not None:
            now = time.time()
            remaining = min(session.expires - now,
                            session.last_activity + self.cfg["sessions"]["inactivity_seconds"] - now)
            ttl = max(0, min(ttl, int(remaining)))
        # nginx's auth cache (only ever keyed on this session or token) may keep an allow for ttl
        # seconds; no Cache-Control then, as nginx 1.22 lets "no-store" veto X-Accel-Expires.
        headers = [("X-Accel-Expires", str(int(ttl)))]
        if not ttl:
            headers.append(_NO_STORE)
        if subject is None:
            return headers
        key = (subject.username, subject.email, subject.display_name, subject.groups, subject.roles)
        identity = self._identity_values.get(key)
        if identity is None:  # each person's headers are worked out once
            values = (subject.username or subject.email, subject.email, subject.display_name or subject.username,
                      ",".join(sorted(subject.groups | subject.roles)))
            identity = self._identity_values.put(key, tuple(
                (name, web.header_safe(value)) for name, value in zip(front_door.IDENTITY_HEADERS, values)))
        headers.extend(identity)
        return headers
