"""Run Debian's ``pebble`` (the real ACME test server, not a double) on 127.0.0.1 for a test.

Its HTTPS listener gets a throw-away certificate for ``localhost``; ``ca_bundle`` trusts it. DNS-01 lookups go to
the ``-dnsserver`` given (the test DNS server that answers from the fake Cloudflare API's records), so nothing is
asked of any other name server. ``PEBBLE_AUTHZREUSE=0``: every order proves control again (pebble would otherwise
reuse a valid authorization half of the time, and a failing challenge could pass unseen); ``PEBBLE_VA_NOSLEEP=1``:
the challenge is checked at once instead of after pebble's random pause of up to 15 s; ``PEBBLE_WFE_NONCEREJECT=0``:
no request is refused at random for a bad nonce (5% by default, each one a retry). With ``eab_keys``
(key id -> base64url HMAC key) pebble requires External Account Binding for every new account, as some CAs do.
The package comes from ``scripts/testbed.sh``, which the full test command runs first.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.fake_cloudflare.tls import make_tls_material

PEBBLE = "/usr/bin/pebble"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pebble:
    def __init__(self, dns_server, validity_seconds, eab_keys=None):
        if not os.access(PEBBLE, os.X_OK):
            raise AssertionError("%s is missing: install Debian's pebble package (bash scripts/testbed.sh does)"
                                 % PEBBLE)
        self.dns_server = dns_server
        self.validity_seconds = validity_seconds
        self.eab_keys = dict(eab_keys or {})
        self.dir = Path(tempfile.mkdtemp(prefix="pebble-"))
        self.port, self.management_port = free_port(), free_port()
        self.listener_ca = make_tls_material(self.dir / "tls", hostnames=("localhost",))[0]
        self.proc = None

    @property
    def directory_url(self):
        return "https://localhost:%d/dir" % self.port

    def __enter__(self):
        config = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.management_port,
            "certificate": str(self.dir / "tls" / "server.pem"),
            "privateKey": str(self.dir / "tls" / "server.key"),
            # http-01 and tls-alpn-01 are never used here; the ports only need to be free.
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab_keys),
            "externalAccountMACKeys": self.eab_keys,
            "certificateValidityPeriod": self.validity_seconds,
        }}
        (self.dir / "config.json").write_text(json.dumps(config))
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_AUTHZREUSE="0", PEBBLE_WFE_NONCEREJECT="0")
        self.log = open(self.dir / "pebble.log", "w")
        self.proc = subprocess.Popen([PEBBLE, "-config", str(self.dir / "config.json"), "-dnsserver", self.dns_server],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._get(self.directory_url)
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise AssertionError("pebble did not start: " + self.output()) from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        return (self.dir / "pebble.log").read_text(errors="replace")[-4000:]

    def _get(self, url):
        context = ssl.create_default_context(cafile=str(self.listener_ca))
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return response.read().decode()

    def root(self):
        """PEM of the root this pebble instance issues under (new at every start)."""
        return self._get("https://localhost:%d/roots/0" % self.management_port)

    def intermediate(self):
        return self._get("https://localhost:%d/intermediates/0" % self.management_port)
