"""nginx's ``auth_request`` subrequests on a socket of their own: a thread per keep-alive connection that calls the
decision in that thread and writes the answer straight back.

Why not waitress, which serves the pages: waitress reads a request in its event loop, hands it to a worker thread
and the answer back through a wake-up pipe; on the 2-core test machine that hop alone costs 0.2-0.5 ms, more than the
decision itself (``benchmarks/gateway_bench.py``). nginx keeps its few connections to this socket open (upstream
``keepalive``), so a thread per connection costs nothing per request.

Only what nginx's auth subrequest sends is accepted: ``GET`` (or ``HEAD``) ``/auth`` over HTTP/1.x, header lines
ending in CRLF (as nginx writes them), no body. Anything else is answered 400 and the connection closed. Repeated
header lines are joined with ``", "`` and names holding ``_`` are dropped, as waitress does, so the decision sees the
same request on either socket (the access-token check refuses a joined pair of tokens).
"""

import io
import os
import re
import socket
import struct
import threading

from . import web
from .remembered import Remembered

MAX_HEADER_BYTES = 65536  # as waitress's max_request_header_size
# Each open connection holds a thread, idle ones too: room for every nginx worker's kept-alive connections (nginx keeps
# 8 per worker and closes them after 20 s idle, before this side's 30 s). The unit's TasksMax leaves room for these.
MAX_CONNECTIONS = 128
IDLE_SECONDS = 30  # as waitress's channel_timeout
RECV_BYTES = 65536  # one read takes a whole head from nginx
# The only request lines nginx's auth subrequest sends here: (method, protocol) of each.
_REQUEST_LINES = {"%s /auth %s" % (method, protocol): (method, protocol)
                  for method in ("GET", "HEAD") for protocol in ("HTTP/1.0", "HTTP/1.1")}
# A header name: RFC 9110 token characters. (Names with "_" are dropped below; nginx drops them too,
# underscores_in_headers off.)
_TOKEN = re.compile(r"[!#$%&'*+.^`|~0-9A-Za-z_-]+")
# Header name -> its environ key ("" for a name holding "_": dropped). nginx sends the same few names on every
# subrequest, so each is checked and worked out once; bounded, as the names are the browser's. Only names that are
# tokens are ever kept here.
_ENVIRON_KEYS = {}
_MAX_ENVIRON_KEYS = 1024
_BODY_KEYS = ("CONTENT_LENGTH", "CONTENT_TYPE")  # WSGI's two keys without HTTP_; the last line counts


class BadRequest(Exception):
    """Not an auth subrequest from nginx: answered 400, connection closed."""


def _environ_key(name):
    """The environ key of a header name that is not remembered yet; BadRequest if it is no token."""
    if not _TOKEN.fullmatch(name):
        raise BadRequest("header name")  # none, a space in it, or an obsolete folded line
    if "_" in name:
        key = ""
    else:
        key = name.upper().replace("-", "_")
        if key not in _BODY_KEYS:
            key = "HTTP_" + key
    if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
        _ENVIRON_KEYS[name] = key
    return key


def parse_head(head):
    """(method, protocol, WSGI-style environ) of one request's head: its request line and header lines, each ending in
    CRLF, without the blank line that ends the head. Raises BadRequest for anything but nginx's auth subrequest.

    Every step is a C-level string method or a dict look-up, not a regular expression over the values: this runs for
    every request to OSCAR."""
    text = head.decode("latin-1")  # one byte, one character
    # Every CR and every LF is part of a CRLF: no bare one anywhere (in a value it would start a header of its own).
    crlf = text.count("\r\n")
    if text.count("\r") != crlf or text.count("\n") != crlf:
        raise BadRequest("a bare CR or LF")
    # split("\r\n"), never splitlines(): that would also break a value at \x85, \x0b or \x1c and make a header of it.
    lines = text.split("\r\n")
    request_line = _REQUEST_LINES.get(lines[0])
    if request_line is None:
        raise BadRequest("request line")
    method, protocol = request_line
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/auth", "QUERY_STRING": "", "SERVER_PROTOCOL": protocol,
               "wsgi.input": io.BytesIO(b"")}
    keys = _ENVIRON_KEYS
    for index in range(1, len(lines) - 1):  # the last is the "" after the head's final CRLF
        name, colon, value = lines[index].partition(":")
        if not colon:
            raise BadRequest("header line without a colon")
        key = keys.get(name)
        if key is None:
            key = _environ_key(name)
        if not key:
            continue
        value = value.strip(" \t")
        if key in environ and key not in _BODY_KEYS:
            value = environ[key] + ", " + value
        environ[key] = value
    if environ.get("CONTENT_LENGTH", "0") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ:
        raise BadRequest("a body")  # nginx sends the auth subrequest without one
    return method, protocol, environ


