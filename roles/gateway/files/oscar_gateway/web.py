"""HTTP plumbing: the request, the response with its security headers, cookies, signed tokens and CSRF.

Nothing here knows about users, policies or the database; the handlers (``decision_endpoint``, ``signin``,
``approvals``) build on it.
"""

import functools
import ipaddress
import re
import secrets
import sys
from urllib.parse import parse_qs

from . import security

MAX_BODY = 16 * 1024
MAX_HEADER_VALUE = 8192
# No page of the gateway has more query or form fields; more is a client's mistake (400), never parsed.
MAX_FIELDS = 20
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}\.[0-9a-f]{32}$")
_CSRF_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

STATUS = {
    200: "200 OK", 302: "302 Found", 303: "303 See Other", 400: "400 Bad Request", 401: "401 Unauthorized",
    403: "403 Forbidden", 404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Payload Too Large",
    500: "500 Internal Server Error",
}


def log(message):
    sys.stderr.write("oscar-gateway: %s\n" % message)
    sys.stderr.flush()


class HttpError(Exception):
    """Raised by a page handler to answer with a bare status (the composition renders a short page)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class Request:
    __slots__ = ("_cookies", "_form", "environ", "method", "path", "query")

    def __init__(self, environ):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        try:
            # nginx's auth subrequests (/auth) carry no query: parse_qs is skipped on every decision.
            self.query = parse_qs(query, max_num_fields=MAX_FIELDS) if query else {}
        except ValueError:
            self.query = None  # more fields than any page has: arg() answers 400
        self._cookies = None
        self._form = None

    def header(self, name):
        value = self.environ.get(_environ_key(name))
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

    def replace_cookies(self, header):
        """Let later reads in this request see a cookie just issued (the CSRF cookie of a form)."""
        self._cookies = None
        self.environ["HTTP_COOKIE"] = header

    def arg(self, name):
        if self.query is None:
            raise HttpError(400)
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
                raise HttpError(413)
            body = self.environ["wsgi.input"].read(length) if length else b""
            ctype = (self.environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
            if length and ctype != "application/x-www-form-urlencoded":
                raise HttpError(400)
            try:
                parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
            except ValueError:
                raise HttpError(400) from None
            self._form = {k: v[0] for k, v in parsed.items() if len(v) == 1}
        return self._form

    def client_ip(self):
        """The real client IP nginx resolved (X-Real-IP, or a single-valued X-Forwarded-For); None if untrustworthy."""
        value = self.header("X-Real-IP")
        if value is None:
            value = self.header("X-Forwarded-For")
        if value is None:
            return None
        value = value.strip()
        if "," in value:
            return None  # nginx sets one address; a list means something appended to it
        return _canonical_ip(value)

    def is_navigation(self):
        """A user-initiated page load (counts as activity); background requests do not."""
        if self.header("X-Requested-With"):
            return False
        mode = self.header("Sec-Fetch-Mode")
        if mode is not None:
            dest = self.header("Sec-Fetch-Dest") or ""
            return mode == "navigate" and dest in ("document", "iframe", "frame", "")
        accept = self.header("Accept") or ""
        return "text/html" in accept


def respond(start_response, status, body, headers=(), nonce="x"):
    """Send a page: HTML, never cached, with the security headers every gateway page carries."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    out = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("Content-Security-Policy",
         "default-src 'none'; style-src 'nonce-%s'; script-src 'nonce-%s'; img-src 'self' data:; "
         "form-action 'self'; frame-ancestors 'none'; base-uri 'none'" % (nonce, nonce)),
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


def redirect(location, headers=()):
    """A page handler's answer: 303 to ``location``."""
    return 303, "", [("Location", location), *list(headers)]


def set_cookie(name, value, max_age=None, same_site="Lax"):
    parts = ["%s=%s" % (name, value), "Path=/", "Secure", "HttpOnly", "SameSite=" + same_site]
    if max_age is not None:
        parts.append("Max-Age=%d" % max_age)
    return ("Set-Cookie", "; ".join(parts))


@functools.lru_cache(maxsize=256)
def _environ_key(name):
    """A header's WSGI environ key; the code asks for the same few names on every request."""
    return "HTTP_" + name.upper().replace("-", "_")


@functools.lru_cache(maxsize=4096)
def _canonical_ip(value):
    """The address in its one spelling, or None; the same few clients ask over and over, so parse each once."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def clear_cookie(name):
    return set_cookie(name, "", max_age=0, same_site="Strict")


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


def header_safe(value):
    """Identity header values: printable ASCII only (nginx copies them into OSCAR's request)."""
    return _NOT_PRINTABLE.sub("", value or "")[:512]


class SignedTokens:
    """Random tokens whose cookie carries an HMAC for one purpose (session, login), so a forged or
    cross-purpose cookie is refused before the database is asked."""

    def __init__(self, key):
        self._key = key

    def _sign(self, token, purpose):
        return security.mac(self._key, purpose, token)[:32]

    def new(self, purpose):
        """(token, cookie value)."""
        token = secrets.token_urlsafe(32)
        return token, "%s.%s" % (token, self._sign(token, purpose))

    def from_cookie(self, value, purpose):
        """The token inside a cookie value, or None when it is malformed or not signed for ``purpose``."""
        if not value or not _TOKEN_RE.match(value):
            return None
        token, _sep, signature = value.partition(".")
        if not secrets.compare_digest(signature, self._sign(token, purpose)):
            return None
        return token


class Csrf:
    """Double-submit CSRF: a random ``__Host-`` cookie, and per form its HMAC in a hidden field. A POST also needs
    ``Origin`` (if sent) equal to this origin and ``Sec-Fetch-Site`` (if sent) ``same-origin``."""

    def __init__(self, key, origin, cookie_name):
        self._key = key
        self.origin = origin
        self.cookie_name = cookie_name

    def issue(self, request, form_name):
        """(csrf token for the form, Set-Cookie headers). The cookie is random; the token is its HMAC."""
        value = request.cookie(self.cookie_name)
        headers = []
        if not value or not _CSRF_COOKIE_RE.match(value):
            value = secrets.token_urlsafe(32)
            headers.append(set_cookie(self.cookie_name, value, same_site="Strict"))
            request.replace_cookies("%s=%s" % (self.cookie_name, value))
        return security.mac(self._key, "csrf", form_name, value), headers

    def check(self, request, form_name):
        origin = request.header("Origin")
        if origin is not None and origin != self.origin:
            return False
        site = request.header("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin",):
            return False
        value = request.cookie(self.cookie_name)
        token = request.form().get("csrf", "")
        if not value or not token:
            return False
        expected = security.mac(self._key, "csrf", form_name, value)
        return secrets.compare_digest(token.encode("utf-8", "replace"), expected.encode("ascii"))
