"""FakeCloudflare: a test double of the Cloudflare API v4 for this collection's tests.

It keeps state the way the real API does, as far as api-contract.md documents it:

* ids (UUIDs), AUD tags (64 hex), service-token client ids and secrets, tunnel tokens;
* 201 on Access creates, 202 on Access app/policy/IdP/group deletes, 200 on tunnel and DNS writes
  and on service-token deletes;
* HTTP 409 code 1013 for a second live tunnel with the same name, 409 code 11010 for a second
  Access application on the same domain, 400 code 81053 for a DNS host that already has a record;
* deleted tunnels are left out of listings unless ``is_deleted=true`` is asked (the real API's
  default since December 2025; before, they were listed with ``deleted_at`` unless
  ``is_deleted=false``); ``ignore_is_deleted_filter=True`` plays an API that lists them anyway;
* zones carry a ``plan`` (the SDK's ``Zone`` requires it);
* pagination with ``page``/``per_page`` and a ``result_info`` (``max_per_page`` caps a page, so
  tests can force several pages);
* client secrets are returned only on create/rotate, IdP secrets are masked on reads;
* Access authentication logs (``add_access_log``), listed oldest or newest first between ``since`` and
  ``until`` (inclusive), newest first by default, paged like every collection.

Every request is recorded (``requests``), checked against the hand-written contract
(``contract.py``) and, when the shared OpenAPI document is present, against it too, request and
response (``openapi.py``). Every successful answer's ``result`` is also parsed with the official
Cloudflare Python SDK's model for that operation (``sdk.py``), when the SDK is installed.
Problems are answered with HTTP 400 and collected in ``violations``; tests assert that list is
empty. ``inject()`` makes the next matching requests fail (429, 5xx) to exercise retries.
It listens on 127.0.0.1 only, on an ephemeral port, and can also act as an
HTTPS CONNECT proxy for ``api.cloudflare.com`` alone (see tls.py) so that
community.general.cloudflare_dns, whose API address is fixed, talks to it.

Assumptions beyond the contract (marked "fake:" in messages): a reusable policy still linked to
an application cannot be deleted (400 code 12001); a tunnel with connections cannot be deleted
until they are cleaned up with ``DELETE .../connections`` (400 code 1022). The undocumented
``cascade`` query that cloudflared sends on a tunnel delete is a contract violation here.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import secrets
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from . import contract
from .contract import ContractViolation
from .openapi import OpenAPIContract
from .sdk import SDKContract

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
API_TOKEN = "test-token-not-a-secret"
API_PREFIX = "/client/v4"
TEAM_NAME = "demo-clinic"
DEFAULT_ZONES = ("demo-clinic.example",)
PROXY_TARGETS = ("api.cloudflare.com:443",)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(text):
    """An aware datetime from the ISO 8601 forms the API takes and gives (``Z`` or an offset)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _go_seconds(text):
    if text in ("0", None):
        return 0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text))


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: dict
    body: object
    status: int = 0
    host: str = "127.0.0.1"


@dataclass
class Fault:
    status: int
    method: str | None
    path: str | None
    times: int
    headers: dict = field(default_factory=dict)


