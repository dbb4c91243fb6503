"""nginx's ``auth_request`` subrequests on a socket of their own: a thread per keep-alive connection that calls the
decision in that thread and writes the answer straight back.

Why not waitress, which serves the pages: waitress reads a request in its event loop, hands it to a worker thread
and the answer back through a wake-up pipe; on the 2-core test machine that hop alone costs 0.2-0.5 ms, more than the
decision itself (``benchmarks/gateway_bench.py``). nginx keeps its few connections to this socket open (upstream
``keepalive``), so a thread per connection costs nothing per request.

Only what nginx's auth subrequest sends is accepted: ``GET`` (or ``HEAD``) ``/auth`` over HTTP/1.x, header lines, no
body. Anything else is answered 400 and the connection closed. Repeated header lines are joined with ``", "`` and
names holding ``_`` are dropped, as waitress does, so the decision sees the same request on either socket (the
access-token check refuses a joined pair of tokens).
"""

import io
import os
import re
import socket
import threading

from . import web

MAX_HEADER_BYTES = 65536  # as waitress's max_request_header_size
# Each open connection holds a thread, idle ones too: room for every nginx worker's kept-alive connections (nginx keeps
# 8 per worker and closes them after 20 s idle, before this side's 30 s). The unit's TasksMax leaves room for these.
MAX_CONNECTIONS = 128
IDLE_SECONDS = 30  # as waitress's channel_timeout
_REQUEST_LINE = re.compile(rb"\A(GET|HEAD) (/auth) (HTTP/1\.[01])\r?\n\Z")
# Every header line at once: a name of RFC 9110 token characters, a colon, a value without CR or LF. (Names with "_"
# are dropped below; nginx drops them too, underscores_in_headers off.)
_HEADER_BLOCK = re.compile(rb"\A(?:[!#$%&'*+.^`|~0-9A-Za-z_-]+:[^\r\n]*\r?\n)*\Z")
# Header name -> its environ key ("" for a name holding "_": dropped). nginx sends the same few names on every
# subrequest, so each is worked out once; bounded, as the names are the browser's.
_ENVIRON_KEYS = {}
_MAX_ENVIRON_KEYS = 1024
_BODY_KEYS = ("CONTENT_LENGTH", "CONTENT_TYPE")  # WSGI's two keys without HTTP_; the last line counts


class BadRequest(Exception):
    """Not an auth subrequest from nginx: answered 400, connection closed."""


def _environ_key(name):
    key = _ENVIRON_KEYS.get(name)
    if key is None:
        if "_" in name:
            key = ""
        else:
            key = name.upper().replace("-", "_")
            if key not in _BODY_KEYS:
                key = "HTTP_" + key
        if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
            _ENVIRON_KEYS[name] = key
    return key


def read_request(stream):
    """(method, protocol, WSGI-style environ) of the next request on ``stream``, or None at a clean end."""
    line = stream.readline(MAX_HEADER_BYTES + 1)
    if not line:
        return None
    match = _REQUEST_LINE.match(line)
    if not match:
        raise BadRequest("request line")
    method, path, protocol = (part.decode("ascii") for part in match.groups())
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_PROTOCOL": protocol,
               "wsgi.input": io.BytesIO(b"")}
    size = len(line)
    lines = []
    readline = stream.readline
    while True:
        line = readline(MAX_HEADER_BYTES + 1)
        size += len(line)
        if size > MAX_HEADER_BYTES or not line:
            raise BadRequest("header section too large or cut short")
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line)
    block = b"".join(lines)
    if not _HEADER_BLOCK.match(block):
        raise BadRequest("header line")  # no name, a bad name, or an obsolete folded line
    # split("\n"), never splitlines(): that would also break a value at \x85, \x0b or \x1c and make a header of it.
    for line in block.decode("latin-1").split("\n")[:-1]:
        name, _sep, value = line.partition(":")
        key = _ENVIRON_KEYS.get(name) or _environ_key(name)
        if not key:
            continue
        value = value.strip(" \t\r")
        if key in environ and key not in _BODY_KEYS:
            value = environ[key] + ", " + value
        environ[key] = value
    if environ.get("CONTENT_LENGTH", "0") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ:
        raise BadRequest("a body")  # nginx sends the auth subrequest without one
    return method, protocol, environ


def response_bytes(status, headers, keep_alive):
    lines = ["%s: %s" % pair for pair in headers]
    # A CR, LF or NUL in any name or value makes the answer a bare 403 (checked before the lines' own CRLFs are added).
    joined = "".join(lines)
    if "\r" in joined or "\n" in joined or "\x00" in joined:
        return response_bytes(403, [("Cache-Control", "no-store"), ("X-Accel-Expires", "0")], keep_alive)
    ending = "\r\n" if keep_alive else "Connection: close\r\n\r\n"
    return "\r\n".join(["HTTP/1.1 " + web.STATUS[status], *lines, "Content-Length: 0", ending]).encode("latin-1")


class AuthListener:
    """Serve ``decide(web.Request) -> (status, headers)`` on the UNIX socket ``path`` (mode ``mode``)."""

    def __init__(self, path, mode, decide, log=web.log):
        self.path = path
        self.mode = mode
        self.decide = decide
        self.log = log
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, mode)
        self.sock.listen(128)

    def start(self):
        threading.Thread(target=self._accept_loop, name="auth-listener", daemon=True).start()
        return self

    def _accept_loop(self):
        while True:
            self._slots.acquire()  # at the limit, new connections wait in the backlog
            try:
                conn, _addr = self.sock.accept()
            except OSError as exc:
                self._slots.release()
                self.log("auth socket: accept failed: %s" % exc)
                continue
            try:
                threading.Thread(target=self._serve, args=(conn,), name="auth-conn", daemon=True).start()
            except RuntimeError as exc:  # no thread to be had (TasksMax): this connection only is refused
                self.log("auth socket: cannot serve a connection: %s" % exc)
                conn.close()
                self._slots.release()

    def _serve(self, conn):
        try:
            conn.settimeout(IDLE_SECONDS)
            stream = conn.makefile("rb")
            while True:
                try:
                    request = read_request(stream)
                except BadRequest as exc:
                    self.log("auth socket: refused a request (%s)" % exc)
                    conn.sendall(response_bytes(400, [], keep_alive=False))
                    return
                if request is None:
                    return
                _method, protocol, environ = request
                connection = environ.get("HTTP_CONNECTION", "").lower()
                keep_alive = "close" not in connection and (protocol == "HTTP/1.1" or "keep-alive" in connection)
                status, headers = self.decide(web.Request(environ))
                conn.sendall(response_bytes(status, headers, keep_alive))
                if not keep_alive:
                    return
        except OSError:
            pass  # the peer went away or stayed idle too long
        finally:
            conn.close()
            self._slots.release()