class HeadReader:
    """The heads of the requests on one connection, read with as few system calls as the peer's writes allow (one
    ``recv`` per request from nginx), never more than MAX_HEADER_BYTES buffered."""

    def __init__(self, recv):
        self.recv = recv
        self.pending = b""

    def next_head(self):
        """The next request's head (see ``parse_head``), or None when the peer closed between requests."""
        pending = self.pending
        end = pending.find(b"\r\n\r\n")
        while end < 0:
            if len(pending) > MAX_HEADER_BYTES:
                raise BadRequest("header section too large")
            chunk = self.recv(RECV_BYTES)
            if not chunk:
                if pending:
                    raise BadRequest("header section cut short")
                return None
            searched = max(0, len(pending) - 3)  # a CRLFCRLF split across two reads is still found
            pending += chunk
            end = pending.find(b"\r\n\r\n", searched)
        if end + 4 > MAX_HEADER_BYTES:
            raise BadRequest("header section too large")
        self.pending = pending[end + 4:]
        return pending[:end + 2]


def read_request(reader):
    """(method, protocol, environ) of the next request from a ``HeadReader``, or None at a clean end."""
    head = reader.next_head()
    return None if head is None else parse_head(head)


def response_bytes(status, headers, keep_alive):
    lines = ["%s: %s" % pair for pair in headers]
    # A CR, LF or NUL in any name or value makes the answer a bare 403 (checked before the lines' own CRLFs are added).
    joined = "".join(lines)
    if "\r" in joined or "\n" in joined or "\x00" in joined:
        return response_bytes(403, [("Cache-Control", "no-store"), ("X-Accel-Expires", "0")], keep_alive)
    ending = "\r\n" if keep_alive else "Connection: close\r\n\r\n"
    return "\r\n".join(["HTTP/1.1 " + web.STATUS[status], *lines, "Content-Length: 0", ending]).encode("latin-1")


_ANSWERS = Remembered()  # the same few answers (one per person and cache lifetime) go out over and over


def answer_bytes(status, headers, keep_alive):
    """``response_bytes``, remembered per answer: a pure function of the three."""
    key = (status, tuple(headers), keep_alive)
    found = _ANSWERS.get(key)
    if found is None:
        found = _ANSWERS.put(key, response_bytes(status, headers, keep_alive))
    return found


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
            # The idle limit as the kernel's own socket timeouts: a blocking socket with settimeout() would poll()
            # before every recv and send, a system call per request for nothing.
            idle = struct.pack("ll", IDLE_SECONDS, 0)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, idle)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, idle)
            reader = HeadReader(conn.recv)
            send = conn.sendall
            while True:
                try:
                    request = read_request(reader)
                except BadRequest as exc:
                    self.log("auth socket: refused a request (%s)" % exc)
                    send(response_bytes(400, [], keep_alive=False))
                    return
                if request is None:
                    return
                _method, protocol, environ = request
                connection = environ.get("HTTP_CONNECTION", "").lower()
                keep_alive = "close" not in connection and (protocol == "HTTP/1.1" or "keep-alive" in connection)
                status, headers = self.decide(web.Request(environ))
                send(answer_bytes(status, headers, keep_alive))
                if not keep_alive:
                    return
        except OSError:
            pass  # the peer went away or stayed idle too long (EAGAIN from the socket timeouts)
        finally:
            conn.close()
            self._slots.release()
