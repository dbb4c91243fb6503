"""A stand-in for OSCAR EMR's Tomcat, for tests and the demo only. It is not OSCAR.

It answers the way OSCAR's Tomcat does where the front door cares: the application under
`/oscar`, a login form posting to `/oscar/login.do` that sets a `JSESSIONID` cookie, a page that
needs that session, uploads, the web-service paths, and Tomcat's own applications (`/manager`)
so tests can prove the front door never lets a request reach them. Every request that reaches it
is recorded as one JSON line (method, raw path, headers, peer address, body size) so a test can
tell exactly what got through and with which headers.

Usage: oscar_standin.py --http-port 8080 --https-port 8443 --cert C --key K --record FILE
"""

import argparse
import html
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

# OSCAR's well-known demo account; the stand-in holds no patient data.
DEMO_USERS = {"oscardoc": "mac2002"}
SESSIONS = {}
RECORD_LOCK = threading.Lock()

LOGIN_PAGE = """<!DOCTYPE html>
<html><head><title>OSCAR EMR (stand-in)</title></head>
<body>
<h1>OSCAR EMR</h1>
<p class="standin-notice">Test stand-in for OSCAR's Tomcat. Not OSCAR.</p>
{error}
<form method="post" action="/oscar/login.do" name="loginForm">
<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<label>PIN <input type="password" name="pin"></label>
<input type="submit" value="Sign in" id="login-submit">
</form>
</body></html>
"""

SCHEDULE_PAGE = """<!DOCTYPE html>
<html><head><title>OSCAR schedule (stand-in)</title></head>
<body><h1 id="schedule">Schedule for {user}</h1>
<p>Client address as OSCAR sees it: <span id="client-ip">{client}</span></p>
<p>Remote user header: <span id="remote-user">{remote_user}</span></p>
</body></html>
"""


class OscarStandinHandler(BaseHTTPRequestHandler):
    server_version = "Apache-Coyote/1.1"
    sys_version = ""
    record_path = None

    def log_message(self, format, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        remaining, chunks = length, []
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _record(self, body_size):
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "peer": self.client_address[0],
            "scheme": "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
            "headers": {k: v for k, v in self.headers.items()},
            "body_size": body_size,
        }
        if self.record_path:
            with RECORD_LOCK, open(self.record_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def _send(self, status, body, content_type="text/html; charset=utf-8", headers=()):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _session_user(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _sep, value = part.strip().partition("=")
            if name == "JSESSIONID" and value in SESSIONS:
                return SESSIONS[value]
        return None

    def _client_ip(self):
        # What OSCAR logs once Tomcat's RemoteIpValve trusts the front door: X-Forwarded-For's last hop.
        forwarded = self.headers.get("X-Forwarded-For")
        return forwarded.split(",")[-1].strip() if forwarded else self.client_address[0]

    def _handle(self):
        body = self._body()
        self._record(len(body))
        path = self.path.split("?", 1)[0]
        if path in ("/oscar", "/oscar/", "/oscar/index.jsp"):
            return self._send(200, LOGIN_PAGE.format(error=""))
        if path == "/oscar/login.do" and self.command == "POST":
            form = parse_qs(body.decode("utf-8", "replace"))
            user = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            if DEMO_USERS.get(user) == password and password:
                session = secrets.token_hex(16).upper()
                SESSIONS[session] = user
                return self._send(
                    302, "", headers=(
                        ("Location", "/oscar/provider/providercontrol.jsp"),
                        # Tomcat's own cookie: no Secure flag; the front door must add it.
                        ("Set-Cookie", f"JSESSIONID={session}; Path=/oscar; HttpOnly"),
                    ),
                )
            return self._send(200, LOGIN_PAGE.format(error='<p class="error">Login failed</p>'))
        if path == "/oscar/provider/providercontrol.jsp":
            user = self._session_user()
            if not user:
                return self._send(302, "", headers=(("Location", "/oscar/index.jsp"),))
            return self._send(200, SCHEDULE_PAGE.format(
                user=html.escape(user),
                client=html.escape(self._client_ip()),
                remote_user=html.escape(self.headers.get("Remote-User") or ""),
            ))
        # Everything else answers with what reached it, so tests can see the request as Tomcat got it.
        echo = {"reached": "oscar-standin", "method": self.command, "path": self.path,
                "body_size": len(body), "client_ip": self._client_ip()}
        return self._send(200, json.dumps(echo), content_type="application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


def serve(server):
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="OSCAR Tomcat stand-in (tests and demo only)")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--https-port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--record")
    args = parser.parse_args()

    OscarStandinHandler.record_path = args.record
    servers = [ThreadingHTTPServer((args.bind, args.http_port), OscarStandinHandler)]
    if args.https_port:
        tls = ThreadingHTTPServer((args.bind, args.https_port), OscarStandinHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        servers.append(tls)
    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
