"""TEST DOUBLE of the access gateway's decision service (Molecule scenario nginx only; not the gateway).

Listens on a unix socket like the real gateway will and answers nginx's auth_request the way the
real one must: 200 (with identity headers), 401 (with a Location to its login page) or 403. The
decision comes from the request: header X-Double-Decision or cookie double_decision, one of
allow (default), anonymous (200 without identity), login (401), deny (403). Every request is
recorded as one JSON line so tests can see what nginx sent (X-Original-URL, method, client IP).
"""

import argparse
import json
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    record_path = None

    def address_string(self):
        return "unix"

    def log_message(self, format, *args):
        pass

    def _cookie(self, name):
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _sep, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def _send(self, status, body="", headers=()):
        data = body.encode()
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        with LOCK, open(self.record_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), "method": self.command, "path": self.path,
                                     "headers": dict(self.headers.items())}) + "\n")
        path = self.path.split("?", 1)[0]
        if path == "/auth":
            decision = self.headers.get("X-Double-Decision") or self._cookie("double_decision") or "allow"
            if decision == "login":
                target = quote(self.headers.get("X-Original-URL") or "", safe="")
                return self._send(401, headers=(("Location", "/_gateway/login?rd=" + target),))
            if decision == "deny":
                return self._send(403)
            if decision == "anonymous":
                return self._send(200)
            user = self._cookie("oscar_gateway_session") or "double-user"
            return self._send(200, headers=(("Remote-User", user), ("Remote-Email", user + "@clinic.test")))
        if path.startswith("/_gateway/login"):
            return self._send(200, "gateway login page (test double)\n")
        return self._send(404, "not found (test double)\n")

    do_GET = do_POST = do_HEAD = _handle


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    Handler.record_path = args.record
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = Server(args.socket, Handler)
    os.chmod(args.socket, 0o666)  # nginx's workers (www-data) connect to it
    server.serve_forever()


if __name__ == "__main__":
    main()
