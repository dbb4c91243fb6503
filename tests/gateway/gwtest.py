"""Shared helpers for the access gateway's tests: configs, an in-process WSGI client, JWT signing."""

import base64
import copy
import io
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_FILES = ROOT / "roles" / "gateway" / "files"
if str(GATEWAY_FILES) not in sys.path:
    sys.path.insert(0, str(GATEWAY_FILES))

from oscar_gateway import app as gw_app  # noqa: E402
from oscar_gateway import config as gw_config  # noqa: E402

HOST = "emr.clinic.test"
ORIGIN = "https://" + HOST
TEAM = "clinic.cloudflareaccess.com"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb6752d2ef32e6d9fe4ed23df"

POLICY = {
    "application": {"name": "OSCAR", "domain": HOST},
    "users": [
        {"name": "drsmith", "email": "drsmith@clinic.test", "roles": ["physician"]},
        {"name": "reception", "email": "reception@clinic.test", "roles": ["clerk"]},
        {"name": "privacy", "email": "privacy@clinic.test", "roles": ["admin"]},
        {"name": "locum", "email": "locum@locums.test", "roles": ["physician"]},
    ],
    "groups": [{"name": "staff", "email_domains": ["clinic.test"]}],
    "service_tokens": [{"name": "lab-uploader"}],
    "policies": [
        {"name": "integrations", "decision": "bypass", "paths": ["/oscar/ws"],
         "include": {"ip_ranges": ["203.0.113.0/24"]}},
        {"name": "lab-service", "decision": "service_auth", "paths": ["/oscar/lab"],
         "include": {"service_tokens": ["lab-uploader"]}},
        {"name": "admin-pages", "decision": "deny", "paths": ["/oscar/admin"], "targets": ["gateway"],
         "include": {"everyone": True}, "exclude": {"roles": ["admin"]}},
        {"name": "sensitive", "decision": "allow", "paths": ["/oscar/sensitive"], "targets": ["gateway"],
         "include": {"users": ["drsmith", "reception"]},
         "purpose_justification": {"required": True, "prompt": "Why do you need the sensitive records?"},
         "approval": {"required": True, "groups": [
             {"name": "privacy office", "emails": ["privacy@clinic.test"], "approvals_needed": 1}]}},
        {"name": "reports", "decision": "allow", "paths": ["/oscar/report"], "targets": ["gateway"],
         "include": {"roles": ["physician", "admin"]},
         "purpose_justification": {"required": True}},
        {"name": "staff", "decision": "allow", "paths": ["/oscar", "/"], "include": {"groups": ["staff"]},
         "session_duration": "8h"},
    ],
}

USERS = [
    {"username": "drsmith", "display_name": "Dr. Ann Smith", "email": "drsmith@clinic.test", "role": "physician"},
    {"username": "reception", "display_name": "Front Desk", "email": "reception@clinic.test", "role": "clerk"},
    {"username": "privacy", "display_name": "Privacy Officer", "email": "privacy@clinic.test", "role": "admin"},
    {"username": "locum", "display_name": "Dr. Locum", "email": "locum@locums.test", "role": "physician"},
    {"username": "gone", "display_name": "Former", "email": "gone@clinic.test", "role": "clerk", "enabled": False},
]

PASSWORD = "correct horse battery staple"


def base_config(tmp_path, mode="standalone", **overrides):
    cfg = {
        "mode": mode,
        "clinic_name": "Lakeside Family Clinic",
        "public_host": HOST,
        "listen": {"unix_socket": str(tmp_path / "gw.sock")},
        "database": str(tmp_path / "gateway.db"),
        "audit_jsonl": str(tmp_path / "audit.jsonl"),
        "secrets_file": str(tmp_path / "secrets.json"),
        "access_policy": copy.deepcopy(POLICY),
        "users": copy.deepcopy(USERS),
        "login": {"min_response_seconds": 0.05, "max_failures": 3, "max_failures_per_address": 3, "find_seconds": 60,
                  "ban_seconds": 30,
                  "argon2": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}},
    }
    if mode == "cloudflare":
        cfg["cloudflare"] = {"team_domain": TEAM, "aud": [AUD], "jwks_min_refetch_seconds": 0,
                             "service_tokens": {"lab-uploader": "abc123.access"}}
        cfg["users"] = []
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    return cfg


