"""The decision socket (auth_listener.py): only nginx's auth subrequest is accepted, repeated header lines reach the
decision joined as waitress joins them, and one connection carries many decisions."""

import io
import socket

import pytest
from gwtest import Client, enroll_totp, login, make_gateway, set_password
from oscar_gateway import auth_listener
from oscar_gateway.auth_listener import AuthListener, BadRequest, HeadReader, read_request

AUTH = b"GET /auth HTTP/1.1\r\nHost: gateway\r\n"


def parse(raw, chunk=None):
    """The first request in ``raw``, read ``chunk`` bytes at a time (all at once by default)."""
    stream = io.BytesIO(raw)
    return read_request(HeadReader(stream.read if chunk is None else lambda _size: stream.read(chunk)))


def test_repeated_header_lines_are_joined_and_underscore_names_dropped():
    _method, protocol, environ = parse(AUTH + b"Cf-Access-Jwt-Assertion: a.b.c\r\nCf-Access-Jwt-Assertion: junk\r\n"
                                       b"X_Real_IP: 203.0.113.9\r\nX-Real-IP: 127.0.0.1\r\n\r\n")
    assert protocol == "HTTP/1.1"
    assert environ["HTTP_CF_ACCESS_JWT_ASSERTION"] == "a.b.c, junk"
    assert environ["HTTP_X_REAL_IP"] == "127.0.0.1"


@pytest.mark.parametrize("separator", [b"\x85", b"\x0b", b"\x0c", b"\x1c", b"\x1e"])
def test_a_value_is_never_split_into_another_header(separator):
    _method, _protocol, environ = parse(AUTH + b"X-Note: a" + separator + b"X-Real-IP: 203.0.113.9\r\n"
                                        b"X-Real-IP: 127.0.0.1\r\n\r\n")
    assert environ["HTTP_X_REAL_IP"] == "127.0.0.1"


@pytest.mark.parametrize("raw", [
    b"POST /auth HTTP/1.1\r\n\r\n",
    b"GET /_gateway/login HTTP/1.1\r\n\r\n",
    b"GET /auth?x=1 HTTP/1.1\r\n\r\n",
    b"GET /auth HTTP/2\r\n\r\n",
    AUTH + b"Content-Length: 5\r\n\r\nhello",
    AUTH + b"Transfer-Encoding: chunked\r\n\r\n",
    AUTH + b"X-Real-IP: 127.0.0.1\r\n folded: value\r\n\r\n",
    AUTH + b"no colon here\r\n\r\n",
    AUTH + b"Bad Name: x\r\n\r\n",
    AUTH + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
    AUTH + b"X-Cut: short",
    AUTH + b"X-Cut: short\r\n",
    b"GET /auth HTTP/1.1\nHost: gateway\n\n",
    AUTH + b"X-Bare-LF: a\nX-Real-IP: 127.0.0.1\r\n\r\n",
    AUTH + b"X-Bare-CR: a\rX-Real-IP: 127.0.0.1\r\n\r\n",
    b"GET /auth HTTP/1.1 \r\n\r\n",
    b"GET /authx HTTP/1.1\r\n\r\n",
], ids=["post", "other-path", "query", "http2", "body", "chunked", "folded", "no-colon", "space-in-name", "too-large",
        "cut-short", "cut-after-a-line", "lf-only", "bare-lf-in-value", "bare-cr-in-value", "trailing-space",
        "longer-path"])
def test_anything_but_an_auth_subrequest_is_refused(raw):
    with pytest.raises(BadRequest):
        parse(raw)
    with pytest.raises(BadRequest):
        parse(raw, chunk=1)


def test_a_head_split_across_reads_is_the_same_request_and_pipelined_heads_stay_apart():
    first = AUTH + b"X-Real-IP: 127.0.0.1\r\nCookie: a=1\r\n\r\n"
    second = AUTH + b"X-Real-IP: 127.0.0.2\r\n\r\n"

    def without_input(parsed):
        method, protocol, environ = parsed
        return method, protocol, {k: v for k, v in environ.items() if k != "wsgi.input"}

    whole = without_input(parse(first))
    assert whole[2]["HTTP_COOKIE"] == "a=1" and whole[2]["HTTP_X_REAL_IP"] == "127.0.0.1"
    for chunk in (1, 2, 3, 5, 7):
        assert without_input(parse(first, chunk=chunk)) == whole
    stream = io.BytesIO(first + second)
    reader = HeadReader(stream.read)
    assert read_request(reader)[2]["HTTP_X_REAL_IP"] == "127.0.0.1"
    assert read_request(reader)[2]["HTTP_X_REAL_IP"] == "127.0.0.2"
    assert read_request(reader) is None  # a clean end between requests


def test_one_connection_carries_many_decisions_and_a_bad_request_closes_it(tmp_path):
    gateway = make_gateway(tmp_path)
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    cookie = "; ".join("%s=%s" % kv for kv in client.jar.items())
    path = str(tmp_path / "auth.sock")
    AuthListener(path, 0o660, gateway.decision).start()
    request = ("GET /auth HTTP/1.1\r\nX-Original-URL: https://emr.clinic.test/oscar/index.jsp\r\n"
               "X-Real-IP: 127.0.0.1\r\nCookie: %s\r\n\r\n" % cookie).encode()
    anonymous = (b"GET /auth HTTP/1.1\r\nX-Original-URL: https://emr.clinic.test/oscar/index.jsp\r\n"
                 b"X-Real-IP: 127.0.0.1\r\n\r\n")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        stream = sock.makefile("rb")

        def answer():
            status = stream.readline().split()[1]
            headers = {}
            while True:
                line = stream.readline()
                if line in (b"\r\n", b""):
                    return status, headers
                name, _sep, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()

        for _attempt in range(3):
            sock.sendall(request)
            status, headers = answer()
            assert status == b"200" and headers["remote-user"] == "drsmith" and headers["content-length"] == "0"
        sock.sendall(anonymous)
        status, headers = answer()
        assert status == b"401" and headers["location"].startswith("https://emr.clinic.test/_gateway/login")
        sock.sendall(b"POST /auth HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        status, headers = answer()
        assert status == b"400" and headers["connection"] == "close"
        assert stream.read() == b""  # closed


def test_an_idle_connection_is_closed_by_the_socket_timeout(tmp_path, monkeypatch):
    """The idle limit is the kernel's receive timeout (no poll per read): a peer that sends nothing is let go."""
    monkeypatch.setattr(auth_listener, "IDLE_SECONDS", 1)
    path = str(tmp_path / "auth.sock")
    AuthListener(path, 0o660, lambda request: (200, [])).start()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(b"GET /auth HTTP/1.1\r\n")  # half a head, then nothing
        assert sock.recv(100) == b""  # closed by the gateway, well before this side's 10 s


def test_a_remembered_answer_is_the_answer_and_a_header_with_a_line_break_is_still_refused():
    allowed = [("X-Accel-Expires", "0"), ("Remote-User", "drsmith")]
    smuggled = [("X-Accel-Expires", "0"), ("Remote-User", "drsmith\r\nRemote-Groups: admin")]
    for _attempt in range(2):  # worked out, then remembered
        assert auth_listener.answer_bytes(200, allowed, True) == auth_listener.response_bytes(200, allowed, True)
        refused = auth_listener.answer_bytes(200, smuggled, True)
        assert refused.startswith(b"HTTP/1.1 403 ") and b"admin" not in refused
