# Copyright: contributors to oscar_emr.remote_access
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OSCAR request paths: the one normalizer and the one path policy shared by nginx and the gateway.

Standard library only, no Ansible import: the access gateway imports this file as a plain module
(copy it, or put the collection on ``sys.path``) so that it decides on exactly the path the nginx
front door routed on. The nginx role renders the same regular expressions into ``nginx.conf``
through the ``oscar_emr.remote_access.oscar_paths_*`` filters, so the two can never drift apart.

Contract of :func:`normalize` (what both sides rely on)
--------------------------------------------------------

Input: the *raw* path of a request target, exactly as it came over the wire, up to (not
including) the first ``?``. :func:`normalize_target` accepts a whole target or the
``X-Original-URL`` nginx sends (``https://host/path?query``) and strips scheme, authority and query.

A raw path is **canonical** when all of these hold (anything else raises :class:`AmbiguousPath`;
nginx answers those requests 400 before any other rule runs):

1. it starts with ``/``;
2. it may end with exactly one ``;jsessionid=VALUE`` (name in any case, ``VALUE`` made of
   ``A-Z a-z 0-9 . _ -``), which Tomcat uses for URL session tracking; it is split off;
3. the rest contains only RFC 3986 path characters other than ``;``:
   ``A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , = : @ /`` and ``%HH`` escapes;
   so no other ``;`` path parameter (Tomcat strips them per segment, which turns ``/..;/`` into
   ``/../``), no backslash, no space, no control or raw non-ASCII byte;
4. no ``%HH`` escape encodes a character that changes the path's structure or meaning:
   ``.`` ``/`` ``\\`` ``;`` ``%`` ``?`` ``#`` or a control character (``%00``-``%1F``, ``%7F``);
   other escapes (``%61`` for ``a``, ``%C3%A9`` for ``é``) are allowed and decoded;
5. it has no empty segment (``//``) and no ``.`` or ``..`` segment.

Because the structure (slashes, dots, parameters) of a canonical path is literal, Tomcat's
decoding and normalization and nginx's (``$uri``) both resolve it to the same path:

* ``decision_path``: the percent-decoded path without the ``;jsessionid`` suffix. Bytes that are
  not UTF-8 are kept as lone surrogates (``surrogateescape``), so
  ``decision_path.encode("utf-8", "surrogateescape")`` is byte for byte nginx's ``$uri`` minus the
  suffix. Every rule of this module decides on it.
* ``upstream_path``: the raw path unchanged; nginx passes it to Tomcat as received
  (``proxy_pass`` without a URI part), and Tomcat decodes it to ``decision_path``.

Path rules compare on one canonical spelling, :func:`rule_form`, on both sides (nginx's blocked list and the
gateway's policy paths), and treat ``/`` and ``;`` as the end of a name, so ``/manager;x`` or ``/drugref2/``
match. How Tomcat resolves the spellings a rule must not miss:

* letter case: Tomcat's mapper is case-sensitive, but a request can still end at the same resource in another
  case (a case-insensitive file system under the webapp, a filter or a servlet that compares without case);
  rules therefore compare without case: ``/oscar/ADMIN`` and ``/oscar/%41dmin`` are ``/oscar/admin``;
* %-escapes: Tomcat decodes the path before mapping; rules see the decoded path (``decision_path``);
* trailing ``.`` and spaces of a segment: the file systems Tomcat can serve from drop them (Windows) or a
  resource lookup may trim them; ``/oscar/admin.`` and ``/oscar/admin%20`` are ``/oscar/admin``.

Folding only ever makes a rule cover more spellings; for a deny or a blocked path that refuses more, and for an
allow or bypass rule the extra spellings are names Tomcat serves as the same resource or not at all.
"""

import re
from collections import namedtuple

__all__ = [
    "BLOCKED_PATHS",
    "AmbiguousPath",
    "BlockedPath",
    "NormalizedPath",
    "blocked_entries",
    "blocked_regex",
    "canonical_regex",
    "is_blocked",
    "is_login_path",
    "is_machine_path",
    "login_regex",
    "machine_regex",
    "normalize",
    "normalize_target",
    "rule_form",
]

DEFAULT_CONTEXT = "/oscar"

# One blocked entry: ``kind`` is "prefix" (the path is VALUE or continues with / or ;) or
# "contains" (VALUE appears anywhere); VALUE may start with {context} for OSCAR's context path.
BlockedPath = namedtuple("BlockedPath", ["value", "kind", "reason"])

# The built-in list of what must never be reachable through the front door (oscar-facts 5.4).
BLOCKED_PATHS = (
    BlockedPath("/manager", "prefix", "Tomcat Manager"),
    BlockedPath("/host-manager", "prefix", "Tomcat Host Manager"),
    BlockedPath("/docs", "prefix", "Tomcat documentation"),
    BlockedPath("/examples", "prefix", "Tomcat examples"),
    BlockedPath("{context}/monitoring", "prefix", "JavaMelody (default credentials on Open-OSP)"),
    BlockedPath("/drugref", "prefix", "DrugRef, unauthenticated"),
    BlockedPath("/drugref2", "prefix", "DrugRef 2, unauthenticated"),
    BlockedPath("ForPdfGenerationServlet", "contains",
                "eForm PDF servlets trust 127.0.0.1 without login; a proxy on the OSCAR host is 127.0.0.1"),
    BlockedPath("/OscarDocument", "prefix", "legacy document tree inside webapps"),
    BlockedPath("/faxWs", "prefix", "FaxWS web service"),
    BlockedPath("/Expedius", "prefix", "Expedius lab downloader"),
    BlockedPath("/oscar_apps", "prefix", "kiosk (oscar_apps)"),
)

_PCHAR = r"(?:[a-z0-9\-._~!$&'()*+,=:@]|%(?!2[35ef]|3[bf]|5c|[01][0-9a-f]|7f)[0-9a-f]{2})"
_SEGMENT = r"/(?!\.\.?(?:[/;?]|$))" + _PCHAR + "+"
_JSESSIONID = r";jsessionid=[a-z0-9._\-]+"
# Whole request target (path and optional query), compared case-insensitively.
_CANONICAL_TARGET = "^(?:" + _SEGMENT + ")*/?(?:" + _JSESSIONID + r")?(?:\?.*)?$"
_CANONICAL_TARGET_RE = re.compile(_CANONICAL_TARGET, re.IGNORECASE | re.DOTALL)
_SESSION_SUFFIX_RE = re.compile("(" + _JSESSIONID + ")$", re.IGNORECASE)
# What may follow a segment of a rule's path and still name it (rule_form), as a regex between two segments.
_TRAILING = "[. ]*/"
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,=:@/{}]+$")

NormalizedPath = namedtuple("NormalizedPath", ["decision_path", "upstream_path", "session_param"])


class AmbiguousPath(ValueError):
    """The raw path has no single meaning both nginx and Tomcat agree on: refuse it (400)."""


def canonical_regex():
    """PCRE (also Python ``re``) matching a canonical request target, path plus optional query.

    Compare case-insensitively (nginx ``~*``, Python ``re.IGNORECASE``) against ``$request_uri``.
    """
    return _CANONICAL_TARGET


def normalize(raw_path):
    """Normalize a raw request path, or raise AmbiguousPath. See the module docstring."""
    if not isinstance(raw_path, str):
        raise AmbiguousPath("path must be text")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in raw_path):
        raise AmbiguousPath("control, space or non-ASCII character in path: %r" % (raw_path,))
    if "?" in raw_path or not raw_path.startswith("/") or not _CANONICAL_TARGET_RE.match(raw_path):
        raise AmbiguousPath("not a canonical path: %r" % (raw_path,))
    session = None
    path = raw_path
    match = _SESSION_SUFFIX_RE.search(raw_path)
    if match:
        session = match.group(1)
        path = raw_path[: match.start()]
    decoded = _percent_decode(path)
    return NormalizedPath(decoded or "/", raw_path, session)


def rule_form(path):
    """The one spelling path rules compare on: lower case, each segment without trailing dots and spaces.

    ``path`` is a ``decision_path`` (decoded) or a rule's own path; ``/oscar/Admin. /x`` becomes ``/oscar/admin/x``.
    :func:`blocked_regex` matches the same spellings in nginx, where the decoded ``$uri`` is all there is.
    """
    return "/".join(segment.rstrip(". ") for segment in path.lower().split("/"))


def normalize_target(target):
    """Normalize a request target or absolute URL (``X-Original-URL``): scheme, host and query dropped."""
    if not isinstance(target, str):
        raise AmbiguousPath("target must be text")
    rest = target
    match = re.match(r"^[a-z][a-z0-9+.\-]*://[^/?#]*", rest, re.IGNORECASE)
    if match:
        rest = rest[match.end():]
    if "#" in rest:
        raise AmbiguousPath("fragment in request target")
    return normalize(rest.split("?", 1)[0])


def _percent_decode(path):
    out = bytearray()
    i = 0
    data = path.encode("ascii")
    while i < len(data):
        if data[i] == 0x25:  # '%'
            out.append(int(data[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out).decode("utf-8", "surrogateescape")


def _check_name(value, what):
    if not isinstance(value, str) or not value or not _SAFE_NAME_RE.match(value) or "%" in value:
        raise ValueError("%s %r: use plain path characters only" % (what, value))


def _expand(value, context):
    return value.replace("{context}", context)


def _context(context):
    context = context or DEFAULT_CONTEXT
    _check_name(context, "context path")
    if not context.startswith("/") or context.endswith("/") or "//" in context:
        raise ValueError("context path %r: must start with / and not end with /" % (context,))
    return context


def _entries(context, extra):
    entries = list(BLOCKED_PATHS)
    for item in extra or ():
        if isinstance(item, str):
            item = BlockedPath(item, "prefix", "inventory")
        elif isinstance(item, dict) and set(item) <= {"path", "value", "kind", "reason"}:
            item = BlockedPath(item.get("path") or item.get("value"), item.get("kind", "prefix"),
                               item.get("reason", "inventory"))
        else:
            raise ValueError("blocked path %r: give a path string or a dict with path and kind" % (item,))
        entries.append(item)
    out = []
    for entry in entries:
        _check_name(entry.value, "blocked path")
        if entry.kind not in ("prefix", "contains"):
            raise ValueError("blocked path %r: kind must be prefix or contains" % (entry.value,))
        value = _expand(entry.value, context)
        if entry.kind == "prefix" and (not value.startswith("/") or value.endswith("/") or "//" in value):
            raise ValueError("blocked prefix %r: must start with / and not end with /" % (entry.value,))
        out.append(BlockedPath(value, entry.kind, entry.reason))
    return out


def blocked_entries(context=DEFAULT_CONTEXT, extra=()):
    """The built-in entries plus ``extra``, validated, with ``{context}`` expanded."""
    return _entries(_context(context), extra)


def blocked_regex(context=DEFAULT_CONTEXT, extra=()):
    """PCRE (and Python ``re``) matching every blocked path; compare case-insensitively.

    Applied by nginx to ``$uri`` (which may still end with ``;jsessionid=...``) and by
    :func:`is_blocked` to a ``decision_path``; ``/`` and ``;`` end a prefix, so both agree.
    ``extra`` adds inventory entries: a plain string is a prefix; a dict has ``path`` and
    optionally ``kind`` (prefix or contains).
    """
    context = _context(context)
    # Each segment of a prefix may be followed by dots and spaces (see rule_form), in nginx as in Python.
    prefixes = ["/" + _TRAILING.join(re.escape(segment) for segment in rule_form(e.value)[1:].split("/"))
                for e in _entries(context, extra) if e.kind == "prefix"]
    contains = [re.escape(e.value) for e in _entries(context, extra) if e.kind == "contains"]
    parts = []
    if prefixes:
        parts.append("^(?:" + "|".join(prefixes) + ")" + _TRAILING[:-1] + "(?:[/;]|$)")
    if contains:
        parts.append("(?:" + "|".join(contains) + ")")
    return "|".join(parts)


def is_blocked(decision_path, context=DEFAULT_CONTEXT, extra=()):
    """True when a normalized path must never reach OSCAR."""
    return re.search(blocked_regex(context, extra), decision_path, re.IGNORECASE) is not None


def machine_regex(context=DEFAULT_CONTEXT):
    """Paths for integration servers only: SOAP/REST web services and lab/kiosk uploads."""
    ctx = re.escape(_context(context))
    # CXF is mapped to /ws/*, which also serves the bare /ws (the list of services): both are web services.
    return "^" + ctx + r"/(?:ws(?:[/;]|$)|lab/[^/;]*Upload\.do(?:;|$))"


def login_regex(context=DEFAULT_CONTEXT):
    """Credential-checking paths rate-limited per client: login.do, ws/LoginService, ws/oauth/."""
    ctx = re.escape(_context(context))
    return "^" + ctx + r"/(?:login\.do(?:;|$)|ws/LoginService(?:[/;]|$)|ws/oauth/)"


def is_machine_path(decision_path, context=DEFAULT_CONTEXT):
    """True for paths only the inventory's integration sources may reach."""
    return re.search(machine_regex(context), decision_path, re.IGNORECASE) is not None


def is_login_path(decision_path, context=DEFAULT_CONTEXT):
    """True for paths that check credentials and are rate-limited per client IP."""
    return re.search(login_regex(context), decision_path, re.IGNORECASE) is not None
