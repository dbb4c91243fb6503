"""A loopback stack for integration tests and the benchmark: real nginx, the gateway on a UNIX
socket (waitress, as deployed), and the OSCAR stand-in.

The nginx configuration here is a test fixture that mirrors the contract the nginx role renders
(roles/nginx/templates/nginx.conf.j2): canonical-path and blocked-path checks before anything
else, ``auth_request`` to the gateway with X-Original-URL/-Method and the real client address,
identity headers copied from the gateway's answer (client copies dropped), 401 turned into a
302 to the gateway's Location, 403 refused, the gateway's pages under /_gateway/.

nginx comes from Debian (``apt-get install nginx-light``); ``ensure_nginx`` installs it when it
is missing and the tests run as root, and otherwise tells the caller why it cannot.
"""

import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_FILES = ROOT / "roles" / "gateway" / "files"
STANDIN = ROOT / "tests" / "standins" / "oscar_standin.py"
HOST = "emr.clinic.test"
SESSION_COOKIE = "__Host-oscar-gw"


def ensure_nginx():
    """Return the nginx binary, installing Debian's nginx-light if needed. Raises RuntimeError with a reason."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("nginx is not installed and cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx-light"],
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx-light"]):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600)
        found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if found:
            return found
    raise RuntimeError("apt-get could not install nginx-light")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_cert(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = Path(directory) / "tls.crt", Path(directory) / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def wait_for(check, timeout=15.0, what="service"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s did not come up" % what)


def _port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _unix_open(path):
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        sock.connect(path)
        return True


NGINX_CONF = r"""
worker_processes 1;
error_log {prefix}/error.log error;
pid {prefix}/nginx.pid;
{user}
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log off;
    server_tokens off;
    underscores_in_headers off;
    ignore_invalid_headers on;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000;

    map $request_uri $canonical {{
        "~*{canonical}" 1;
        default 0;
    }}
    map $uri $blocked {{
        "~*{blocked}" 1;
        default 0;
    }}
    # The gateway's __Host- cookie cannot be named in $cookie_...: take it from the Cookie header.
    map $http_cookie $gw_session {{
        "~(?:^|;\s*)__Host-oscar-gw=(?<v>[^;]+)" $v;
        default "";
    }}
    map "$gw_session$http_cf_access_jwt_assertion" $auth_nocache {{
        "" 1;
        default 0;
    }}
    map $gw_location $login_redirect {{
        "" "/_gateway/login";
        default $gw_location;
    }}
    proxy_cache_path {prefix}/authcache levels=1:2 keys_zone=oscar_auth:1m max_size=16m inactive=1m use_temp_path=off;

    upstream oscar_tomcat {{ server 127.0.0.1:{standin_port}; keepalive 32; }}
{servers}
}}
"""

SERVER = r"""
    upstream gw_{name} {{ server unix:{socket}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {real_ip}
        if ($canonical = 0) {{ return 400; }}
        if ($blocked) {{ return 404; }}

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Original-URL "";
        proxy_set_header X-Original-Method "";
        proxy_set_header Remote-User $gw_user;
        proxy_set_header Remote-Email $gw_email;
        proxy_set_header Remote-Name $gw_name;
        proxy_set_header Remote-Groups $gw_groups;

        auth_request /_auth;
        auth_request_set $gw_location $upstream_http_location;
        auth_request_set $gw_user $upstream_http_remote_user;
        auth_request_set $gw_email $upstream_http_remote_email;
        auth_request_set $gw_name $upstream_http_remote_name;
        auth_request_set $gw_groups $upstream_http_remote_groups;
        auth_request_set $gw_cache $upstream_cache_status;
        add_header X-Auth-Cache "$gw_cache;$auth_nocache" always;
        error_page 401 = @login;
        error_page 403 /_refused;

        location / {{ return 404; }}
        location /oscar/ {{ proxy_pass http://oscar_tomcat; }}
        location = /noauth/ {{ auth_request off; proxy_pass http://oscar_tomcat/oscar/; }}
        location = /_refused {{ internal; auth_request off; default_type text/plain; return 403 "Access refused.\n"; }}
        location ^~ /_gateway/ {{ auth_request off; client_max_body_size 1m; proxy_pass http://gw_{name}; }}
        location = /_auth {{
            internal;
            auth_request off;
            proxy_pass http://gw_{name}/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Original-URL https://$host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header Remote-User "";
            proxy_set_header Remote-Email "";
            proxy_set_header Remote-Name "";
            proxy_set_header Remote-Groups "";
            proxy_connect_timeout 5s;
            proxy_read_timeout 15s;
            {cache}
        }}
        location @login {{ auth_request off; return 302 $login_redirect; }}
    }}
"""

CACHE = r"""
            proxy_cache oscar_auth;
            proxy_cache_key "$gw_session|$http_cf_access_jwt_assertion|$request_method|$host|$request_uri|$remote_addr";
            proxy_cache_valid 200 {ttl}s;
            proxy_cache_methods GET HEAD;
            proxy_no_cache $auth_nocache;
            proxy_cache_bypass $auth_nocache;
"""


class Stack:
    """nginx + gateway(s) + OSCAR stand-in on loopback. ``gateways`` maps a name to a config dict."""

    def __init__(self, workdir, gateways, cache_ttl=0, gateway_env=None):
        self.dir = Path(workdir)
        self.gateway_configs = gateways
        self.cache_ttl = cache_ttl
        self.gateway_env = gateway_env or {}
        self.procs = {}
        self.ports = {}
        self.nginx = ensure_nginx()

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.record = self.dir / "standin.jsonl"
        self.standin_port = free_port()
        self.procs["standin"] = subprocess.Popen(
            [sys.executable, str(STANDIN), "--bind", "127.0.0.1", "--http-port", str(self.standin_port),
             "--record", str(self.record)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _port_open(self.standin_port), what="OSCAR stand-in")
        for name in self.gateway_configs:
            self.start_gateway(name)
        self.start_nginx()
        return self

    def gateway_socket(self, name):
        return self.gateway_configs[name]["listen"]["unix_socket"]

    def start_gateway(self, name):
        cfg_path = self.dir / ("gateway-%s.json" % name)
        cfg_path.write_text(json.dumps(self.gateway_configs[name]))
        env = dict(os.environ, PYTHONPATH=str(GATEWAY_FILES), **self.gateway_env)
        log = open(self.dir / ("gateway-%s.log" % name), "ab")
        self.procs["gw-" + name] = subprocess.Popen(
            [sys.executable, "-m", "oscar_gateway", "--config", str(cfg_path)], env=env, stdout=log, stderr=log)
        wait_for(lambda: _unix_open(self.gateway_socket(name)), what="gateway " + name)

    def stop_gateway(self, name):
        proc = self.procs.pop("gw-" + name, None)
        if proc:
            proc.terminate()
            proc.wait(10)

    def start_nginx(self):
        sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
        try:
            import _oscar_paths
        finally:
            sys.path.pop(0)
        cert, key = make_cert(self.dir)
        servers = []
        for name in self.gateway_configs:
            self.ports[name] = free_port()
            cache = CACHE.format(ttl=self.cache_ttl) if self.cache_ttl else ""
            servers.append(SERVER.format(
                name=name, socket=self.gateway_socket(name), port=self.ports[name], host=HOST, cert=cert, key=key,
                real_ip="", cache=cache))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "authcache"):
            (self.dir / sub).mkdir(exist_ok=True)
        conf = NGINX_CONF.format(
            prefix=self.dir, user="user root;" if os.geteuid() == 0 else "", standin_port=self.standin_port,
            canonical=_oscar_paths.canonical_regex(), blocked=_oscar_paths.blocked_regex(), servers="".join(servers))
        (self.dir / "nginx.conf").write_text(conf)
        check = subprocess.run([self.nginx, "-t", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError("nginx -t failed: " + check.stderr)
        self.procs["nginx"] = subprocess.Popen(
            [self.nginx, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.ports.values():
            wait_for(lambda p=port: _port_open(p), what="nginx")

    def stop(self):
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def requests_seen(self):
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]

    def rss_kb(self, name):
        pid = self.procs["gw-" + name].pid
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Browser:
    """A minimal HTTPS client for the stack: raw paths, a cookie jar, no redirects followed."""

    def __init__(self, port, host=HOST):
        self.port = port
        self.host = host
        self.jar = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=20)
        return self.conn

    def request(self, method, path, headers=None, body=None, keep_cookies=True):
        merged = {"Host": self.host, "User-Agent": "gateway-tests"}
        if self.jar:
            merged["Cookie"] = "; ".join("%s=%s" % kv for kv in self.jar.items())
        merged.update(headers or {})
        merged = {k: v for k, v in merged.items() if v is not None}
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for key, value in merged.items():
                    conn.putheader(key, value)
                data = body.encode() if isinstance(body, str) else body
                if data is not None:
                    conn.putheader("Content-Length", str(len(data)))
                conn.endheaders(data)
                response = conn.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn = None
                if attempt:
                    raise
        if keep_cookies:
            for key, value in response.getheaders():
                if key.lower() == "set-cookie":
                    name, _sep, rest = value.partition("=")
                    if "Max-Age=0" in value:
                        self.jar.pop(name, None)
                    else:
                        self.jar[name] = rest.split(";", 1)[0]
        response.body = content
        response.text = content.decode("utf-8", "replace")
        return response

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def post_form(self, path, fields, headers=None):
        from urllib.parse import urlencode

        merged = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://" + self.host,
                  "Sec-Fetch-Site": "same-origin"}
        merged.update(headers or {})
        return self.request("POST", path, merged, urlencode(fields))

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
