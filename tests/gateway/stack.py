"""A loopback stack for integration tests and the benchmark: real nginx running the nginx role's own
configuration (rendered by Ansible from roles/nginx/templates/nginx.conf.j2, see rendered_nginx.py), the gateway
on a UNIX socket (waitress, as deployed), and the OSCAR stand-in.

Each gateway gets its own nginx with the role's configuration for that gateway; ``plain`` adds nginx instances
with the role's configuration and other variables (``nginx_gateway_enabled: false`` for the benchmark's baseline).

nginx comes from Debian with the headers-more module the role installs (``ensure_nginx`` installs them when they
are missing and the tests run as root, and otherwise tells the caller why it cannot).
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

import rendered_nginx

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_FILES = ROOT / "roles" / "gateway" / "files"
STANDIN = ROOT / "tests" / "standins" / "oscar_standin.py"
HOST = "emr.clinic.test"
SESSION_COOKIE = "__Host-oscar-gw"


# What the nginx role installs (roles/nginx/vars/main.yml __nginx_packages): nginx and the headers-more module.
PACKAGES = ["nginx-light", "libnginx-mod-http-headers-more-filter"]
HEADERS_MORE = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so"


def _nginx_ready():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    return found if found and os.path.exists(HEADERS_MORE) else None


def ensure_nginx():
    """Return the nginx binary, installing Debian's packages if needed. Raises RuntimeError with a reason."""
    found = _nginx_ready()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("nginx and its headers-more module are not installed and cannot be installed here "
                           "(needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600)
        found = _nginx_ready()
        if found:
            return found
    raise RuntimeError("apt-get could not install " + " ".join(PACKAGES))


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


class Stack:
    """nginx + gateway(s) + OSCAR stand-in on loopback. ``gateways`` maps a name to a config dict."""

    # Role variables every test stack uses on top of the role's defaults (a clinic inventory would set them too).
    NGINX_VARIABLES = {
        "nginx_gateway_enabled": True,
        # OSCAR's own pages call <context>/ws/rs/ from the browser.
        "nginx_browser_ws_paths": ["/oscar/ws/rs/"],
    }

    def __init__(self, workdir, gateways, cache_ttl=0, gateway_env=None, nginx_variables=None, plain=None,
                 per_gateway=None):
        self.dir = Path(workdir)
        self.gateway_configs = gateways
        self.cache_ttl = cache_ttl
        self.gateway_env = gateway_env or {}
        self.nginx_variables = dict(self.NGINX_VARIABLES, **(nginx_variables or {}))
        self.plain = plain or {}
        self.per_gateway = per_gateway or {}
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
        cert, key = make_cert(self.dir)
        instances = {}
        for name in self.gateway_configs:
            listen = self.gateway_configs[name]["listen"]
            instances[name] = dict(self.nginx_variables, nginx_gateway_upstream="unix:" + self.gateway_socket(name),
                                   nginx_gateway_auth_upstream="unix:" + (listen.get("auth_socket")
                                                                          or listen["unix_socket"]),
                                   nginx_gateway_cache_ttl=self.cache_ttl, **self.per_gateway.get(name, {}))
        for name, variables in self.plain.items():
            instances[name] = dict(self.nginx_variables, **variables)
        variables = []
        for name, extra in instances.items():
            workdir = self.dir / ("nginx-" + name)
            (workdir / "authcache").mkdir(parents=True, exist_ok=True)
            self.ports[name] = free_port()
            variables.append(rendered_nginx.loopback_variables(
                workdir, self.ports[name], free_port(), self.standin_port, cert, key, **extra))
        self.nginx_confs = {}
        for name, text in zip(instances, rendered_nginx.render(variables, self.dir / "render")):
            conf = self.dir / ("nginx-" + name) / "nginx.conf"
            conf.write_text(text)
            self.nginx_confs[name] = conf
            check = subprocess.run([self.nginx, "-t", "-q", "-c", str(conf)], capture_output=True, text=True,
                                   check=False)
            if check.returncode != 0:
                raise RuntimeError("nginx -t failed for %s: %s" % (conf, check.stderr))
            self.procs["nginx-" + name] = subprocess.Popen(
                [self.nginx, "-c", str(conf), "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        for port in self.ports.values():
            wait_for(lambda p=port: _port_open(p), what="nginx")

    def stop(self):
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT if name.startswith("nginx") else signal.SIGTERM)
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
        # A list of (name, value) pairs sends each, repeated names included; a dict replaces the defaults.
        repeated = list(headers) if isinstance(headers, list) else []
        merged.update(headers if isinstance(headers, dict) else {})
        merged = [(k, v) for k, v in merged.items() if v is not None] + repeated
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for key, value in merged:
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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=20):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class TunnelBrowser(Browser):
    """What a cloudflared on the OSCAR host does: plain HTTP to nginx's tunnel socket (its origin unix:<path>)."""

    def __init__(self, socket_path, host=HOST):
        super().__init__(None, host)
        self.socket_path = socket_path

    def _connection(self):
        if self.conn is None:
            self.conn = _UnixConnection(self.socket_path)
        return self.conn
