# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A clinic host's health snapshot, read-only: the one place patch.yml's gates and the fleet report read from.

Each probe returns a check ``{"name", "ok", "detail", "gate"}``; ``gate`` checks decide whether the host is
healthy (a patch run is gated on them), the others are reported. Parsers are pure functions so the unit tests
feed them real command output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import glob
import http.client
import json
import os
import re
import socket
import ssl

# An answer at or above this from nginx or Tomcat means the service behind it is down or broken.
SERVER_ERROR = 500
APT_INST = re.compile(r"^Inst (?P<name>\S+) (?:\[(?P<current>[^\]]+)\] )?\((?P<candidate>\S+) (?P<origins>[^\[)]*)")
GATEWAY_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)
CLOUDFLARED_VERSION = re.compile(r"cloudflared version (\d{4}\.\d+\.\d+)")
NGINX_VERSION = re.compile(r"nginx/(\S+)")
WG_VERSION = re.compile(r"wireguard-tools v(\S+)")


def check(name, ok, detail, gate=True):
    return {"name": name, "ok": bool(ok), "detail": detail, "gate": gate}


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the gateway listens on one, for nginx only)."""

    def __init__(self, path, timeout):
        super(_UnixHTTPConnection, self).__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _NamedHTTPSConnection(http.client.HTTPConnection):
    """HTTPS to an address (loopback) with another name for SNI: the clinic's, so nginx picks its server block."""

    def __init__(self, address, port, server_name, context, timeout):
        super(_NamedHTTPSConnection, self).__init__(address, port, timeout=timeout)
        self._server_name = server_name
        self._tls = context

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)


def http_status(url, host=None, timeout=5.0, unix_socket=None, cafile=None):
    """GET url and return (status, error). Host, when given, is sent as the Host header and as the TLS server
    name, so nginx picks the clinic's server block. With cafile the certificate is verified against it for that
    name; without one, a loopback probe of a service's own port does not verify (its job is to see it answer)."""
    match = re.match(r"^(https?)://([^/:]+|\[[^\]]+\])(?::(\d+))?(/.*)?$", url)
    if not match:
        return None, "not an http(s) URL: %s" % url
    scheme, address, port, path = match.group(1), match.group(2).strip("[]"), match.group(3), match.group(4) or "/"
    try:
        if unix_socket:
            conn = _UnixHTTPConnection(unix_socket, timeout)
        elif scheme == "https":
            if cafile:
                context = ssl.create_default_context(cafile=cafile)
                context.check_hostname = bool(host)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = _NamedHTTPSConnection(address, int(port or 443), host or address, context, timeout)
        else:
            conn = http.client.HTTPConnection(address, int(port or 80), timeout=timeout)
        conn.request("GET", path, headers={"Host": host or address, "User-Agent": "oscar-clinic-health"})
        response = conn.getresponse()
        response.read(65536)
        conn.close()
        return response.status, None
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        return None, "%s: %s" % (type(exc).__name__, exc)


def http_check(name, url, host=None, unix_socket=None, cafile=None, want=None):
    status, error = http_status(url, host=host, unix_socket=unix_socket, cafile=cafile)
    where = "%s%s" % (url, " (Host: %s)" % host if host else "")
    if status is None:
        return check(name, False, "%s: no answer (%s)" % (where, error))
    ok = status in want if want else status < SERVER_ERROR
    return check(name, ok, "%s answered %d" % (where, status))


# Queued approval mail older than this means the relay has not taken it for a while (the gateway retries up to an hour
# apart): worth a line in the report, not a reason to hold a patch run.
MAIL_STUCK_SECONDS = 3600


