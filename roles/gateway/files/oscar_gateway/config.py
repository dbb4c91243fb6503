"""The gateway's configuration file (JSON, written by the gateway role) and its secrets file.

Every value is checked at start: a gateway with a configuration it does not understand does not
start (the unit fails and nginx answers 500/502 to the auth subrequest, i.e. nobody gets in).
"""

import base64
import copy
import ipaddress
import json
import os
import re
import stat
from urllib.parse import urlsplit

from . import _shared

TEST_CERTS_URL_ENV = "OSCAR_GATEWAY_TEST_CERTS_URL"

DEFAULTS = {
    "listen": {"unix_socket": "/run/oscar-gateway/gateway.sock", "auth_socket": "", "socket_mode": "0660"},
    "database": "/var/lib/oscar-gateway/gateway.db",
    "audit_jsonl": "/var/log/oscar-gateway/audit.jsonl",
    "secrets_file": "/etc/oscar-gateway/secrets.json",
    "threads": 4,
    "ui_prefix": "/_gateway",
    "oscar_context": "/oscar",
    "extra_blocked_paths": [],
    "default_path": "/oscar/",
    "sessions": {
        "absolute_seconds": 12 * 3600,
        "inactivity_seconds": 30 * 60,
        "activity_write_seconds": 30,
        "pending_login_seconds": 300,
    },
    "login": {
        "mfa_required": True,
        "min_response_seconds": 0.5,
        "max_failures": 5,
        "max_failures_per_address": 20,
        "find_seconds": 600,
        "ban_seconds": 900,
        "ban_max_seconds": 86400,
        "argon2": {"time_cost": 2, "memory_cost": 19456, "parallelism": 1},
        "totp_issuer": "",
    },
    "cloudflare": {
        "team_domain": "",
        "aud": [],
        "leeway_seconds": 30,
        "jwks_ttl_seconds": 3600,
        "jwks_min_refetch_seconds": 60,
        "jwks_timeout_seconds": 3,
        "service_tokens": {},
    },
    "decision_cache": {"max_age_seconds": 0},
    # grant_seconds: how long an approval lets the requester in when its policy sets no session_duration (which
    # otherwise decides, as in Cloudflare Access); never longer than max_grant_seconds.
    "approvals": {"request_ttl_seconds": 3600, "grant_seconds": 8 * 3600, "max_grant_seconds": 24 * 3600,
                  "waiting_refresh_seconds": 15},
    # Approvals by email (outbox.py): no relay_host, no mail (approvers then look at the approvals page themselves).
    "mail": {"relay_host": "", "relay_port": 587, "starttls": True, "from_address": "", "credentials_file": "",
             "ca_file": "", "timeout_seconds": 10, "max_attempts": 10, "retry_seconds": 60,
             "retry_max_seconds": 3600},
    "audit_navigations": True,
    # Kept at least this long (never deleted or overwritten); the disk guard plans for it and warns this early.
    "audit": {"retention_days": 2557, "disk_warn_days": 180},
    "users": [],
    "access_policy": {"policies": []},
}


class ConfigError(ValueError):
    pass


def _merge(defaults, data, where):
    out = copy.deepcopy(defaults)
    for key, value in data.items():
        if key not in defaults and where != "":
            raise ConfigError("%s: unknown setting %r" % (where or "config", key))
        if isinstance(defaults.get(key), dict) and key not in ("access_policy", "service_tokens"):
            if not isinstance(value, dict):
                raise ConfigError("%s.%s: must be a mapping" % (where, key))
            out[key] = _merge(defaults[key], value, ("%s.%s" % (where, key)).lstrip("."))
        else:
            out[key] = value
    return out


def _number(cfg, section, key, low, high):
    value = cfg[section][key] if section else cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError("%s.%s: must be a number between %s and %s" % (section, key, low, high))
    return value


