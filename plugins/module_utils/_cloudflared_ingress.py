# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the oscar_emr.remote_access collection. It can change at any time.
# Do not use it from other collections or standalone plugins.

"""cloudflared's configuration checks, in Python, and the cloudflared role's settings model.

Two layers:

* ``validate_ingress()`` / ``validate_config()`` check ingress rules and a whole ``config.yml`` the way
  ``cloudflared tunnel --config F ingress validate`` does (cloudflare/cloudflared ``ingress/ingress.go``,
  ``config/configuration.go``): the last rule must be a catch-all (no hostname, or ``*``, and no path),
  and only the last; hostnames carry no port and a wildcard only as the first character; paths are
  regular expressions; services are ``unix:``/``unix+tls:`` paths, ``http_status:NNN``, ``hello_world``,
  ``bastion``, ``socks-proxy`` or a URL with a scheme and a host and no path; ``originRequest`` values
  have cloudflared's types (durations as Go duration strings such as ``30s``).
  With ``strict=True`` (what the role uses) a few things cloudflared lets through are errors too,
  because in a clinic's configuration they are always mistakes: a service scheme outside the
  documented ones (``htps://``), a wildcard not written ``*.example.com``, a hostname that is not a
  DNS name, a port outside 1-65535 and an unknown ``originRequest`` key (cloudflared only warns).
* ``settings_problems()``, ``build_config()`` work on the role's variables (without the ``cloudflared_``
  prefix): every problem names the role variable, and secrets never appear in a message.

The file depends on nothing but the Python standard library: the cloudflared test double
(tests/cloudflared_double) bundles it to implement ``ingress validate``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import ipaddress
import json
import re

VAR_PREFIX = "cloudflared_"
CATCH_ALL_SERVICE = "http_status:404"
TOKEN_FILE_MIN_VERSION = (2025, 4, 0)

# Schemes cloudflared documents for URL services; http/https/ws/wss are proxied as HTTP, the others as TCP.
KNOWN_SCHEMES = ("http", "https", "ws", "wss", "tcp", "ssh", "rdp", "smb")
# Where a tunnel's SSH host name leads: sshd on the connector's host, which listens on loopback (management_ssh role).
SSH_SERVICE = "ssh://localhost:22"
# cloudflared's special services (ingress/ingress.go): only these two spellings; "helloworld" is not one.
HELLO_WORLD = ("hello_world", "hello-world")
# Strings cloudflared's YAML decoder (gopkg.in/yaml.v2) reads into a boolean field, quoted or not (YAML 1.1):
# `noTLSVerify: "yes"` turns TLS checking off. Quoted "true"/"false" are refused by cloudflared.
GO_YAML_TRUE = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
GO_YAML_FALSE = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")
# Said wherever the collection refuses what cloudflared itself accepts.
STRICTER = "(cloudflared accepts it; this collection is deliberately stricter)"

DURATION = "duration"
BOOL = "bool"
INT = "int"
UINT = "uint"
STRING = "string"
# originRequest keys and their types (config/configuration.go OriginRequestConfig).
ORIGIN_REQUEST_KEYS = {
    "connectTimeout": DURATION,
    "tlsTimeout": DURATION,
    "tcpKeepAlive": DURATION,
    "noHappyEyeballs": BOOL,
    "keepAliveConnections": INT,
    "keepAliveTimeout": DURATION,
    "httpHostHeader": STRING,
    "originServerName": STRING,
    "matchSNItoHost": BOOL,
    "caPool": STRING,
    "noTLSVerify": BOOL,
    "disableChunkedEncoding": BOOL,
    "bastionMode": BOOL,
    "proxyAddress": STRING,
    "proxyPort": UINT,
    "proxyType": STRING,
    "ipRules": "ipRules",
    "http2Origin": BOOL,
    "access": "access",
}
ACCESS_KEYS = ("required", "teamName", "audTag", "environment")
RULE_KEYS = ("hostname", "path", "service", "originRequest")

# Go's time.ParseDuration syntax: "0", or a sequence of decimal numbers each with a unit.
_DURATION_RE = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_VERSION_RE = re.compile(r"(?:^|\s)version\s+v?(\d{4}\.\d{1,2}\.\d+)")
# Go's regexp (RE2) syntax, for path rules: the escapes it knows, its flags, POSIX classes and repeat limit.
_RE2_ESCAPES = set("afntrvdDsSwWbBAzpPQx01234567")
_RE2_FLAGS = set("imsU")
_RE2_POSIX = ("alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
              "upper", "word", "xdigit")
_RE2_MAX_REPEAT = 1000
_REPEAT_RE = re.compile(r"\{(\d+)(,(\d*))?\}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value):
    return isinstance(value, str)


# ---------------------------------------------------------------------------------------------
# Go semantics cloudflared relies on
# ---------------------------------------------------------------------------------------------


def split_host_port(hostport):
    """Go's net.SplitHostPort: return (host, port) or raise ValueError with Go's reason."""
    j = k = 0
    i = hostport.rfind(":")
    if i < 0:
        raise ValueError("missing port in address")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("missing ']' in address")
        if end + 1 == len(hostport):
            raise ValueError("missing port in address")
        if end + 1 != i:
            if hostport[end + 1] == ":":
                raise ValueError("too many colons in address")
            raise ValueError("missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise ValueError("too many colons in address")
    if "[" in hostport[j:]:
        raise ValueError("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise ValueError("unexpected ']' in address")
    return host, hostport[i + 1:]


def parse_service_url(raw):
    """Parse a service URL the way Go's net/url does for what cloudflared looks at.

    Returns a dict with scheme, host (without brackets), port (string, maybe empty) and path.
    Raises ValueError for what url.Parse refuses.
    """
    rest = raw
    scheme = ""
    # Go's getScheme: letters, then letters, digits, "+", "-", "." up to the first ":".
    for index, char in enumerate(raw):
        if ("a" <= char <= "z") or ("A" <= char <= "Z"):
            continue
        if ("0" <= char <= "9") or char in "+-.":
            if index == 0:
                break
            continue
        if char == ":":
            if index == 0:
                raise ValueError("missing protocol scheme")
            scheme, rest = raw[:index], raw[index + 1:]
        break
    for bad in (" ", "\t", "\n", "\r", "\x7f"):
        if bad in raw:
            raise ValueError("invalid character %r in URL" % bad)
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    if not rest.startswith("//"):
        # Opaque ("localhost:8000" parses as scheme "localhost") or a bare path: no host.
        return {"scheme": scheme.lower(), "host": "", "port": "", "path": rest if not scheme else ""}
    authority, slash, path = rest[2:].partition("/")
    path = slash + path
    host = authority.rpartition("@")[2]
    _check_host_escapes(raw, host)
    port = ""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError("missing ']' in host")
        after = host[end + 1:]
        if after and not after.startswith(":"):
            raise ValueError("invalid port %r after host" % after)
        port = after[1:]
        host = host[1:end]
    elif ":" in host:
        host, port = host.rsplit(":", 1)
        if ":" in host:
            raise ValueError("invalid port %r after host" % (":" + port))
    if port and not port.isdigit():
        raise ValueError("invalid port %r after host" % (":" + port))
    return {"scheme": scheme.lower(), "host": host, "port": port, "path": path}


def _check_host_escapes(raw, host):
    """Go's url.Parse on %-escapes in a host: two hex digits, and below %80 only %25 (an IPv6 zone's %)."""
    hexdigits = "0123456789abcdefABCDEF"
    for index, char in enumerate(host):
        if char != "%":
            continue
        escape = host[index:index + 3]
        if len(escape) < 3 or escape[1] not in hexdigits or escape[2] not in hexdigits:
            raise ValueError('parse "%s": invalid URL escape "%s"' % (raw, escape))
        if int(escape[1], 16) < 8 and escape != "%25":
            raise ValueError('parse "%s": invalid URL escape "%s"' % (raw, escape))


def re2_problem(pattern):
    """Why Go's regexp package (RE2 syntax, what cloudflared compiles paths with) refuses pattern, or None.

    Walks the pattern for what RE2 and Python's re disagree on (escapes such as \\Z, \\C or backreferences,
    (?x), (?#...), lookaround, atomic groups, nested repetition, repeat counts over 1000, POSIX classes),
    translates RE2-only syntax ((?<name>...), \\p{L}, \\Q...\\E, \\z, \\x{41}) and leaves the rest of the
    syntax check to Python's re.
    """
    out = []
    index, length = 0, len(pattern)
    in_class = class_start = False
    last_repeat = False  # the previous token was a repetition operator (RE2 refuses another one after it)

    def repeat_here(at):
        if pattern[at] in "*+?":
            return at + 1
        match = _REPEAT_RE.match(pattern, at)
        if match:
            for number in (match.group(1), match.group(3)):
                if number and int(number) > _RE2_MAX_REPEAT:
                    return -1
            return match.end()
        return None

    while index < length:
        char = pattern[index]
        if char == "\\":
            if index + 1 >= length:
                return "trailing backslash at end of expression"
            nxt = pattern[index + 1]
            if nxt == "Q":
                end = pattern.find("\\E", index + 2)
                literal = pattern[index + 2:] if end < 0 else pattern[index + 2:end]
                out.append(re.escape(literal))
                index = length if end < 0 else end + 2
                last_repeat = False
                continue
            if nxt.isalnum() and nxt not in _RE2_ESCAPES:
                return "invalid escape sequence: `\\%s`" % nxt
            if nxt in "123456789" and not in_class:
                return "invalid escape sequence: `\\%s`" % nxt
            if nxt in "pP":
                if pattern[index + 2:index + 3] == "{":
                    end = pattern.find("}", index + 3)
                    if end < 0 or not pattern[index + 3:end].replace("_", "").isalpha():
                        return "invalid character class range: `%s`" % pattern[index:index + 3]
                    index = end + 1
                elif index + 2 < length and pattern[index + 2].isalpha():
                    index += 3
                else:
                    return "invalid character class range: `%s`" % pattern[index:index + 3]
                out.append("a")
                last_repeat = False
                continue
            if nxt == "x" and pattern[index + 2:index + 3] == "{":
                end = pattern.find("}", index + 3)
                digits = pattern[index + 3:end] if end > 0 else ""
                if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    return "invalid escape sequence: `%s`" % pattern[index:end + 1 if end > 0 else length]
                out.append("a")
                index = end + 1
                last_repeat = False
                continue
            out.append({"z": "\\Z"}.get(nxt, "\\" + nxt) if not in_class else "\\" + nxt)
            index += 2
            last_repeat = False
            continue
        if in_class:
            if char == "[" and pattern[index + 1:index + 2] == ":":
                end = pattern.find(":]", index + 2)
                if end > 0:
                    name = pattern[index + 2:end].lstrip("^")
                    if name not in _RE2_POSIX:
                        return "invalid character class range: `%s`" % pattern[index:end + 2]
                    out.append("a")
                    index = end + 2
                    continue
            if char == "]" and not class_start:
                in_class = False
            class_start = False
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class, class_start = True, True
            out.append(char)
            index += 1
            if pattern[index:index + 1] == "^":
                out.append("^")
                index += 1
            continue
        if char == "(" and pattern[index + 1:index + 2] == "?":
            rest = pattern[index + 2:]
            if rest.startswith("P<") or (rest.startswith("<") and not rest.startswith(("<=", "<!"))):
                out.append("(?P<")
                index += 4 if rest.startswith("P<") else 3
                last_repeat = False
                continue
            if rest.startswith("<"):
                return "invalid named capture: `%s`" % pattern[index:]
            match = re.match(r"([A-Za-z-]*)([:)])", rest)
            if not match or not match.group(1) or any(c not in _RE2_FLAGS and c != "-" for c in match.group(1)):
                return "invalid or unsupported Perl syntax: `%s`" % pattern[index:index + 3]
            # Flags change no syntax: drop them (Python refuses global flags after the start and has no U).
            out.append("(?:" if match.group(2) == ":" else "")
            index += 2 + match.end()
            last_repeat = False
            continue
        end = repeat_here(index)
        if end == -1:
            return "invalid repeat count: `%s`" % _REPEAT_RE.match(pattern, index).group(0)
        if end is not None:
            if last_repeat:
                return "invalid nested repetition operator: `%s`" % pattern[index - 1:end]
            out.append(pattern[index:end])
            index = end
            if pattern[index:index + 1] == "?":  # non-greedy
                out.append("?")
                index += 1
            last_repeat = True
            continue
        out.append(char)
        index += 1
        last_repeat = False
    try:
        re.compile("".join(out))
    except re.error as exc:
        return "error parsing regexp: %s" % exc
    return None


def is_go_duration(value):
    return _is_str(value) and bool(_DURATION_RE.match(value))


def parse_version(text):
    """The release ("2025.8.0") in `cloudflared --version` output, or None."""
    if not _is_str(text):
        return None
    match = _VERSION_RE.search(text)
    return match.group(1) if match else None


def version_tuple(version):
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version or "")
    if not match:
        return None
    return tuple(int(part) for part in match.groups())


def help_lists_flag(help_text, flag):
    """True when `cloudflared ... --help` output lists flag (such as "token-file") among its options.

    Feature detection reads the text, never the exit status: on an unknown flag cloudflared prints its usage on
    stdout and exits 0, so "it ran" says nothing about the flag.
    """
    if not _is_str(help_text):
        return False
    pattern = re.compile(r"^\s*(--?[\w-]+(\s+value)?,\s*)*--%s(\s|,|$)" % re.escape(flag))
    return any(pattern.match(line) for line in help_text.splitlines())


def supports_token_file(version):
    """True when this cloudflared release understands `tunnel run --token-file` (2025.4.0 and later)."""
    parsed = version_tuple(version)
    return parsed is not None and parsed >= TOKEN_FILE_MIN_VERSION


# ---------------------------------------------------------------------------------------------
# Ingress rules and originRequest
# ---------------------------------------------------------------------------------------------


class Report:
    """Errors and warnings, each a message; ``where`` prefixes say which rule or key."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, where, message):
        self.errors.append("%s: %s" % (where, message) if where else message)

    def warning(self, where, message):
        self.warnings.append("%s: %s" % (where, message) if where else message)


def _check_type(kind, value):
    if kind == DURATION:
        return is_go_duration(value), 'a Go duration string such as "30s" or "1m30s"'
    if kind == BOOL:
        return go_bool(value) is not None, "true or false"
    if kind == INT:
        return _is_int(value), "an integer"
    if kind == UINT:
        return _is_int(value) and value >= 0, "a non-negative integer"
    if kind == STRING:
        return _is_str(value), "a string"
    return True, ""


def go_bool(value):
    """What cloudflared reads a boolean setting as: True, False, or None when it refuses the value."""
    if isinstance(value, bool):
        return value
    if value in GO_YAML_TRUE:
        return True
    if value in GO_YAML_FALSE:
        return False
    return None


def check_origin_request(cfg, where, report, strict=False):
    """Check one originRequest mapping (rule-level or top-level defaults)."""
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        report.error(where, "originRequest must be a mapping, not %r" % (cfg,))
        return
    for key, value in cfg.items():
        kind = ORIGIN_REQUEST_KEYS.get(key)
        here = "%s.%s" % (where, key)
        if kind is None:
            lowered = dict((k.lower(), k) for k in ORIGIN_REQUEST_KEYS)
            hint = " (did you mean %s?)" % lowered[str(key).lower()] if str(key).lower() in lowered else ""
            if strict:
                report.error(here, "unknown originRequest key%s; known keys: %s"
                             % (hint, ", ".join(sorted(ORIGIN_REQUEST_KEYS))))
            else:
                report.warning(here, "unknown key, cloudflared ignores it%s" % hint)
            continue
        if kind == "access":
            _check_access(value, here, report, strict)
        elif kind == "ipRules":
            _check_ip_rules(value, here, report, strict)
        else:
            ok, expected = _check_type(kind, value)
            if not ok:
                report.error(here, "%r is not %s" % (value, expected))
            elif strict and kind == BOOL and not isinstance(value, bool):
                report.error(here, "%r: write true or false; cloudflared reads %r as %s %s"
                             % (value, value, str(go_bool(value)).lower(), STRICTER))
            elif strict and kind == UINT and value > 65535:
                report.error(here, "%r is not a port number 0-65535 %s" % (value, STRICTER))
    proxy_type = cfg.get("proxyType")
    if strict and _is_str(proxy_type) and proxy_type not in ("", "socks"):
        report.error(where + ".proxyType", "%r is not '' or 'socks', the only proxy type cloudflared implements %s"
                     % (proxy_type, STRICTER))


def _check_access(value, where, report, strict):
    if not isinstance(value, dict):
        report.error(where, "must be a mapping with required, teamName and audTag")
        return
    for key in value:
        if key not in ACCESS_KEYS:
            (report.error if strict else report.warning)(
                "%s.%s" % (where, key), "unknown key; known keys: %s" % ", ".join(ACCESS_KEYS))
    required = go_bool(value.get("required", False))
    if required is None:
        report.error(where + ".required", "%r is not true or false" % (value.get("required"),))
    team = value.get("teamName", "")
    if not _is_str(team):
        report.error(where + ".teamName", "%r is not a string" % (team,))
        team = ""
    aud = value.get("audTag", [])
    if aud is None:
        aud = []
    if not isinstance(aud, list) or not all(_is_str(tag) and tag for tag in aud):
        report.error(where + ".audTag", "must be a list of Access application AUD tags (strings)")
        aud = []
    env = value.get("environment", "")
    if not _is_str(env):
        report.error(where + ".environment", "%r is not a string" % (env,))
    # cloudflared (validateAccessConfiguration): with required, audTag needs a teamName.
    if required is True and aud and not team:
        report.error(where + ".teamName", "access.TeamName cannot be blank when audTag is set")
    if strict and required is True and not (team and aud):
        report.error(where, "access.required needs both teamName and audTag, or cloudflared cannot check "
                     "the Access token")


def _check_ip_rules(value, where, report, strict):
    if not isinstance(value, list):
        report.error(where, "must be a list of {prefix, ports, allow}")
        return
    for index, rule in enumerate(value):
        here = "%s[%d]" % (where, index)
        if not isinstance(rule, dict):
            report.error(here, "must be a mapping with prefix, ports and allow")
            continue
        prefix = rule.get("prefix")
        if prefix is not None and not _is_str(prefix):
            report.error(here + ".prefix", "%r is not a string" % (prefix,))
        elif strict:
            try:
                ipaddress.ip_network(u"%s" % prefix, strict=False)
            except ValueError:
                report.error(here + ".prefix", "%r is not a CIDR %s" % (prefix, STRICTER))
        ports = rule.get("ports", [])
        if not isinstance(ports, list) or not all(_is_int(p) for p in ports):
            report.error(here + ".ports", "must be a list of port numbers")
        elif strict and not all(1 <= p <= 65535 for p in ports):
            report.error(here + ".ports", "must be a list of ports 1-65535 %s" % STRICTER)
        if go_bool(rule.get("allow", False)) is None:
            report.error(here + ".allow", "must be true or false")


def _check_hostname(rule, index, total, report, strict):
    where = "rule #%d" % (index + 1)
    hostname = rule.get("hostname", "")
    if hostname is None:
        hostname = ""
    path = rule.get("path", "") or ""
    if not _is_str(hostname):
        report.error(where, "hostname %r is not a string" % (hostname,))
        return
    try:
        split_host_port(hostname)
    except ValueError:
        pass
    else:
        report.error(where, "Hostname cannot contain a port")
        return
    if hostname.rfind("*") > 0:
        report.error(where, 'Hostname patterns can have at most one wildcard character ("*") and it can only '
                     'be used for subdomains, e.g. "*.example.com"')
        return
    catch_all = hostname in ("", "*") and path == ""
    last = index == total - 1
    if last and not catch_all:
        report.error(where, "The last ingress rule must match all URLs (i.e. it should not have a hostname "
                     "or path filter)")
    elif not last and catch_all:
        report.error(where, "Rule #%d is matching the hostname '%s', but this will match every hostname, "
                     "meaning the rules which follow it will never be triggered." % (index + 1, hostname))
    if hostname in ("", "*"):
        return
    name = hostname[2:] if hostname.startswith("*.") else hostname
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        report.error(where, "hostname %r is not a valid (internationalised) domain name" % hostname)
        return
    if strict:
        if hostname.startswith("*") and not hostname.startswith("*."):
            report.error(where, 'hostname %r: a wildcard is only allowed as a whole leftmost label, e.g. '
                         '"*.example.com"' % hostname)
            return
        labels = ascii_name.rstrip(".").split(".")
        if len(ascii_name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
            report.error(where, "hostname %r is not a DNS name (no scheme, path, port or spaces: "
                         "emr.clinic.example)" % hostname)


def _check_path(rule, index, report):
    path = rule.get("path")
    if path in (None, ""):
        return
    where = "rule #%d" % (index + 1)
    if not _is_str(path):
        report.error(where, "path %r is not a string" % (path,))
        return
    problem = re2_problem(path)
    if problem:
        report.error(where, "Rule #%d has an invalid regex: %s" % (index + 1, problem))


def _check_service(rule, index, report, strict, defaults):
    where = "rule #%d" % (index + 1)
    service = rule.get("service")
    origin = rule.get("originRequest") or {}
    bastion = (isinstance(origin, dict) and origin.get("bastionMode") is True) or (
        isinstance(defaults, dict) and defaults.get("bastionMode") is True)
    if service in (None, "") and bastion:
        return
    if not _is_str(service) or service == "":
        report.error(where, "service is required (for example https://127.0.0.1:443 or http_status:404)")
        return
    if service.startswith("unix:") or service.startswith("unix+tls:"):
        if strict and not service.split(":", 1)[1].startswith("/"):
            report.error(where, "%s: the socket path must be absolute" % service)
        return
    if service.startswith("http_status:"):
        code = service[len("http_status:"):]
        if not re.match(r"^[+-]?\d+$", code):
            report.error(where, "invalid HTTP status code: %r is not a number" % code)
        elif not 100 <= int(code) <= 999:
            report.error(where, "invalid HTTP status code: %s" % code)
        elif strict and int(code) > 599:
            report.error(where, "http_status:%s is not an HTTP status (100-599) %s" % (code, STRICTER))
        return
    if service in HELLO_WORLD or service in ("bastion", "socks-proxy"):
        return
    try:
        parsed = parse_service_url(service)
    except ValueError as exc:
        report.error(where, "%s is an invalid address: %s" % (service, exc))
        return
    if not parsed["scheme"] or not parsed["host"]:
        report.error(where, "%s is an invalid address, please make sure it has a scheme and a hostname" % service)
        return
    if parsed["path"]:
        report.error(where, "%s is an invalid address, ingress rules don't support proxying to a different path "
                     "on the origin service. The path will be the same as the eyeball request's path" % service)
        return
    if strict:
        if parsed["scheme"] not in KNOWN_SCHEMES:
            report.error(where, "%s: unknown scheme %r; cloudflared documents %s, unix:, unix+tls:, http_status:NNN, "
                         "hello_world, bastion and socks-proxy" % (service, parsed["scheme"], ", ".join(KNOWN_SCHEMES)))
        if parsed["port"] and not 1 <= int(parsed["port"]) <= 65535:
            report.error(where, "%s: port %s is out of range 1-65535" % (service, parsed["port"]))
        if "%" in parsed["host"]:
            report.error(where, "%s: a %%-escape in the service's host is refused %s" % (service, STRICTER))


def validate_ingress(rules, defaults=None, strict=False):
    """Check a list of ingress rules (and the top-level originRequest). Returns a Report."""
    report = Report()
    if defaults is not None:
        check_origin_request(defaults, "originRequest", report, strict)
    if not isinstance(rules, list) or not rules:
        report.error("", "The config file doesn't contain any ingress rules")
        return report
    for index, rule in enumerate(rules):
        where = "rule #%d" % (index + 1)
        if not isinstance(rule, dict):
            report.error(where, "must be a mapping with hostname, path, service and originRequest")
            continue
        for key in rule:
            if key not in RULE_KEYS:
                (report.error if strict else report.warning)(
                    "%s.%s" % (where, key), "unknown key; ingress rules have %s" % ", ".join(RULE_KEYS))
        _check_service(rule, index, report, strict, defaults)
        _check_hostname(rule, index, len(rules), report, strict)
        _check_path(rule, index, report)
        check_origin_request(rule.get("originRequest"), where + ".originRequest", report, strict)
    return report


def validate_config(document, strict=False):
    """Check a parsed config.yml the way `cloudflared tunnel --config F ingress validate` does."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        report = Report()
        report.error("", "the configuration file is not a YAML mapping")
        return report
    return validate_ingress(document.get("ingress"), document.get("originRequest"), strict)


# ---------------------------------------------------------------------------------------------
# Secrets: checked without ever putting them in a message
# ---------------------------------------------------------------------------------------------


def _b64decode(text):
    """Decode standard base64 with its padding, as Go's base64.StdEncoding does (it skips CR and LF).

    cloudflared decodes tokens and tunnel secrets that way and nothing else, so this refuses unpadded and URL-safe
    text with a message that says which (and never shows the text).
    """
    if not _is_str(text):
        raise ValueError("not text")
    text = text.strip().replace("\r", "").replace("\n", "")
    if "-" in text or "_" in text:
        raise ValueError("it is URL-safe base64 (with - or _); cloudflared accepts only standard base64 (+ and /) "
                         "with its = padding, as Cloudflare shows it, and this collection does not rewrite secrets")
    if len(text) % 4:
        raise ValueError("its = padding is missing; cloudflared accepts only standard base64 with its = padding, "
                         "as Cloudflare shows it, and this collection does not rewrite secrets")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError):
        raise ValueError("it is not standard base64") from None


def decode_tunnel_token(token):
    """Decode a tunnel token into (account_tag, tunnel_id, secret_bytes); raise ValueError without the token."""
    try:
        raw = _b64decode(token)
    except ValueError as exc:
        raise ValueError("cloudflared would refuse it (Provided Tunnel token is not valid.): %s" % exc) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        raise ValueError("it does not decode to the JSON Cloudflare's tunnel tokens hold") from None
    if not isinstance(data, dict):
        raise ValueError("it does not decode to a JSON object")
    account, tunnel, secret = data.get("a"), data.get("t"), data.get("s")
    if not _is_str(account) or not account:
        raise ValueError("its account tag (a) is missing")
    if not _is_str(tunnel) or not _UUID_RE.match(tunnel):
        raise ValueError("its tunnel ID (t) is not a UUID")
    try:
        secret_bytes = _b64decode(secret)
    except (ValueError, TypeError) as exc:
        raise ValueError("its tunnel secret (s): %s" % exc) from None
    if not secret_bytes:
        raise ValueError("its tunnel secret (s) is empty")
    return account, tunnel.lower(), secret_bytes


def check_credentials(creds):
    """Problems with a credentials JSON mapping (AccountTag, TunnelID, TunnelSecret); no secret in messages."""
    problems = []
    if not isinstance(creds, dict) or not creds:
        return ["must be the tunnel's credentials JSON as a mapping: AccountTag, TunnelID, TunnelSecret"]
    for key in ("AccountTag", "TunnelID", "TunnelSecret"):
        if not _is_str(creds.get(key)) or not creds.get(key):
            problems.append("%s is missing" % key)
    if _is_str(creds.get("TunnelID")) and creds.get("TunnelID") and not _UUID_RE.match(creds["TunnelID"]):
        problems.append("TunnelID is not a UUID")
    if _is_str(creds.get("TunnelSecret")) and creds.get("TunnelSecret"):
        try:
            if len(_b64decode(creds["TunnelSecret"])) < 32:
                problems.append("TunnelSecret decodes to fewer than 32 bytes")
        except (ValueError, TypeError) as exc:
            problems.append("TunnelSecret: %s" % exc)
    unknown = sorted(k for k in creds if k not in ("AccountTag", "TunnelID", "TunnelSecret", "TunnelName", "Endpoint"))
    if unknown:
        problems.append("unknown key(s) %s" % ", ".join(unknown))
    return problems


# ---------------------------------------------------------------------------------------------
# The role's settings
# ---------------------------------------------------------------------------------------------


def _var(name):
    return VAR_PREFIX + name


def check_metrics_address(address):
    """Problem with a metrics address (must be loopback with an explicit port), or None."""
    if not _is_str(address):
        return "%r is not host:port" % (address,)
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        return "%r is not host:port (%s)" % (address, exc)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return "%r: the port must be 1-65535 (0, cloudflared's 'pick one', would hide /ready from the role)" % address
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(u"%s" % host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return "%r: metrics and /ready must listen on loopback only (127.0.0.1, ::1 or localhost)" % address
    return None


def pinned_edges(value):
    """cloudflared_test_edge as a list of addresses: one address, a list of them, or none ('' or [])."""
    if value is None or (_is_str(value) and not value):
        return []
    if _is_str(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError("%r is not an address or a list of addresses" % (value,))


def pinned_edge_options(value):
    """cloudflared's tunnel options for the test edges: ' --edge ADDRESS' for each, or '' without one. The real
    connector backs off between attempts only when it has another edge address to turn to: pinned to a single
    address that fails, it finds none, skips its backoff and dials again at once (upstream's supervisor: Serve
    returns ErrNoAddressesLeft before its backoff timer, and startFirstTunnel retries a static edge at once)."""
    return "".join(" --edge %s" % edge for edge in pinned_edges(value))


def ready_url(address):
    host, port = split_host_port(address)
    if ":" in host:
        host = "[%s]" % host
    return "http://%s:%s/ready" % (host, port)


def _origin_scheme(service):
    try:
        return parse_service_url(service)["scheme"] if _is_str(service) else ""
    except ValueError:
        return ""


def ca_pool_path(settings):
    """The caPool config.yml names: the role's copy in the configuration directory, readable by the service group.

    Both origin_ca_certificate (PEM text) and origin_ca_pool (a file on the host, such as the nginx role's CA in a
    root-only directory) end up there: cloudflared runs as its own user and exits when it cannot read the pool.
    """
    if settings.get("origin_ca_pool") or settings.get("origin_ca_certificate"):
        return "%s/origin-ca.pem" % settings.get("config_dir", "/etc/cloudflared")
    return ""


def build_ingress(settings):
    """The ingress rules for a locally managed tunnel: OSCAR first, then SSH (the provider's management path, when
    cloudflared_ssh_hostname is set), then the extra rules, then the catch-all."""
    oscar = {"hostname": settings.get("oscar_hostname"), "service": settings.get("origin_service")}
    origin = {}
    if _origin_scheme(settings.get("origin_service")) in ("https", "wss") or (
            _is_str(settings.get("origin_service")) and settings["origin_service"].startswith("unix+tls:")):
        origin["originServerName"] = settings.get("origin_server_name") or settings.get("oscar_hostname")
        ca = ca_pool_path(settings)
        if ca:
            origin["caPool"] = ca
    if settings.get("access_team_name") and settings.get("access_aud_tags"):
        origin["access"] = {
            "required": True,
            "teamName": settings["access_team_name"],
            "audTag": list(settings["access_aud_tags"]),
        }
    if origin:
        oscar["originRequest"] = origin
    extra = []
    for rule in copy.deepcopy(settings.get("ingress_extra_rules") or []):
        if isinstance(rule, dict):
            # cloudflared's own order, then anything else (which the checks report).
            ordered = dict((key, rule[key]) for key in RULE_KEYS if key in rule)
            ordered.update((key, value) for key, value in rule.items() if key not in ordered)
            rule = ordered
        extra.append(rule)
    ssh = [{"hostname": settings["ssh_hostname"], "service": settings.get("ssh_service") or SSH_SERVICE}] \
        if settings.get("ssh_hostname") else []
    return [oscar, *ssh, *extra, {"service": CATCH_ALL_SERVICE}]


def build_config(settings):
    """The config.yml document for this host's connector."""
    doc = {}
    if settings.get("tunnel_mode") == "local":
        creds = settings.get("tunnel_credentials") or {}
        tunnel_id = str(creds.get("TunnelID", "")).lower()
        doc["tunnel"] = tunnel_id
        doc["credentials-file"] = "%s/%s.json" % (settings.get("config_dir", "/etc/cloudflared"), tunnel_id)
    doc["metrics"] = settings.get("metrics_address")
    doc["loglevel"] = settings.get("loglevel")
    doc["protocol"] = settings.get("protocol")
    doc["no-autoupdate"] = True
    if settings.get("tunnel_mode") == "local":
        if settings.get("origin_request_defaults"):
            doc["originRequest"] = copy.deepcopy(settings["origin_request_defaults"])
        doc["ingress"] = build_ingress(settings)
    return doc


EGRESS_RULES = (
    ("cloudflared-quic", 7844, "udp"),
    ("cloudflared-http2", 7844, "tcp"),
    ("cloudflared-api", 443, "tcp"),
)
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def egress_rules(settings, destinations):
    """What the connector must reach, in the firewall role's firewall_egress_rules format.

    Cloudflare's edge on UDP and TCP 7844 and its API on TCP 443, to ``destinations``; and, when
    ``origin_service`` names a front door by a non-loopback IP address (cloudflared on a Pi, nginx on
    the OSCAR host), that address and port.
    """
    rules = [{"name": name, "port": port, "protocol": protocol, "destinations": list(destinations)}
             for name, port, protocol in EGRESS_RULES]
    try:
        parsed = parse_service_url(settings.get("origin_service") or "")
        address = ipaddress.ip_address(u"%s" % parsed["host"])
    except ValueError:
        return rules
    port = int(parsed["port"]) if parsed["port"] else DEFAULT_PORTS.get(parsed["scheme"])
    if port and not address.is_loopback:
        rules.append({"name": "cloudflared-origin", "port": port, "protocol": "tcp",
                      "destinations": ["%s/%d" % (address, address.max_prefixlen)]})
    return rules


def _rule_origin(index, total, ssh=False):
    """Which role variable produced generated rule #index+1."""
    if index == 0:
        return "%s/%s (rule #1, OSCAR)" % (_var("oscar_hostname"), _var("origin_service"))
    if ssh and index == 1:
        return "%s/%s (rule #2, SSH)" % (_var("ssh_hostname"), _var("ssh_service"))
    if index == total - 1:
        return "the catch-all rule #%d the role adds" % (index + 1)
    first = 2 if ssh else 1
    return "%s[%d] (rule #%d)" % (_var("ingress_extra_rules"), index - first, index + 1)


def _no_tls_verify(cfg):
    """True when cloudflared would turn TLS checking off: true, or "yes", "on", "y" and the like."""
    return isinstance(cfg, dict) and go_bool(cfg.get("noTLSVerify")) is True


def _fingerprint_ok(value):
    return _is_str(value) and re.match(r"^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$", value.replace(" ", "")) is not None


def _sha256_ok(value):
    return _is_str(value) and re.match(r"^[0-9A-Fa-f]{64}$", value) is not None


def settings_problems(settings):
    """Every problem with the role's settings, each starting with the variable's name. Never echoes secrets."""
    problems = []

    def add(name, message):
        problems.append("%s: %s" % (_var(name), message))

    if settings.get("state") == "absent":
        return problems

    arch = settings.get("architecture")
    if not arch:
        problems.append("this host's architecture %r is not supported: cloudflared runs on amd64 (x86_64) and arm64 "
                        "(aarch64, Raspberry Pi OS 64-bit)" % (settings.get("machine"),))

    version = settings.get("version")
    release = r"^\d{4}\.\d{1,2}\.\d+([-+~][0-9A-Za-z.+~-]+)?$"
    if version != "latest" and not (_is_str(version) and re.match(release, version)):
        add("version", "%r is neither 'latest' nor a cloudflared release such as '2025.8.0'" % (version,))

    method = settings.get("install_method")
    if method == "repository":
        fingerprints = settings.get("apt_key_fingerprints") or []
        if not fingerprints:
            add("apt_key_fingerprints", "is empty: pin the fingerprint of the key Cloudflare signs its apt "
                "repository with (see https://pkg.cloudflare.com/) so a substituted key is refused")
        for index, value in enumerate(fingerprints):
            if not _fingerprint_ok(value):
                add("apt_key_fingerprints[%d]" % index, "%r is not an OpenPGP fingerprint (40 or 64 hex digits)"
                    % (value,))
    elif method in ("url", "file"):
        packages = settings.get("packages") or {}
        entry = packages.get(arch) if arch else None
        if arch and not entry:
            add("packages", "has no entry for this host's architecture %r (install method %r)" % (arch, method))
        elif entry:
            key = "url" if method == "url" else "src"
            if not entry.get(key):
                add("packages.%s.%s" % (arch, key), "is required with install method %r" % method)
            if method == "url" and not entry.get("sha256"):
                add("packages.%s.sha256" % arch, "is required with install method 'url': the SHA-256 of the file "
                    "the mirror serves")
            if entry.get("sha256") and not _sha256_ok(entry["sha256"]):
                add("packages.%s.sha256" % arch, "%r is not a SHA-256 (64 hex digits)" % (entry["sha256"],))
            if method == "url" and entry.get("url") and not re.match(r"^(https?|ftp)://", entry["url"]):
                add("packages.%s.url" % arch, "%r is not an http(s) URL" % (entry["url"],))

    mode = settings.get("tunnel_mode")
    if mode == "token":
        token = settings.get("tunnel_token")
        if not token:
            add("tunnel_token", "is required with cloudflared_tunnel_mode 'token' (keep it in the clinic's vault)")
        else:
            try:
                decode_tunnel_token(token)
            except ValueError as exc:
                add("tunnel_token", "is not a valid tunnel token: %s" % exc)
    elif mode == "local":
        for message in check_credentials(settings.get("tunnel_credentials")):
            add("tunnel_credentials", message)

    problem = check_metrics_address(settings.get("metrics_address"))
    if problem:
        add("metrics_address", problem)

    try:
        edges = pinned_edges(settings.get("test_edge"))
    except ValueError as exc:
        edges = []
        add("test_edge", str(exc))
    for edge in edges:
        problem = check_metrics_address(edge)
        if problem:
            add("test_edge", "%s; it is for isolated tests only and must pin the connector to loopback addresses "
                "that answer nothing, such as 127.0.0.1:7844" % problem.replace("metrics and /ready must", "it must"))
    if len(set(edges)) != len(edges):
        add("test_edge", "%r names an address twice" % (edges,))

    timeout = settings.get("ready_timeout")
    if not _is_int(timeout) or not 5 <= timeout <= 3600:
        add("ready_timeout", "%r is not a number of seconds between 5 and 3600" % (timeout,))

    if settings.get("origin_ca_pool") and settings.get("origin_ca_certificate"):
        add("origin_ca_certificate", "give either cloudflared_origin_ca_pool (a file on the host) or "
            "cloudflared_origin_ca_certificate (PEM text), not both")
    pem = settings.get("origin_ca_certificate")
    if pem and (not _is_str(pem) or "-----BEGIN CERTIFICATE-----" not in pem):
        add("origin_ca_certificate", "is not PEM text (-----BEGIN CERTIFICATE-----)")
    ca_pool = settings.get("origin_ca_pool")
    if ca_pool and (not _is_str(ca_pool) or not ca_pool.startswith("/")):
        add("origin_ca_pool", "%r is not an absolute path" % (ca_pool,))

    team, aud = settings.get("access_team_name"), settings.get("access_aud_tags")
    if bool(team) != bool(aud):
        add("access_team_name" if not team else "access_aud_tags",
            "cloudflared_access_team_name and cloudflared_access_aud_tags go together: give both for cloudflared "
            "to check the Access token at the origin, or neither")
    if team and not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", str(team)):
        add("access_team_name", "%r is not a team name (the <team> of <team>.cloudflareaccess.com)" % (team,))

    ssh_hostname = settings.get("ssh_hostname")
    if ssh_hostname and mode != "local":
        add("ssh_hostname", "needs cloudflared_tunnel_mode 'local': a remotely managed tunnel's ingress lives in "
            "Cloudflare, so add the SSH rule there")
    elif ssh_hostname and str(ssh_hostname).lower() == str(settings.get("oscar_hostname") or "").lower():
        add("ssh_hostname", "%r is also cloudflared_oscar_hostname: SSH needs a name of its own" % (ssh_hostname,))
    ssh_service = settings.get("ssh_service") or SSH_SERVICE
    if ssh_hostname and (not _is_str(ssh_service) or not ssh_service.startswith("ssh://")):
        add("ssh_service", "%r is not an ssh:// address (sshd as this host reaches it, ssh://localhost:22)"
            % (ssh_service,))

    if mode == "local":
        if not settings.get("oscar_hostname"):
            add("oscar_hostname", "is required with cloudflared_tunnel_mode 'local' (the name staff use to reach "
                "OSCAR; defaults to clinic_oscar_hostname)")
        extra = settings.get("ingress_extra_rules") or []
        if not isinstance(extra, list):
            add("ingress_extra_rules", "must be a list of ingress rules")
            extra = []
        for index, rule in enumerate(extra):
            if isinstance(rule, dict) and _no_tls_verify(rule.get("originRequest")):
                add("ingress_extra_rules[%d].originRequest.noTLSVerify" % index,
                    "is refused (%r, which cloudflared reads as true, turns off the check of the origin's "
                    "certificate): verify it instead (caPool, originServerName)"
                    % (rule["originRequest"]["noTLSVerify"],))
        if _no_tls_verify(settings.get("origin_request_defaults")):
            add("origin_request_defaults.noTLSVerify",
                "is refused (%r, which cloudflared reads as true, turns off the check of the origin's certificate): "
                "verify it instead (caPool, originServerName)"
                % (settings["origin_request_defaults"]["noTLSVerify"],))
        if settings.get("oscar_hostname"):
            rules = build_ingress(dict(settings, ingress_extra_rules=extra))
            report = validate_ingress(rules, settings.get("origin_request_defaults") or None, strict=True)
            for message in report.errors:
                where, text = [*message.split(": ", 1), ""][:2]
                match = re.match(r"^rule #(\d+)(.*)$", where)
                if match:
                    origin = _rule_origin(int(match.group(1)) - 1, len(rules), bool(settings.get("ssh_hostname")))
                    problems.append("%s%s: %s" % (origin, match.group(2), text))
                elif where.startswith("originRequest"):
                    problems.append("%s%s: %s" % (_var("origin_request_defaults"), where[len("originRequest"):], text))
                else:
                    problems.append("%s: %s" % (_var("ingress_extra_rules"), message))
    return problems