def gateway_mail_check(socket_path, timeout=5.0):
    """The gateway's approval-mail outbox (its /healthz/mail on the socket), a reported check that never gates; None
    when the gateway sends no mail (or predates approvals by email)."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", "/healthz/mail")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        state = json.loads(body.decode("utf-8"))
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if not state.get("enabled"):
        return None
    oldest = state.get("oldest_queued_seconds")
    ok = not state.get("failed") and (oldest is None or oldest < MAIL_STUCK_SECONDS)
    waited = ", oldest %d min" % (oldest // 60) if oldest is not None else ""
    detail = "approval mail: %d queued%s, %d given up (oscar-gateway-admin outbox)" % (
        state.get("queued", 0), waited, state.get("failed", 0))
    return check("gateway mail", ok, detail, gate=False)


def parse_apt_simulation(output):
    """Packages an `apt-get -s dist-upgrade` would install, with versions and whether a security source offers
    them: [{"name", "current", "candidate", "security", "origins"}]. New packages have current None."""
    packages = []
    for line in output.splitlines():
        match = APT_INST.match(line.strip())
        if not match:
            continue
        origins = match.group("origins").strip()
        packages.append({
            "name": match.group("name"),
            "current": match.group("current"),
            "candidate": match.group("candidate"),
            "origins": origins,
            "security": "security" in origins.lower(),
        })
    return packages


def parse_wg_handshakes(output):
    """`wg show IFACE latest-handshakes`: {public key: unix time, 0 for never}."""
    handshakes = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            handshakes[parts[0]] = int(parts[1])
    return handshakes


def parse_systemctl_show(output):
    """`systemctl show -p ... UNIT...` (blank line between units) as one dict per unit."""
    units, current = [], {}
    for line in [*output.splitlines(), ""]:
        if not line.strip():
            if current:
                units.append(current)
            current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    return units


def sources_have_security(texts):
    """True when any apt source (one-line or deb822) names a security suite or the security archive."""
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#") or not line:
                continue
            low = line.lower()
            if low.startswith("deb ") or low.startswith("suites:") or low.startswith("uris:"):
                if "-security" in low or "security.debian.org" in low or "/debian-security" in low:
                    return True
    return False


def read_sources(root="/"):
    texts = []
    listed = sorted(glob.glob(os.path.join(root, "etc/apt/sources.list.d/*.list"))
                    + glob.glob(os.path.join(root, "etc/apt/sources.list.d/*.sources")))
    for path in [os.path.join(root, "etc/apt/sources.list"), *listed]:
        try:
            with open(path) as handle:
                texts.append(handle.read())
        except (IOError, OSError):
            continue
    return texts


def days_until(not_after, now=None):
    """Whole days from now to an OpenSSL-style notAfter (``Jun  1 12:00:00 2027 GMT``)."""
    expiry = datetime.datetime.strptime(not_after, "%b %d %H:%M:%S %Y %Z")
    now = now or datetime.datetime.utcnow()
    return (expiry - now).days


def acme_last_attempt(text, days_left):
    """The nginx role's record of its last attempt to get an ACME certificate (``last-attempt.json``: result, date,
    message) as (the attempt, a reported check). A failed attempt is a warning naming its date and the days the
    certificate in service has left, so a renewal that keeps failing shows in the fleet report from the first
    failure, a month before expiry, instead of only when the days left run low."""
    try:
        attempt = json.loads(text)
    except ValueError:
        attempt = None
    if not isinstance(attempt, dict) or attempt.get("result") not in ("ok", "failed"):
        return None, check("tls renewal", False, "the record of the last ACME attempt is unreadable", gate=False)
    attempt = {key: attempt.get(key) or "" for key in ("result", "date", "reason", "message")}
    attempt["days_left"] = days_left
    left = "the certificate in service expires in %s days" % ("?" if days_left is None else days_left)
    if attempt["result"] == "failed":
        detail = "ACME renewal failed on %s, %s: %s" % (attempt["date"], left, attempt["message"])
    else:
        detail = "last ACME certificate %s (%s), %s" % (attempt["date"], attempt["reason"], left)
    return attempt, check("tls renewal", attempt["result"] == "ok", detail, gate=False)


def os_release(path="/etc/os-release"):
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except (IOError, OSError):
        pass
    return None


def first_match(pattern, text):
    match = pattern.search(text or "")
    return match.group(1) if match else None


def snapshot(params, run):
    """Take the snapshot. ``run(argv)`` returns (rc, stdout, stderr) and is the only way this touches the host
    besides reading files and loopback/unix-socket HTTP."""
    checks = []
    result = {"versions": {"os": os_release()}, "units": {}, "wireguard": {}}

    front = params.get("front_door") or {}
    if front.get("url"):
        checks.append(http_check("front door", front["url"], host=front.get("host") or None,
                                 cafile=front.get("ca_file") or None))
    if params.get("tomcat_url"):
        checks.append(http_check("tomcat", params["tomcat_url"]))
    if params.get("gateway_socket"):
        if os.path.exists(params["gateway_socket"]):
            checks.append(http_check("gateway", "http://localhost/healthz", unix_socket=params["gateway_socket"],
                                     want=[200]))
            mail = gateway_mail_check(params["gateway_socket"])
            if mail is not None:
                checks.append(mail)
        else:
            checks.append(check("gateway", False, "%s does not exist" % params["gateway_socket"]))

    for address in params.get("cloudflared_metrics") or []:
        checks.append(http_check("cloudflared %s /ready" % address, "http://%s/ready" % address, want=[200]))
        checks.append(http_check("cloudflared %s /metrics" % address, "http://%s/metrics" % address, want=[200]))

    for iface in params.get("wireguard_interfaces") or []:
        rc, out, err = run(["wg", "show", iface, "latest-handshakes"])
        if rc != 0:
            checks.append(check("wireguard %s" % iface, False, "wg show %s: %s" % (iface, (err or out).strip())))
            continue
        handshakes = parse_wg_handshakes(out)
        result["wireguard"][iface] = {"peers": len(handshakes), "latest_handshakes": handshakes}
        seen = sum(1 for stamp in handshakes.values() if stamp)
        detail = "up, %d peers, %d with a handshake" % (len(handshakes), seen)
        checks.append(check("wireguard %s" % iface, True, detail))

    units = params.get("units") or []
    if units:
        rc, out, err = run(["systemctl", "show", "-p", "Id,LoadState,ActiveState,NRestarts", *units])
        shown = parse_systemctl_show(out) if rc == 0 else []
        for unit, info in zip(units, shown):
            restarts = info.get("NRestarts", "")
            result["units"][unit] = {
                "active": info.get("ActiveState"),
                "load": info.get("LoadState"),
                "restarts": int(restarts) if restarts.isdigit() else None,
            }
            if info.get("LoadState") == "not-found":
                continue
            checks.append(check("unit %s" % unit, info.get("ActiveState") == "active",
                                "%s, %s restarts" % (info.get("ActiveState"), restarts or "?")))
        if rc != 0:
            checks.append(check("units", False, "systemctl show: %s" % err.strip()))

    cert = params.get("tls_certificate")
    result["tls_days_left"] = None
    if cert and os.path.exists(cert):
        rc, out, err = run(["openssl", "x509", "-noout", "-enddate", "-in", cert])
        if rc == 0 and "=" in out:
            result["tls_days_left"] = days_until(out.strip().split("=", 1)[1])
            checks.append(check("tls certificate", result["tls_days_left"] > params.get("expiry_days", 14),
                                "%s expires in %d days" % (cert, result["tls_days_left"]), gate=False))

    result["tls_renewal"] = None
    attempt_file = params.get("acme_last_attempt")
    if attempt_file and os.path.exists(attempt_file):
        with open(attempt_file) as handle:
            result["tls_renewal"], renewal = acme_last_attempt(handle.read(), result["tls_days_left"])
        checks.append(renewal)

    versions = result["versions"]
    for name, argv, pattern in (("nginx", ["nginx", "-v"], NGINX_VERSION),
                                ("cloudflared", ["cloudflared", "--version"], CLOUDFLARED_VERSION),
                                ("wireguard_tools", ["wg", "--version"], WG_VERSION)):
        try:
            rc, out, err = run(argv)
        except (OSError, ValueError):
            rc, out, err = 127, "", ""
        versions[name] = first_match(pattern, "%s\n%s" % (out, err)) if rc == 0 else None
    gateway_init = params.get("gateway_init") or ""
    versions["gateway"] = None
    if gateway_init and os.path.exists(gateway_init):
        with open(gateway_init) as handle:
            versions["gateway"] = first_match(GATEWAY_VERSION, handle.read())

    result["security_source"] = sources_have_security(read_sources())
    checks.append(check("security package source", result["security_source"],
                        "a Debian security source is configured" if result["security_source"]
                        else "no apt source names a security suite: security updates never arrive", gate=False))

    rc, out, err = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
    result["pending_updates"] = parse_apt_simulation(out) if rc == 0 else []
    result["pending_security_updates"] = sum(1 for pkg in result["pending_updates"] if pkg["security"])
    result["reboot_required"] = os.path.exists("/run/reboot-required")

    result["checks"] = checks
    result["failed"] = [c["name"] for c in checks if c["gate"] and not c["ok"]]
    result["warnings"] = [c["detail"] for c in checks if not c["gate"] and not c["ok"]]
    result["healthy"] = not result["failed"]
    return result
