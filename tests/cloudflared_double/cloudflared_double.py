# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of cloudflared. It is NOT cloudflared. It stands in for one thing only: a connector that reaches
Cloudflare's edge and reports ready, which the real cloudflared (../shared/cloudflared) cannot do where tests run.
Everything else it does the real binary's way, and tests/unit/test_cloudflared_double_contract.py holds it to the
real binary on the same inputs (flags, token parsing, exit codes and output streams, ingress validation, /ready,
/metrics, systemd readiness).

It implements only what the role relies on, and never opens a connection to anything:

* ``cloudflared --version`` / ``cloudflared version``;
* ``cloudflared tunnel [--config F] ingress validate [--json J]``: the documented ingress checks
  (bundled from plugins/module_utils/_cloudflared_ingress.py, non-strict, as cloudflared does them);
* ``cloudflared [--no-autoupdate] tunnel [--config F] run [--token-file F] [NAME]``: reads the token
  (``--token``/``TUNNEL_TOKEN`` > ``--token-file``/``TUNNEL_TOKEN_FILE`` > ``--credentials-contents`` >
  ``--credentials-file``/``credentials-file:``) with cloudflared's precedence, then serves ``/ready``,
  ``/healthcheck``, ``/metrics`` and a double-only ``/testdouble`` (no secrets) on the metrics address and runs
  until SIGTERM. Without ``--edge`` it simulates an edge that accepts the tunnel (the double's only purpose): /ready
  answers 200 and systemd gets READY=1. With ``--edge`` (a local address that answers nothing, as the real
  connector is pinned in tests) it behaves as the real one there: never ready, no READY=1, /ready 503.
  ``--token-file`` and ``TUNNEL_TOKEN_FILE`` exist only from release 2025.4.0, as in cloudflared; on an unknown
  flag it prints usage on stdout and exits 0, as cloudflared does.

A token or credentials whose tunnel ID is ``00000000-0000-4000-8000-000000000503`` simulate an edge that
never accepts the connector: ``/ready`` stays 503.

Built into a zipapp (with PyYAML's pure-Python code) and a .deb by build.py; the version is filled in there.
"""

import datetime
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cloudflared_ingress_rules as rules  # bundled by build.py
import yaml  # bundled by build.py

VERSION = "@VERSION@"
BUILD_DATE = "@BUILD_DATE@"
NEVER_READY_TUNNEL = "00000000-0000-4000-8000-000000000503"
INVOCATION_LOG = "/var/lib/cloudflared-testdouble/invocations.jsonl"
LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}

VALUE_FLAGS = {
    "config", "metrics", "loglevel", "transport-loglevel", "protocol", "token", "token-file", "credentials-file",
    "cred-file", "credentials-contents", "json", "origincert", "logfile", "edge-ip-version", "region", "edge",
}
BOOL_FLAGS = {"no-autoupdate", "autoupdate-freq-disabled", "post-quantum", "help", "h"}
SECRET_FLAGS = {"token", "credentials-contents"}


class UsageError(Exception):
    """What cloudflared reports on stderr before it exits 255."""


class UnknownFlag(Exception):
    """cloudflared (urfave/cli) prints "Incorrect Usage: ..." and its usage on stdout and exits 0."""


def supports_token_file():
    return rules.supports_token_file(VERSION)


def log(level, message, threshold="info"):
    if LEVELS.get(level, 1) < LEVELS.get(threshold, 1):
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stderr.write("%s %s %s\n" % (stamp, level[:3].upper(), message))
    sys.stderr.flush()


def record_invocation(argv):
    """Append the (redacted) command line to a root-only log, so tests can see validate: runs."""
    redacted, hide = [], False
    for arg in argv:
        name = arg.lstrip("-").split("=", 1)[0]
        if hide:
            redacted.append("<redacted>")
            hide = False
        elif arg.startswith("-") and name in SECRET_FLAGS:
            if "=" in arg:
                redacted.append(arg.split("=", 1)[0] + "=<redacted>")
            else:
                redacted.append(arg)
                hide = True
        else:
            redacted.append(arg)
    try:
        with open(INVOCATION_LOG, "a") as handle:
            handle.write(json.dumps({"argv": redacted, "uid": os.getuid(), "time": time.time()}) + "\n")
    except OSError:
        pass  # the service user, under ProtectSystem=strict, cannot write it: that is expected


def parse_args(argv):
    """Split argv into flags (name -> value) and positional words, the way urfave/cli accepts them."""
    flags, words = {}, []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            words.extend(argv[index:])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.lstrip("-").partition("=")
            if name in ("token-file",) and not supports_token_file():
                raise UnknownFlag("flag provided but not defined: -%s" % name)
            if name in ("version", "v", "V"):
                flags["version"] = True
            elif name in BOOL_FLAGS:
                flags[name] = value.lower() not in ("false", "0") if eq else True
            elif name in VALUE_FLAGS:
                if not eq:
                    if index >= len(argv):
                        raise UsageError("flag needs an argument: -%s" % name)
                    value = argv[index]
                    index += 1
                flags[name] = value
            else:
                raise UnknownFlag("flag provided but not defined: -%s" % name)
        else:
            words.append(arg)
    return flags, words


def load_config(path):
    if not path:
        return {}
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise UsageError("Cannot determine default configuration path. No file %s" % path) from None
    except yaml.YAMLError as exc:
        raise UsageError("error parsing YAML in config file at %s: %s" % (path, exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError("error parsing YAML in config file at %s: not a mapping" % path)
    return data


def seconds_to_durations(cfg):
    """API-style JSON (durations in integer seconds) to the YAML form the checks expect."""
    if isinstance(cfg, dict):
        out = {}
        for key, value in cfg.items():
            if rules.ORIGIN_REQUEST_KEYS.get(key) == rules.DURATION and isinstance(value, int):
                out[key] = "%ds" % value
            else:
                out[key] = seconds_to_durations(value)
        return out
    if isinstance(cfg, list):
        return [seconds_to_durations(v) for v in cfg]
    return cfg


def ingress_validate(flags):
    """`tunnel ingress validate`: exit 0 with OK (or a warning on stdout), or 1 with the reason on stderr."""
    try:
        if flags.get("json") or os.environ.get("TUNNEL_INGRESS_VALIDATE_JSON"):
            source = "JSON"
            try:
                document = seconds_to_durations(json.loads(flags.get("json")
                                                           or os.environ["TUNNEL_INGRESS_VALIDATE_JSON"]))
            except ValueError as exc:
                raise UsageError("Validation failed: invalid JSON: %s" % exc) from None
        else:
            path = flags.get("config")
            if not path:
                raise UsageError("Validation failed: No configuration file was found. Please provide one with "
                                 "--config")
            source = path
            document = load_config(path)
    except UsageError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    print("Validating rules from %s" % source)
    report = rules.validate_config(document, strict=False)
    if report.warnings:
        print("Warning: unused keys detected in your config file. Here is a list of unused keys:")
        for warning in report.warnings:
            print("  " + warning)
    if report.errors:
        sys.stderr.write("Validation failed: %s\n" % report.errors[0])
        for error in report.errors[1:]:
            sys.stderr.write("  also: %s\n" % error)
        return 1
    if not report.warnings:  # cloudflared prints OK only when nothing was unknown
        print("OK")
    return 0


def resolve_credentials(flags, config):
    """Return (source, tunnel_id); raise UsageError like cloudflared when nothing usable is given."""
    token = flags.get("token") or os.environ.get("TUNNEL_TOKEN")
    source = "token-flag" if flags.get("token") else "env TUNNEL_TOKEN"
    token_file = flags.get("token-file") or (os.environ.get("TUNNEL_TOKEN_FILE") if supports_token_file() else None)
    if not token and token_file:
        try:
            with open(token_file) as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise UsageError("Failed to read token file %s: %s" % (token_file, exc.strerror)) from None
        source = "token-file"
    if token:
        try:
            _account, tunnel_id, _secret = rules.decode_tunnel_token(token)
        except ValueError:
            raise UsageError("Provided Tunnel token is not valid.\nSee 'cloudflared tunnel run --help'.") from None
        return source, tunnel_id
    contents = flags.get("credentials-contents") or os.environ.get("TUNNEL_CRED_CONTENTS")
    cred_file = (flags.get("credentials-file") or flags.get("cred-file") or os.environ.get("TUNNEL_CRED_FILE")
                 or config.get("credentials-file") or config.get("cred-file"))
    if contents:
        source = "credentials-contents"
    elif cred_file:
        try:
            with open(cred_file) as handle:
                contents = handle.read()
        except OSError as exc:
            raise UsageError("Tunnel credentials file '%s' doesn't exist or is not a file (%s)"
                             % (cred_file, exc.strerror)) from None
        source = "credentials-file"
    else:
        raise UsageError('"cloudflared tunnel run" requires the ID or name of the tunnel to run as the last command '
                         "line argument or in the configuration file.\nSee 'cloudflared tunnel run --help'.")
    try:
        creds = json.loads(contents)
    except ValueError:
        raise UsageError("Failed to load the tunnel credentials: not JSON") from None
    problems = rules.check_credentials(creds)
    if problems:
        raise UsageError("Failed to load the tunnel credentials: %s" % "; ".join(problems))
    return source, creds["TunnelID"].lower()


def sd_notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(address)
        sock.sendall(message.encode())
    finally:
        sock.close()


class State:
    ready = False
    connector_id = str(uuid.uuid4())
    info = {}


class Handler(BaseHTTPRequestHandler):
    server_version = "cloudflared-testdouble"

    def log_message(self, *_args):
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ready":
            status = 200 if State.ready else 503
            self._send(status, json.dumps({"status": status, "readyConnections": 4 if State.ready else 0,
                                           "connectorId": State.connector_id}, separators=(",", ":")))
        elif self.path == "/healthcheck":
            self._send(200, "OK\n", "text/plain")
        elif self.path == "/metrics":
            self._send(200, 'build_info{goversion="testdouble",revision="%s",type="testdouble",version="%s"} 1\n'
                            "cloudflared_tunnel_ha_connections %d\n"
                            "cloudflared_tunnel_total_requests 0\n" % (BUILD_DATE, VERSION, 4 if State.ready else 0),
                       "text/plain; version=0.0.4")
        elif self.path == "/testdouble":
            self._send(200, json.dumps(dict(State.info, ready=State.ready, connectorId=State.connector_id)))
        else:
            self._send(404, "404 page not found\n", "text/plain")


def bind_metrics(address):
    host, port = rules.split_host_port(address)
    ports = [int(port)] if port not in ("", "0") else list(range(20241, 20246))
    last = None
    for candidate in ports:
        try:
            return ThreadingHTTPServer((host or "localhost", candidate), Handler)
        except OSError as exc:
            last = exc
    raise UsageError("failed to bind the metrics server on %s: %s" % (address, last))


def tunnel_run(flags, words, global_flags):
    config = load_config(flags.get("config"))
    level = flags.get("loglevel") or os.environ.get("TUNNEL_LOGLEVEL") or config.get("loglevel") or "info"
    source, tunnel_id = resolve_credentials(flags, config)
    named = words[0] if words else config.get("tunnel")
    if source in ("credentials-file", "credentials-contents") and named and str(named).lower() != tunnel_id:
        raise UsageError("the credentials are for tunnel %s, not %s" % (tunnel_id, named))
    if source in ("credentials-file", "credentials-contents") and config.get("ingress") is not None:
        report = rules.validate_config(config, strict=False)
        if report.errors:
            raise UsageError("Error parsing ingress rules: %s" % report.errors[0])
    metrics = flags.get("metrics") or os.environ.get("TUNNEL_METRICS") or config.get("metrics") or "localhost:0"
    protocol = flags.get("protocol") or config.get("protocol") or "auto"
    no_autoupdate = bool(global_flags.get("no-autoupdate") or flags.get("no-autoupdate")
                         or config.get("no-autoupdate") or os.environ.get("NO_AUTOUPDATE"))
    server = bind_metrics(metrics)
    State.info = {
        "double": True, "version": VERSION, "tunnelID": tunnel_id, "credentialSource": source,
        "protocol": protocol, "loglevel": level, "configFile": flags.get("config", ""), "uid": os.getuid(),
        "noAutoupdate": no_autoupdate, "metrics": "%s:%d" % server.server_address[:2],
    }
    log("info", "Starting tunnel tunnelID=%s" % tunnel_id, level)
    log("info", "Version %s (TEST DOUBLE: not cloudflared, it never connects anywhere)" % VERSION, level)
    log("info", "Generated Connector ID: %s" % State.connector_id, level)
    log("info", "Tunnel credentials from %s" % source, level)
    if not no_autoupdate:
        log("warn", "Autoupdate is enabled; the role always turns it off, so this should not happen", level)
    log("info", "Starting metrics server on %s/metrics" % State.info["metrics"], level)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    stop = threading.Event()

    def on_signal(signum, _frame):
        log("info", "Initiating graceful shutdown due to signal %s ..." % signal.Signals(signum).name, level)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    time.sleep(0.2)
    edge = flags.get("edge")
    if edge:
        # As the real connector pinned to a local edge that answers nothing: it retries and is never ready.
        log("error", "Failed to dial a quic connection error=\"timeout: no recent network activity\" connIndex=0 "
                     "event=0 ip=%s" % rules.split_host_port(edge)[0], level)
    elif tunnel_id == NEVER_READY_TUNNEL:
        log("error", "Unauthorized: the (simulated) edge refuses this tunnel; /ready stays 503", level)
    else:
        State.ready = True
        for index in range(4):
            log("info", "Registered tunnel connection connIndex=%d protocol=%s (simulated)" % (index, protocol), level)
        # Type=notify: READY=1 only once an edge connection is up, as cloudflared does.
        sd_notify("READY=1")
    while not stop.wait(1.0):
        pass
    server.shutdown()
    return 0


def main(argv):
    record_invocation(argv)
    try:
        global_flags, words = parse_args(argv)
        if global_flags.get("version") or (words and words[0] == "version"):
            print("cloudflared version %s (built %s) TEST DOUBLE, not cloudflared" % (VERSION, BUILD_DATE))
            return 0
        if not words:
            raise UsageError("the test double implements: --version, tunnel ingress validate, tunnel run")
        if words[0] == "tunnel":
            flags, sub = parse_args(argv[argv.index("tunnel") + 1:])
            merged = dict(global_flags)
            merged.update(flags)
            if sub[:2] == ["ingress", "validate"]:
                return ingress_validate(merged)
            if sub[:1] == ["run"]:
                return tunnel_run(merged, sub[1:], global_flags)
            raise UsageError("the test double does not implement 'tunnel %s'" % " ".join(sub))
        if words[0] in ("update", "service", "login", "access"):
            raise UsageError("the test double does not implement '%s'" % words[0])
        raise UsageError("unknown command %r" % words[0])
    except UnknownFlag as exc:
        sys.stdout.write("Incorrect Usage: %s\n\nNAME:\n   cloudflared - the cloudflared TEST DOUBLE\n" % exc)
        return 0
    except UsageError as exc:
        sys.stderr.write("%s\n" % exc)
        return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
