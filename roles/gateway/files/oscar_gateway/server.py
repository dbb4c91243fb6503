"""Run the gateway: ``python3 -m oscar_gateway --config /etc/oscar-gateway/config.json``.

Serves the WSGI application with waitress on the configured UNIX socket, and nginx's auth decisions also on
``listen.auth_socket`` when set (``auth_listener``: no hop between threads per decision). Both sockets get the
config's mode, 0660 by default: nginx's group may connect, nobody else.
"""

import argparse
import os
import sys

from . import __version__, config, outbox


def limit_heap():
    """Keep argon2's 19+ MiB work areas out of glibc's heap arenas.

    glibc raises its mmap threshold after a large block is freed, so later argon2 runs would be
    served from per-thread arenas that never shrink: 4 waitress threads x 19 MiB. A fixed threshold
    makes every large block an mmap that is returned on free, and two arenas are plenty here.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, never raised
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def build(config_path, environ=None):
    from .app import Gateway

    cfg = config.load(config_path, environ)
    keys = config.load_secrets(cfg["secrets_file"])
    return cfg, Gateway(cfg, keys)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="oscar-gateway", description="OSCAR access gateway (nginx auth_request)")
    parser.add_argument("--config", default=os.environ.get("OSCAR_GATEWAY_CONFIG", "/etc/oscar-gateway/config.json"))
    parser.add_argument("--check", action="store_true", help="validate the configuration and database, then exit")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    limit_heap()
    try:
        cfg, app = build(args.config)
    except (config.ConfigError, OSError, RuntimeError) as exc:
        sys.stderr.write("oscar-gateway: %s\n" % exc)
        return 2
    if args.check:
        sys.stdout.write("configuration OK (mode %s, %d policies)\n"
                         % (cfg["mode"], len(cfg["access_policy"]["policies"])))
        return 0
    import waitress

    sock = cfg["listen"]["unix_socket"]
    mode = str(cfg["listen"]["socket_mode"]).lstrip("0") or "660"
    if os.path.exists(sock):
        os.unlink(sock)
    if cfg["mode"] == "cloudflare":
        app.verifier.keyset.refresh(force=True)
    if cfg["listen"]["auth_socket"]:
        from .auth_listener import AuthListener

        AuthListener(cfg["listen"]["auth_socket"], int(mode, 8), app.decision).start()
    # Approval mail and the expiry of requests nobody decided, in the background: never in a page's way.
    outbox.Worker(app.outbox, housekeeping=[app.approvals.expire_requests]).start()
    sys.stderr.write("oscar-gateway %s: mode %s, listening on %s\n" % (__version__, cfg["mode"], sock))
    waitress.serve(
        app, unix_socket=sock, unix_socket_perms=mode,
        threads=cfg["threads"], ident="oscar-gateway", clear_untrusted_proxy_headers=False,
        asyncore_use_poll=True, channel_timeout=30, connection_limit=200, max_request_header_size=65536,
        max_request_body_size=65536, _quiet=True)
    return 0