def _validate_policy(raw):
    module = _shared.access_policy_module()
    if module is None:
        raise ConfigError("access_policy: the collection's access-policy model (_access_policy/) is missing")
    try:
        return module.validate_access_policy(raw, name="access_policy")
    except getattr(module, "AccessPolicyError", ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _check_schema(cfg):
    """The schema the role's controller check runs too (plugins/module_utils/_gateway_config.py), naming keys."""
    module = _shared.gateway_config_module()
    if module is None:
        raise ConfigError("config: the collection's gateway schema (_gateway_config.py) is missing")
    problems = module.check_config(cfg)
    if problems:
        raise ConfigError("; ".join(problems.errors))
    cf = cfg["cloudflare"]
    cf["aud"] = list(module.aud_tags(cf["aud"]))


def _normal_users(users):
    return [{
        "username": user["username"],
        "display_name": str(user.get("display_name") or user["username"]),
        "email": user.get("email", "").lower(),
        "role": user.get("role", ""),
        "enabled": user.get("enabled", True),
        "password_hash": user.get("password_hash"),
        # ISO date (the schema checked it is one) or None.
        "expires": _expiry_date(user.get("expires")),
    } for user in users]


def _expiry_date(value):
    date = _shared.expiry_module().parse_date(value)
    return date.isoformat() if date else None


def _is_loopback_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def validate(data, environ=None):
    """Return the complete configuration (defaults filled in) or raise ConfigError."""
    environ = os.environ if environ is None else environ
    if not isinstance(data, dict):
        raise ConfigError("config: must be a JSON object")
    required = ("mode", "clinic_name", "public_host")
    for key in required:
        if key not in data:
            raise ConfigError("config: %s is required" % key)
    extra = set(data) - set(DEFAULTS) - set(required)
    if extra:
        raise ConfigError("config: unknown settings %s" % sorted(extra))
    cfg = _merge(DEFAULTS, {k: v for k, v in data.items() if k not in required}, "")
    cfg.update({k: data[k] for k in required})
    prefix = cfg["ui_prefix"]
    if not isinstance(prefix, str) or not re.match(r"^/[a-z0-9_-]+$", prefix):
        raise ConfigError("ui_prefix: like /_gateway")
    if not isinstance(cfg["extra_blocked_paths"], list):
        raise ConfigError("extra_blocked_paths: a list")
    if not isinstance(cfg["default_path"], str) or not cfg["default_path"].startswith("/"):
        raise ConfigError("default_path: an absolute path")
    for key in ("database", "audit_jsonl", "secrets_file"):
        if not isinstance(cfg[key], str) or not os.path.isabs(cfg[key]):
            raise ConfigError("%s: an absolute path" % key)
    # listen.unix_socket and listen.auth_socket: checked by the shared schema (_check_schema, below).
    if not re.match(r"^0?[0-7]{3}$", str(cfg["listen"]["socket_mode"])):
        raise ConfigError("listen.socket_mode: octal like 0660")
    _number(cfg, None, "threads", 1, 32)
    for key, low, high in (("absolute_seconds", 60, 31 * 86400), ("inactivity_seconds", 60, 31 * 86400),
                           ("activity_write_seconds", 0, 3600), ("pending_login_seconds", 30, 3600)):
        _number(cfg, "sessions", key, low, high)
    for key, low, high in (("min_response_seconds", 0, 10), ("max_failures", 1, 1000),
                           ("max_failures_per_address", 1, 1000), ("find_seconds", 1, 86400),
                           ("ban_seconds", 1, 86400), ("ban_max_seconds", 1, 30 * 86400)):
        _number(cfg, "login", key, low, high)
    if not isinstance(cfg["login"]["mfa_required"], bool):
        raise ConfigError("login.mfa_required: true or false")
    argon = cfg["login"]["argon2"]
    if set(argon) != {"time_cost", "memory_cost", "parallelism"} or not all(
            isinstance(v, int) and v > 0 for v in argon.values()):
        raise ConfigError("login.argon2: time_cost, memory_cost (KiB), parallelism as positive integers")
    if argon["memory_cost"] > 65536:
        raise ConfigError("login.argon2.memory_cost: at most 65536 KiB (the gateway must stay under 80 MB)")
    _number(cfg, "decision_cache", "max_age_seconds", 0, 60)
    _number(cfg, "approvals", "request_ttl_seconds", 60, 86400)
    _number(cfg, "approvals", "grant_seconds", 60, 7 * 86400)
    _number(cfg, "approvals", "max_grant_seconds", 60, 7 * 86400)
    _number(cfg, "approvals", "waiting_refresh_seconds", 1, 300)
    for key, low, high in (("timeout_seconds", 1, 120), ("max_attempts", 1, 100), ("retry_seconds", 1, 86400),
                           ("retry_max_seconds", 1, 7 * 86400)):
        _number(cfg, "mail", key, low, high)
    for key in ("credentials_file", "ca_file"):
        value = cfg["mail"][key]
        if not isinstance(value, str) or (value and not os.path.isabs(value)):
            raise ConfigError("mail.%s: empty or an absolute path" % key)
    _check_schema(cfg)
    cfg["users"] = _normal_users(cfg["users"])
    cfg["access_policy"] = _validate_policy(cfg["access_policy"])
    cf = cfg["cloudflare"]
    cf["certs_url"] = ""
    cf["issuer"] = ""
    if cfg["mode"] == "cloudflare":
        cf["issuer"] = "https://" + cf["team_domain"]
        cf["certs_url"] = cf["issuer"] + "/cdn-cgi/access/certs"
        override = environ.get(TEST_CERTS_URL_ENV)
        if override:
            # Tests only: a JWKS served on loopback. Anything else is refused, not ignored.
            if not _is_loopback_url(override):
                raise ConfigError(TEST_CERTS_URL_ENV + ": tests may only point it at a loopback address")
            cf["certs_url"] = override
        tokens = cf["service_tokens"]
        if not isinstance(tokens, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and re.match(r"^[A-Za-z0-9._-]{1,128}$", v)
                for k, v in tokens.items()):
            raise ConfigError("cloudflare.service_tokens: a mapping of policy service-token name to Client ID")
        for key, low, high in (("leeway_seconds", 0, 60), ("jwks_ttl_seconds", 60, 86400),
                               ("jwks_min_refetch_seconds", 0, 3600), ("jwks_timeout_seconds", 0.1, 30)):
            _number(cfg, "cloudflare", key, low, high)
    if not cfg["login"]["totp_issuer"]:
        cfg["login"]["totp_issuer"] = cfg["clinic_name"]
    return cfg


def load(path, environ=None):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError("%s: %s" % (path, exc)) from exc
    return validate(data, environ)


def read_private_json(path, what, refused=0o077, advice="use 0600"):
    """A JSON file holding secrets (not a symbolic link); refused when its mode has any bit of ``refused``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigError("%s %s: %s" % (what, path, exc)) from exc
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & refused:
            raise ConfigError("%s %s: mode %o lets others read it; %s" % (what, path, mode, advice))
        try:
            return json.load(handle)
        except ValueError as exc:
            raise ConfigError("%s %s: %s" % (what, path, exc)) from exc


def load_secrets(path):
    """Read the secrets file (JSON, mode 0600 or stricter): ``session_key`` and ``data_key``, base64."""
    data = read_private_json(path, "secrets file")
    keys = {}
    for name in ("session_key", "data_key"):
        value = data.get(name) if isinstance(data, dict) else None
        try:
            raw = base64.b64decode(value or "", validate=True)
        except (ValueError, TypeError) as exc:
            raise ConfigError("secrets file: %s is not base64" % name) from exc
        if len(raw) < 32:
            raise ConfigError("secrets file: %s must hold at least 32 random bytes" % name)
        keys[name] = raw
    return keys


def generate_secrets():
    """New secrets file content (used by the admin command and tests)."""
    return {name: base64.b64encode(os.urandom(32)).decode() for name in ("session_key", "data_key")}