def write_secrets(path):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(gw_config.generate_secrets(), handle)


def make_gateway(tmp_path, mode="standalone", environ=None, **overrides):
    cfg = base_config(tmp_path, mode, **overrides)
    write_secrets(cfg["secrets_file"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    loaded = gw_config.load(str(path), environ if environ is not None else {})
    keys = gw_config.load_secrets(loaded["secrets_file"])
    return gw_app.Gateway(loaded, keys)


def run_admin(gateway, tmp_path, *argv, stdin=""):
    """``oscar-gateway-admin ARGV`` in this process with ``stdin``, on the gateway made in ``tmp_path``: (code, out)."""
    from oscar_gateway import admin

    path = tmp_path / "config.json"
    out = io.StringIO()
    old_out, old_in = sys.stdout, sys.stdin
    sys.stdout, sys.stdin = out, io.StringIO(stdin)
    try:
        code = admin.main(["--config", str(path), *argv])
    finally:
        sys.stdout, sys.stdin = old_out, old_in
    return code, out.getvalue()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def cookies(self):
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


class Client:
    """Drives the WSGI app in-process like nginx and a browser would, keeping cookies."""

    def __init__(self, app, ip="198.51.100.7"):
        self.app = app
        self.ip = ip
        self.jar = {}

    def request(self, method, path, headers=None, body=b"", query=""):
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "localhost",
            "SERVER_PORT": "80", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
        }
        if body:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        merged = {"X-Real-IP": self.ip}
        if self.jar:
            merged["Cookie"] = "; ".join("%s=%s" % kv for kv in self.jar.items())
        merged.update(headers or {})
        for key, value in merged.items():
            if value is None:
                continue
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        body_out = b"".join(self.app(environ, start_response))
        response = Response(captured["status"], captured["headers"], body_out)
        for cookie in response.cookies():
            name, _sep, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def auth(self, path, method="GET", headers=None):
        merged = {"X-Original-URL": ORIGIN + path, "X-Original-Method": method}
        merged.update(headers or {})
        return self.request("GET", "/auth", merged)

    def get(self, path, query="", headers=None):
        return self.request("GET", path, headers, query=query)

    def post(self, path, fields, headers=None):
        merged = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
        merged.update(headers or {})
        return self.request("POST", path, merged, body=urlencode(fields).encode())


def csrf_of(response):
    import re

    match = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert match, response.text
    return match.group(1)


def set_password(gateway, username, password=PASSWORD):
    hashed = gateway.passwords.hash(password)
    gateway.store.execute("UPDATE users SET password_hash = ? WHERE username = ?", (hashed, username))


def enroll_totp(gateway, username):
    """Give the user a TOTP secret directly; returns the secret."""
    from oscar_gateway import security

    secret = security.new_totp_secret()
    gateway.store.execute("UPDATE users SET totp_secret = ?, totp_last_step = 0 WHERE username = ?",
                          (gateway.box.seal(secret, "totp:" + username), username))
    return secret


def totp_now(secret, offset=0):
    import pyotp

    return pyotp.TOTP(secret).at(time.time(), offset)


def login(client, gateway, username, secret, next_path="/oscar/"):
    """Full standalone login (password + TOTP); returns the final response."""
    page = client.get("/_gateway/login", query="next=" + next_path)
    response = client.post("/_gateway/login", {"username": username, "password": PASSWORD,
                                               "csrf": csrf_of(page), "next": next_path})
    assert response.status == 303, response.text
    assert response.header("Location").endswith("/_gateway/mfa")
    page = client.get("/_gateway/mfa")
    # Use a code of a later step than any already used (replay protection).
    row = gateway.store.one("SELECT totp_last_step FROM users WHERE username = ?", (username,))
    import pyotp

    totp = pyotp.TOTP(secret)
    current = int(time.time() // 30)
    offset = 0 if current > row["totp_last_step"] else 1
    response = client.post("/_gateway/mfa", {"code": totp.at(time.time(), offset), "csrf": csrf_of(page)})
    assert response.status == 303, response.text
    return response


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