class FakeCloudflare:
    """The double. Use as a context manager or call start()/stop()."""

    def __init__(self, account_id=ACCOUNT_ID, token=API_TOKEN, zones=DEFAULT_ZONES, spec_path=None,
                 tls_proxy=False, max_per_page=1000, ignore_is_deleted_filter=False):
        self.account_id = account_id
        self.token = token
        self.max_per_page = max_per_page
        self.ignore_is_deleted_filter = ignore_is_deleted_filter
        self.lock = threading.RLock()
        self.store = {kind: {} for kind in (
            "apps", "policies", "idps", "groups", "service_tokens", "tunnels", "tunnel_configs", "zones", "dns")}
        # Access authentication log records, in the order they happened (add_access_log).
        self.access_logs = []
        self.requests = []
        self.violations = []
        self.faults = []
        self.openapi, self.openapi_skip_reason = OpenAPIContract.load(spec_path)
        self.sdk, self.sdk_skip_reason = SDKContract.load()
        # The organisation's settings (PUT /access/organizations replaces the ones it names).
        self.organization_settings = {
            "name": "Demo", "auth_domain": "%s.cloudflareaccess.com" % TEAM_NAME, "created_at": _now(),
            "updated_at": _now(), "session_duration": "24h", "is_ui_read_only": False,
            "auto_redirect_to_identity": False, "allow_authenticate_via_warp": False,
            "mfa_required_for_all_apps": False,
            # what a new organisation answers: every authenticator allowed, a 24h MFA session, off for all apps
            "mfa_config": {"allowed_authenticators": ["totp", "biometrics", "security_key"], "session_duration": "24h"},
            "strict_service_token_auth": True, "warp_auth_session_duration": "24h",
        }
        for name in zones:
            zone_id = secrets.token_hex(16)
            self.store["zones"][zone_id] = {
                "id": zone_id, "name": name, "status": "active", "paused": False, "type": "full",
                "account": {"id": account_id, "name": "Demo account"}, "created_on": _now(), "modified_on": _now(),
                "activated_on": _now(), "development_mode": 0, "meta": {"step": 4},
                "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"], "original_name_servers": None,
                "original_registrar": None, "original_dnshost": None,
                "owner": {"id": account_id, "name": "Demo account", "type": "organization"},
                "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0,
                         "currency": "USD",
                         "frequency": "", "is_subscribed": False, "can_subscribe": False, "legacy_id": "free",
                         "legacy_discount": False, "externally_managed": False},
            }
        self._tls_dir = None
        self.ca_file = None
        self._tls_context = None
        if tls_proxy:
            from .tls import make_tls_material

            self._tls_dir = tempfile.TemporaryDirectory(prefix="fake-cloudflare-tls-")
            self.ca_file, self._tls_context = make_tls_material(self._tls_dir.name)
        self.server = None
        self.thread = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-cloudflare", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self._tls_dir:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.port, API_PREFIX)

    @property
    def proxy_url(self):
        return "http://127.0.0.1:%d" % self.port

    def env(self):
        """Environment for a subprocess (ansible-playbook) that should talk to this fake."""
        env = {
            "CLOUDFLARE_API_BASE_URL": self.url,
            "CLOUDFLARE_API_TOKEN": self.token,
            "CLOUDFLARE_ACCOUNT_ID": self.account_id,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        if self.ca_file:
            env.update(https_proxy=self.proxy_url, HTTPS_PROXY=self.proxy_url, SSL_CERT_FILE=str(self.ca_file))
        return env

    # -- test helpers -----------------------------------------------------------------------

    def inject(self, status, method=None, path=None, times=1, headers=None):
        """Answer the next ``times`` requests matching ``method``/``path`` (a regex) with ``status``."""
        with self.lock:
            self.faults.append(Fault(status, method, path, times, dict(headers or {})))

    def reset_requests(self):
        with self.lock:
            self.requests = []

    def calls(self, method=None, path=None):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or re.search(path, r.path))]

    @property
    def reads(self):
        return len(self.calls("GET"))

    @property
    def writes(self):
        return len([r for r in self.calls() if r.method != "GET" and r.method != "CONNECT"])

    def objects(self, kind):
        with self.lock:
            return copy.deepcopy(list(self.store[kind].values()))

    def get_object(self, kind, name):
        matches = [o for o in self.objects(kind) if o.get("name") == name]
        return matches[0] if len(matches) == 1 else (matches or None)

    def add_access_log(self, user_email, allowed=True, ip_address="198.51.100.7", created_at=None, ray_id=None,
                       app_domain="oscar.demo-clinic.example", action="login", connection="onetimepin"):
        """One Access authentication event as Cloudflare records it; returns the record."""
        record = {
            "action": action, "allowed": allowed, "app_domain": app_domain, "app_uid": str(uuid.uuid4()),
            "connection": connection, "created_at": created_at or _now(), "ip_address": ip_address,
            "ray_id": ray_id or secrets.token_hex(8), "user_email": user_email,
        }
        with self.lock:
            self.access_logs.append(record)
        return copy.deepcopy(record)

    def add_tunnel(self, name, tunnel_id, secret, config_src="cloudflare"):
        """A tunnel that already exists with a known id and secret (such as a test scenario's, whose connectors run
        with it); as the API creates one, under that id. Returns its view (no secret)."""
        with self.lock:
            _status, answer = self.create_tunnel({}, {"name": name, "config_src": config_src, "tunnel_secret": secret})
            made = answer["result"]["id"]
            tunnel = self.store["tunnels"].pop(made)
            tunnel["id"] = tunnel_id
            self.store["tunnels"][tunnel_id] = tunnel
            self.store["tunnel_configs"][tunnel_id] = self.store["tunnel_configs"].pop(made)
            return self._tunnel_view(tunnel)

    def zone_id(self, name):
        return next(z["id"] for z in self.store["zones"].values() if z["name"] == name)

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, handler, method):
        parsed = urlparse(handler.path)
        path = parsed.path
        query = dict((k, v[-1]) for k, v in parse_qs(parsed.query, keep_blank_values=True).items())
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        record = Request(method, path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path, query, None,
                         host=handler.headers.get("Host", ""))
        with self.lock:
            self.requests.append(record)
        status, payload, headers = self._answer(handler, method, path, query, raw, record)
        record.status = status
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, handler, method, path, query, raw, record):
        if not path.startswith(API_PREFIX + "/"):
            return 404, _failure(7003, "No route for the URI"), {}
        path = path[len(API_PREFIX):]
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                self._violation(method, path, "the request body is not JSON")
                return 400, _failure(6007, "Malformed JSON in request body"), {}
        record.body = body
        if handler.headers.get("Authorization") != "Bearer %s" % self.token:
            return 403, _failure(10000, "Authentication error"), {}
        if body is not None and handler.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self._violation(method, path, "a JSON body needs Content-Type: application/json")
        fault = self._fault(method, path)
        if fault is not None:
            code = 971 if fault.status == 429 else 10500
            message = "Please wait and consider throttling your request speed" if fault.status == 429 \
                else "fake: injected server error"
            return fault.status, _failure(code, message), fault.headers
        if self.openapi is not None:
            errors = self.openapi.validate_request(method, path, query, body)[1]
            if errors:
                for error in errors:
                    self._violation(method, path, "OpenAPI: " + error)
                return 400, _failure(10400, "fake: request does not match the OpenAPI document: " + errors[0]), {}
        route = None
        try:
            with self.lock:
                route, status, payload = self._route(method, path, query, body)
        except ContractViolation as error:
            self._violation(method, path, "contract: %s" % error)
            return 400, _failure(10401, "fake: request breaks api-contract.md: %s" % error), {}
        except ApiError as error:
            status, payload = error.status, _failure(error.code, error.message)
        if self.openapi is not None:
            for error in self.openapi.validate_response(method, path, status, payload):
                self._violation(method, path, "OpenAPI (fake's own response): " + error)
        if self.sdk is not None and route is not None and status < 400:
            for error in self.sdk.validate(route, payload.get("result")):
                self._violation(method, path, "SDK model (fake's own response): " + error)
        return status, payload, {}

    def _violation(self, method, path, message):
        with self.lock:
            self.violations.append("%s %s: %s" % (method, path, message))

    def _fault(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.method in (None, method)) and (
                        fault.path is None or re.search(fault.path, path)):
                    fault.times -= 1
                    return fault
        return None

    def _route(self, method, path, query, body):
        account = "/accounts/%s" % self.account_id
        for pattern, verb, function in ROUTES:
            if verb != method:
                continue
            match = re.match("^" + pattern.replace("{account}", re.escape(account)) + "$", path)
            if match:
                return (function.__name__, *function(self, query, body, *match.groups()))
        if path.startswith("/accounts/") and not path.startswith(account + "/"):
            raise ApiError(403, 10000, "Authentication error")
        raise ApiError(404, 7003, "No route for the URI")

    # -- shared helpers ---------------------------------------------------------------------

    def _page(self, items, query, default_per_page=25):
        try:
            page = int(query.get("page", 1))
            per_page = int(query.get("per_page", default_per_page))
        except ValueError:
            raise ApiError(400, 1001, "page and per_page must be integers") from None
        if page < 1 or per_page < 1:
            raise ApiError(400, 1001, "page and per_page must be >= 1")
        per_page = min(per_page, self.max_per_page)
        total = len(items)
        chunk = items[(page - 1) * per_page: page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total,
                "total_pages": max(1, -(-total // per_page))}
        return 200, _success(copy.deepcopy(chunk), result_info=info)

    def _get(self, kind, object_id, what):
        item = self.store[kind].get(object_id)
        if item is None:
            raise ApiError(404, 7003 if kind != "tunnels" else 1003, "%s not found" % what)
        return item

    # -- Access policies --------------------------------------------------------------------

    def _policy_view(self, policy):
        out = {k: v for k, v in policy.items() if not k.startswith("_")}
        out["app_count"] = sum(1 for app in self.store["apps"].values()
                               if any(link["id"] == policy["id"] for link in app["_links"]))
        return copy.deepcopy(out)

    def list_policies(self, query, body):
        return self._page([self._policy_view(p) for p in self.store["policies"].values()], query)

    def create_policy(self, query, body):
        contract.check_policy(body, self.store)
        policy = self._policy_from(body, {"id": str(uuid.uuid4()), "created_at": _now(), "reusable": True})
        self.store["policies"][policy["id"]] = policy
        return 201, _success(self._policy_view(policy))

    def _policy_from(self, body, base):
        policy = dict(base)
        policy.update({
            "include": [], "exclude": [], "require": [], "session_duration": "24h", "approval_required": False,
            "approval_groups": [], "purpose_justification_required": False, "isolation_required": False,
        })
        policy.update(copy.deepcopy(body))
        policy["updated_at"] = _now()
        return policy

    def get_policy(self, query, body, policy_id):
        return 200, _success(self._policy_view(self._get("policies", policy_id, "policy")))

    def put_policy(self, query, body, policy_id):
        old = self._get("policies", policy_id, "policy")
        contract.check_policy(body, self.store)
        policy = self._policy_from(body, {k: old[k] for k in ("id", "created_at", "reusable")})
        self.store["policies"][policy_id] = policy
        return 200, _success(self._policy_view(policy))

    def delete_policy(self, query, body, policy_id):
        self._get("policies", policy_id, "policy")
        users = [a["name"] for a in self.store["apps"].values() if any(link["id"] == policy_id for link in a["_links"])]
        if users:
            raise ApiError(400, 12001, "fake: policy is still used by application(s) %s" % ", ".join(users))
        del self.store["policies"][policy_id]
        return 202, _success({"id": policy_id})

    # -- Access groups ----------------------------------------------------------------------

    def list_groups(self, query, body):
        items = list(self.store["groups"].values())
        if query.get("name"):
            items = [g for g in items if g["name"] == query["name"]]
        return self._page(items, query)

    def create_group(self, query, body):
        contract.check_group(body, self.store)
        group = {"id": str(uuid.uuid4()), "include": [], "exclude": [], "require": [], "created_at": _now()}
        group.update(copy.deepcopy(body))
        group["updated_at"] = _now()
        self.store["groups"][group["id"]] = group
        return 201, _success(copy.deepcopy(group))

    def get_group(self, query, body, group_id):
        return 200, _success(copy.deepcopy(self._get("groups", group_id, "group")))

    def put_group(self, query, body, group_id):
        old = self._get("groups", group_id, "group")
        contract.check_group(body, self.store)
        group = {"id": group_id, "include": [], "exclude": [], "require": [], "created_at": old["created_at"]}
        group.update(copy.deepcopy(body))
        group["updated_at"] = _now()
        self.store["groups"][group_id] = group
        return 200, _success(copy.deepcopy(group))

    def delete_group(self, query, body, group_id):
        self._get("groups", group_id, "group")
        del self.store["groups"][group_id]
        return 202, _success({"id": group_id})

    # -- Identity providers -----------------------------------------------------------------

    def _idp_view(self, idp):
        out = copy.deepcopy({k: v for k, v in idp.items() if not k.startswith("_")})
        if out["config"].get("client_secret"):
            out["config"]["client_secret"] = "**********"
        return out

    def list_idps(self, query, body):
        return self._page([self._idp_view(i) for i in self.store["idps"].values()], query)

    def create_idp(self, query, body):
        contract.check_idp(body, creating=True)
        idp = {"id": str(uuid.uuid4())}
        idp.update(copy.deepcopy(body))
        self.store["idps"][idp["id"]] = idp
        return 201, _success(self._idp_view(idp))

    def get_idp(self, query, body, idp_id):
        return 200, _success(self._idp_view(self._get("idps", idp_id, "identity provider")))

    def put_idp(self, query, body, idp_id):
        old = self._get("idps", idp_id, "identity provider")
        contract.check_idp(body, creating=False)
        idp = {"id": idp_id}
        idp.update(copy.deepcopy(body))
        if "client_secret" not in idp["config"] and old["config"].get("client_secret"):
            idp["config"]["client_secret"] = old["config"]["client_secret"]  # a PUT without it keeps it
        self.store["idps"][idp_id] = idp
        return 200, _success(self._idp_view(idp))

    def delete_idp(self, query, body, idp_id):
        self._get("idps", idp_id, "identity provider")
        del self.store["idps"][idp_id]
        return 202, _success({"id": idp_id})

    # -- Service tokens ---------------------------------------------------------------------

    def _token_view(self, token, with_secret=False):
        out = copy.deepcopy({k: v for k, v in token.items() if not k.startswith("_")})
        if with_secret:
            out["client_secret"] = token["_secret"]
        return out

    def _expiry(self, duration):
        if duration == "forever":
            return None
        seconds = _go_seconds(duration)
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def list_tokens(self, query, body):
        items = list(self.store["service_tokens"].values())
        if query.get("name"):
            items = [t for t in items if t["name"] == query["name"]]
        return self._page([self._token_view(t) for t in items], query)

    def create_token(self, query, body):
        contract.check_service_token(body, creating=True)
        duration = body.get("duration", "8760h")
        token = {
            "id": str(uuid.uuid4()), "name": body["name"], "duration": duration,
            "client_id": "%s.access" % secrets.token_hex(16), "created_at": _now(), "updated_at": _now(),
            "expires_at": self._expiry(duration), "_secret": secrets.token_hex(32),
        }
        self.store["service_tokens"][token["id"]] = token
        return 201, _success(self._token_view(token, with_secret=True))

    def get_token(self, query, body, token_id):
        return 200, _success(self._token_view(self._get("service_tokens", token_id, "service token")))

    def put_token(self, query, body, token_id):
        token = self._get("service_tokens", token_id, "service token")
        contract.check_service_token(body, creating=False)
        token.update({k: v for k, v in body.items() if k in ("name", "duration")})
        if "duration" in body and body["duration"] == "forever":
            token["expires_at"] = None
        token["updated_at"] = _now()
        return 200, _success(self._token_view(token))

    def delete_token(self, query, body, token_id):
        token = self._get("service_tokens", token_id, "service token")
        del self.store["service_tokens"][token_id]
        return 200, _success(self._token_view(token))

    def refresh_token(self, query, body, token_id):
        token = self._get("service_tokens", token_id, "service token")
        token["expires_at"] = self._expiry(token["duration"])
        token["updated_at"] = _now()
        return 200, _success(self._token_view(token))

    def rotate_token(self, query, body, token_id):
        token = self._get("service_tokens", token_id, "service token")
        contract.check_rotate(body)
        # The previous secret keeps working until the given time (default: now, i.e. it stops at once).
        grace = (body or {}).get("previous_client_secret_expires_at")
        token["_previous_secret"] = token["_secret"] if grace else None
        token["previous_client_secret_expires_at"] = grace
        token["_secret"] = secrets.token_hex(32)
        token["updated_at"] = _now()
        return 200, _success(self._token_view(token, with_secret=True))

    # -- Access applications ----------------------------------------------------------------

    def _app_view(self, app):
        out = copy.deepcopy({k: v for k, v in app.items() if not k.startswith("_")})
        out["policies"] = []
        for link in sorted(app["_links"], key=lambda link: link["precedence"]):
            policy = self.store["policies"].get(link["id"])
            if policy is not None:
                view = self._policy_view(policy)
                view["precedence"] = link["precedence"]
                out["policies"].append(view)
        return out

    def list_apps(self, query, body):
        items = list(self.store["apps"].values())
        if query.get("name"):
            needle = query["name"].lower()
            items = [a for a in items if needle in a["name"].lower()]  # partial: callers filter exactly
        if query.get("domain"):
            items = [a for a in items if a["domain"] == query["domain"]]
        return self._page([self._app_view(a) for a in items], query)

    def _app_from(self, body, base):
        app = dict(base)
        app.update({
            "session_duration": "24h", "allowed_idps": [], "auto_redirect_to_identity": False,
            "app_launcher_visible": True, "enable_binding_cookie": False, "http_only_cookie_attribute": True,
            "path_cookie_attribute": False, "skip_interstitial": False, "service_auth_401_redirect": False,
        })
        app.update({k: copy.deepcopy(v) for k, v in body.items() if k != "policies"})
        if "destinations" in app:
            app["destinations"] = [dict({"type": "public"}, **d) for d in app["destinations"]]
        links = []
        for index, item in enumerate(body.get("policies") or []):
            if isinstance(item, str):
                links.append({"id": item, "precedence": index + 1})
            else:
                links.append({"id": item["id"], "precedence": item.get("precedence", index + 1)})
        app["_links"] = links
        app["updated_at"] = _now()
        return app

    def _domain_taken(self, domain, except_id=None):
        return any(a["domain"] == domain and a["id"] != except_id for a in self.store["apps"].values())

    def create_app(self, query, body):
        contract.check_app(body, self.store)
        if self._domain_taken(body["domain"]):
            raise ApiError(409, 11010, "access.api.error.application_already_exists")
        app = self._app_from(body, {"id": str(uuid.uuid4()), "aud": secrets.token_hex(32), "created_at": _now()})
        self.store["apps"][app["id"]] = app
        return 201, _success(self._app_view(app))

    def get_app(self, query, body, app_id):
        return 200, _success(self._app_view(self._get("apps", app_id, "application")))

    def put_app(self, query, body, app_id):
        old = self._get("apps", app_id, "application")
        contract.check_app(body, self.store)
        if self._domain_taken(body["domain"], except_id=app_id):
            raise ApiError(409, 11010, "access.api.error.application_already_exists")
        app = self._app_from(body, {k: old[k] for k in ("id", "aud", "created_at")})
        self.store["apps"][app_id] = app
        return 200, _success(self._app_view(app))

    def delete_app(self, query, body, app_id):
        self._get("apps", app_id, "application")
        del self.store["apps"][app_id]
        return 202, _success({"id": app_id})

    # -- Tunnels ----------------------------------------------------------------------------

    def _tunnel_view(self, tunnel):
        return copy.deepcopy({k: v for k, v in tunnel.items() if not k.startswith("_")})

    def _token_for(self, tunnel):
        data = {"a": self.account_id, "t": tunnel["id"], "s": tunnel["_secret"]}
        return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()

    def list_tunnels(self, query, body):
        items = list(self.store["tunnels"].values())
        deleted = query.get("is_deleted", "false")  # since December 2025, omitted means live tunnels only
        if not self.ignore_is_deleted_filter:
            want = deleted.lower() == "true"
            items = [t for t in items if (t["deleted_at"] is not None) == want]
        if query.get("name"):
            items = [t for t in items if t["name"] == query["name"]]
        if query.get("uuid"):
            items = [t for t in items if t["id"] == query["uuid"]]
        return self._page([self._tunnel_view(t) for t in items], query, default_per_page=20)

    def create_tunnel(self, query, body):
        contract.check_tunnel_create(body)
        if any(t["name"] == body["name"] and t["deleted_at"] is None for t in self.store["tunnels"].values()):
            raise ApiError(409, 1013, "You already have a tunnel with this name.")
        secret = body.get("tunnel_secret") or base64.b64encode(secrets.token_bytes(32)).decode()
        config_src = body.get("config_src", "local")
        tunnel = {
            "id": str(uuid.uuid4()), "account_tag": self.account_id, "name": body["name"], "created_at": _now(),
            "deleted_at": None, "conns_active_at": None, "conns_inactive_at": _now(), "connections": [],
            "metadata": {}, "remote_config": config_src == "cloudflare", "config_src": config_src,
            "status": "inactive", "tun_type": "cfd_tunnel", "_secret": secret,
        }
        self.store["tunnels"][tunnel["id"]] = tunnel
        self.store["tunnel_configs"][tunnel["id"]] = {"version": 0, "config": None, "created_at": _now()}
        view = self._tunnel_view(tunnel)
        view["token"] = self._token_for(tunnel)
        view["credentials_file"] = {"AccountTag": self.account_id, "TunnelID": tunnel["id"],
                                    "TunnelName": tunnel["name"], "TunnelSecret": secret}
        return 200, _success(view)

    def _live_tunnel(self, tunnel_id):
        tunnel = self._get("tunnels", tunnel_id, "tunnel")
        if tunnel["deleted_at"] is not None:
            raise ApiError(404, 1003, "tunnel %s was deleted" % tunnel_id)
        return tunnel

    def get_tunnel(self, query, body, tunnel_id):
        return 200, _success(self._tunnel_view(self._get("tunnels", tunnel_id, "tunnel")))

    def patch_tunnel(self, query, body, tunnel_id):
        tunnel = self._live_tunnel(tunnel_id)
        contract.check_tunnel_patch(body)
        if "name" in body:
            if any(t["name"] == body["name"] and t["deleted_at"] is None and t["id"] != tunnel_id
                   for t in self.store["tunnels"].values()):
                raise ApiError(409, 1013, "You already have a tunnel with this name.")
            tunnel["name"] = body["name"]
        if "tunnel_secret" in body:
            tunnel["_secret"] = body["tunnel_secret"]
        return 200, _success(self._tunnel_view(tunnel))

    def delete_tunnel(self, query, body, tunnel_id):
        contract.check_no_query(query, "DELETE cfd_tunnel/{tunnel_id}")
        tunnel = self._live_tunnel(tunnel_id)
        if tunnel["connections"]:
            raise ApiError(400, 1022, "fake: tunnel has connections; clean them up first (DELETE .../connections)")
        tunnel["deleted_at"] = _now()
        return 200, _success(self._tunnel_view(tunnel))

    def delete_tunnel_connections(self, query, body, tunnel_id):
        tunnel = self._live_tunnel(tunnel_id)
        client_id = query.get("client_id")
        tunnel["connections"] = [c for c in tunnel["connections"] if client_id and c.get("client_id") != client_id]
        return 200, _success({})

    def tunnel_token(self, query, body, tunnel_id):
        return 200, _success(self._token_for(self._live_tunnel(tunnel_id)))

    def _config_view(self, tunnel):
        config = self.store["tunnel_configs"][tunnel["id"]]
        return {"account_id": self.account_id, "tunnel_id": tunnel["id"], "version": config["version"],
                "source": tunnel["config_src"], "created_at": config["created_at"],
                "config": copy.deepcopy(config["config"])}

    def get_tunnel_config(self, query, body, tunnel_id):
        return 200, _success(self._config_view(self._live_tunnel(tunnel_id)))

    def put_tunnel_config(self, query, body, tunnel_id):
        tunnel = self._live_tunnel(tunnel_id)
        contract.check_tunnel_config(body)
        stored = self.store["tunnel_configs"][tunnel_id]
        stored["config"] = copy.deepcopy(body["config"])
        stored["version"] += 1
        stored["created_at"] = _now()
        return 200, _success(self._config_view(tunnel))

    # -- Zones and DNS ----------------------------------------------------------------------

    def list_zones(self, query, body):
        items = list(self.store["zones"].values())
        if query.get("name"):
            items = [z for z in items if z["name"] == query["name"]]
        return self._page(items, query, default_per_page=20)

    def _zone(self, zone_id):
        return self._get("zones", zone_id, "zone")

    def list_dns(self, query, body, zone_id):
        self._zone(zone_id)
        items = [r for r in self.store["dns"].values() if r["zone_id"] == zone_id]
        for key in ("type", "name", "content"):
            if query.get(key):
                items = [r for r in items if str(r.get(key)) == query[key]]
        return self._page(items, query, default_per_page=100)

    def _dns_from(self, body, zone, base):
        record = dict(base)
        record.update({"zone_id": zone["id"], "zone_name": zone["name"], "proxied": False, "proxiable": True,
                       "comment": None, "tags": [], "meta": {"auto_added": False, "source": "primary"}})
        record.update({k: copy.deepcopy(v) for k, v in body.items()})
        record["tags"] = record.get("tags") or []
        record["modified_on"] = _now()
        return record

    def create_dns(self, query, body, zone_id):
        zone = self._zone(zone_id)
        contract.check_dns_record(body)
        if body["type"] in ("CNAME", "A", "AAAA") and any(
                r["name"] == body["name"] and r["zone_id"] == zone_id and r["type"] in ("CNAME", "A", "AAAA")
                for r in self.store["dns"].values()):
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        record = self._dns_from(body, zone, {"id": secrets.token_hex(16), "created_on": _now()})
        self.store["dns"][record["id"]] = record
        return 200, _success(copy.deepcopy(record))

    def get_dns(self, query, body, zone_id, record_id):
        return 200, _success(copy.deepcopy(self._get("dns", record_id, "DNS record")))

    def put_dns(self, query, body, zone_id, record_id):
        zone = self._zone(zone_id)
        old = self._get("dns", record_id, "DNS record")
        contract.check_dns_record(body)
        record = self._dns_from(body, zone, {"id": record_id, "created_on": old["created_on"]})
        self.store["dns"][record_id] = record
        return 200, _success(copy.deepcopy(record))

    def delete_dns(self, query, body, zone_id, record_id):
        self._get("dns", record_id, "DNS record")
        del self.store["dns"][record_id]
        return 200, _success({"id": record_id})

    def list_access_requests(self, query, body):
        contract.check_access_log_query(query)
        since = _instant(query["since"]) if "since" in query else None
        until = _instant(query["until"]) if "until" in query else None
        items = [r for r in self.access_logs
                 if (since is None or _instant(r["created_at"]) >= since)
                 and (until is None or _instant(r["created_at"]) <= until)]
        items.sort(key=lambda r: _instant(r["created_at"]), reverse=query.get("direction", "desc") == "desc")
        if query.get("limit"):
            items = items[:int(query["limit"])]
        return self._page(items, query, default_per_page=25)

    def organization(self, query, body):
        return 200, _success(copy.deepcopy(self.organization_settings))

    def put_organization(self, query, body):
        contract.check_organization(body)
        settings = self.organization_settings
        for key, value in body.items():
            if key == "mfa_config":
                settings["mfa_config"] = dict(settings.get("mfa_config") or {}, **value)
            else:
                settings[key] = copy.deepcopy(value)
        settings["updated_at"] = _now()
        return 200, _success(copy.deepcopy(settings))


_ID = r"([^/]+)"
ROUTES = [
    (r"{account}/access/policies", "GET", FakeCloudflare.list_policies),
    (r"{account}/access/policies", "POST", FakeCloudflare.create_policy),
    (r"{account}/access/policies/" + _ID, "GET", FakeCloudflare.get_policy),
    (r"{account}/access/policies/" + _ID, "PUT", FakeCloudflare.put_policy),
    (r"{account}/access/policies/" + _ID, "DELETE", FakeCloudflare.delete_policy),
    (r"{account}/access/groups", "GET", FakeCloudflare.list_groups),
    (r"{account}/access/groups", "POST", FakeCloudflare.create_group),
    (r"{account}/access/groups/" + _ID, "GET", FakeCloudflare.get_group),
    (r"{account}/access/groups/" + _ID, "PUT", FakeCloudflare.put_group),
    (r"{account}/access/groups/" + _ID, "DELETE", FakeCloudflare.delete_group),
    (r"{account}/access/identity_providers", "GET", FakeCloudflare.list_idps),
    (r"{account}/access/identity_providers", "POST", FakeCloudflare.create_idp),
    (r"{account}/access/identity_providers/" + _ID, "GET", FakeCloudflare.get_idp),
    (r"{account}/access/identity_providers/" + _ID, "PUT", FakeCloudflare.put_idp),
    (r"{account}/access/identity_providers/" + _ID, "DELETE", FakeCloudflare.delete_idp),
    (r"{account}/access/service_tokens", "GET", FakeCloudflare.list_tokens),
    (r"{account}/access/service_tokens", "POST", FakeCloudflare.create_token),
    (r"{account}/access/service_tokens/" + _ID + "/refresh", "POST", FakeCloudflare.refresh_token),
    (r"{account}/access/service_tokens/" + _ID + "/rotate", "POST", FakeCloudflare.rotate_token),
    (r"{account}/access/service_tokens/" + _ID, "GET", FakeCloudflare.get_token),
    (r"{account}/access/service_tokens/" + _ID, "PUT", FakeCloudflare.put_token),
    (r"{account}/access/service_tokens/" + _ID, "DELETE", FakeCloudflare.delete_token),
    (r"{account}/access/apps", "GET", FakeCloudflare.list_apps),
    (r"{account}/access/apps", "POST", FakeCloudflare.create_app),
    (r"{account}/access/apps/" + _ID, "GET", FakeCloudflare.get_app),
    (r"{account}/access/apps/" + _ID, "PUT", FakeCloudflare.put_app),
    (r"{account}/access/apps/" + _ID, "DELETE", FakeCloudflare.delete_app),
    (r"{account}/access/logs/access_requests", "GET", FakeCloudflare.list_access_requests),
    (r"{account}/access/organizations", "GET", FakeCloudflare.organization),
    (r"{account}/access/organizations", "PUT", FakeCloudflare.put_organization),
    (r"{account}/cfd_tunnel", "GET", FakeCloudflare.list_tunnels),
    (r"{account}/cfd_tunnel", "POST", FakeCloudflare.create_tunnel),
    (r"{account}/cfd_tunnel/" + _ID + "/token", "GET", FakeCloudflare.tunnel_token),
    (r"{account}/cfd_tunnel/" + _ID + "/configurations", "GET", FakeCloudflare.get_tunnel_config),
    (r"{account}/cfd_tunnel/" + _ID + "/configurations", "PUT", FakeCloudflare.put_tunnel_config),
    (r"{account}/cfd_tunnel/" + _ID + "/connections", "DELETE", FakeCloudflare.delete_tunnel_connections),
    (r"{account}/cfd_tunnel/" + _ID, "GET", FakeCloudflare.get_tunnel),
    (r"{account}/cfd_tunnel/" + _ID, "PATCH", FakeCloudflare.patch_tunnel),
    (r"{account}/cfd_tunnel/" + _ID, "DELETE", FakeCloudflare.delete_tunnel),
    (r"/zones", "GET", FakeCloudflare.list_zones),
    (r"/zones/" + _ID + "/dns_records", "GET", FakeCloudflare.list_dns),
    (r"/zones/" + _ID + "/dns_records", "POST", FakeCloudflare.create_dns),
    (r"/zones/" + _ID + "/dns_records/" + _ID, "GET", FakeCloudflare.get_dns),
    (r"/zones/" + _ID + "/dns_records/" + _ID, "PUT", FakeCloudflare.put_dns),
    (r"/zones/" + _ID + "/dns_records/" + _ID, "DELETE", FakeCloudflare.delete_dns),
]


def _success(result, result_info=None):
    envelope = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        envelope["result_info"] = result_info
    return envelope


def _failure(code, message):
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-cloudflare"

    def log_message(self, *args):
        pass

    def _dispatch(self):
        self.server.fake.handle(self, self.command)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def do_CONNECT(self):
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(Request("CONNECT", self.path, {}, None, status=0))
        if fake._tls_context is None or self.path not in PROXY_TARGETS:
            self.send_response(403, "fake: this proxy only reaches api.cloudflare.com:443")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        tls = fake._tls_context.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = tls.makefile("wb")
        self.close_connection = False


def main():  # pragma: no cover - manual use: python -m tests.fake_cloudflare
    fake = FakeCloudflare(tls_proxy=True).start()
    print("fake Cloudflare API at %s (token %s, account %s)" % (fake.url, fake.token, fake.account_id))
    print("OpenAPI checks: %s" % (fake.openapi.source if fake.openapi else fake.openapi_skip_reason))
    print("environment for ansible-playbook:")
    for key, value in fake.env().items():
        print("  export %s=%s" % (key, value))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["ACCOUNT_ID", "API_TOKEN", "TEAM_NAME", "FakeCloudflare"]
