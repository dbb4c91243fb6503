"""The decision socket (auth_listener.py): only nginx's auth subrequest is accepted, repeated header lines reach the
decision joined as waitress joins them, and one connection carries many decisions."""

import io
import socket

import pytest
from gwtest import Client, enroll_totp, login, make_gateway, set_password
from oscar_gateway.auth_listener import AuthListener, BadRequest, read_request

AUTH = b"GET /auth HTTP/1.1\r\nHost: gateway\r\n"


def parse(raw):
    return read_request(io.BytesIO(raw))


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
], ids=["post", "other-path", "query", "http2", "body", "chunked", "folded", "no-colon", "space-in-name", "too-large",
        "cut-short"])
def test_anything_but_an_auth_subrequest_is_refused(raw):
    with pytest.raises(BadRequest):
        parse(raw)


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
