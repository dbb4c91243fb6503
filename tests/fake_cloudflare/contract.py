"""Hand-written request checks from api-contract.md (they run with or without the OpenAPI file).

Each ``check_*`` function raises ``ContractViolation`` with a message that names the field. The
fake is stricter than Cloudflare in one way on purpose: unknown top-level keys are refused, so a
typo in a module's payload fails a test instead of being silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid


class ContractViolation(Exception):
    pass


# Go duration, as in the Terraform provider's validator (api-contract.md section 1), sign refused.
DURATION = re.compile(r"^(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HOST = re.compile(r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

DECISIONS = ("allow", "deny", "non_identity", "bypass")
SERVICE_PREFIXES = ("http://", "https://", "unix:", "unix+tls:", "tcp://", "ssh://", "rdp://", "smb://")
SERVICE_WORDS = ("hello_world", "bastion", "socks-proxy")
ORIGIN_REQUEST_KEYS = {
    "connectTimeout": int, "tlsTimeout": int, "tcpKeepAlive": int, "keepAliveTimeout": int,
    "keepAliveConnections": int, "noHappyEyeballs": bool, "noTLSVerify": bool, "disableChunkedEncoding": bool,
    "http2Origin": bool, "matchSNItoHost": bool, "httpHostHeader": str, "originServerName": str, "caPool": str,
    "proxyType": str, "access": dict,
}


def _keys(body, allowed, required=(), where="body"):
    if not isinstance(body, dict):
        raise ContractViolation("%s must be a JSON object" % where)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ContractViolation("%s has keys the contract does not know: %s" % (where, ", ".join(unknown)))
    missing = [k for k in required if body.get(k) in (None, "")]
    if missing:
        raise ContractViolation("%s lacks required %s" % (where, ", ".join(missing)))


def _type(value, kind, where):
    if kind is int and isinstance(value, bool):
        raise ContractViolation("%s must be %s" % (where, kind.__name__))
    if not isinstance(value, kind):
        raise ContractViolation("%s must be %s, got %r" % (where, getattr(kind, "__name__", kind), value))


def check_duration(value, where):
    if not isinstance(value, str) or not DURATION.match(value):
        raise ContractViolation("%s: %r is not a Go duration (e.g. '30m', '24h')" % (where, value))


def check_uuid(value, where):
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ContractViolation("%s: %r is not a UUID" % (where, value)) from None


# ---- Access rules ---------------------------------------------------------------------------

RULE_SHAPES = {
    "email": ("email",),
    "email_domain": ("domain",),
    "email_list": ("id",),
    "everyone": (),
    "ip": ("ip",),
    "ip_list": ("id",),
    "group": ("id",),
    "login_method": ("id",),
    "service_token": ("token_id",),
    "any_valid_service_token": (),
    "geo": ("country_code",),
    "auth_method": ("auth_method",),
    "certificate": (),
    "common_name": ("common_name",),
    "device_posture": ("integration_uid",),
    "external_evaluation": ("evaluate_url", "keys_url"),
}


def check_rules(rules, where, store):
    if not isinstance(rules, list):
        raise ContractViolation("%s must be a list of rules" % where)
    for index, rule in enumerate(rules):
        here = "%s[%d]" % (where, index)
        if not isinstance(rule, dict) or len(rule) != 1:
            raise ContractViolation("%s: a rule is an object with exactly one key, got %r" % (here, rule))
        (kind, inner), = rule.items()
        if kind not in RULE_SHAPES:
            raise ContractViolation("%s: unknown rule type %r" % (here, kind))
        if not isinstance(inner, dict):
            raise ContractViolation("%s.%s must be an object" % (here, kind))
        _keys(inner, RULE_SHAPES[kind], RULE_SHAPES[kind], "%s.%s" % (here, kind))
        value = inner.get(RULE_SHAPES[kind][0]) if RULE_SHAPES[kind] else None
        if kind == "email" and not EMAIL.match(value):
            raise ContractViolation("%s.email.email: %r is not an email" % (here, value))
        if kind == "email_domain" and (not HOST.match(value) or "@" in value):
            raise ContractViolation("%s.email_domain.domain: %r is not a domain" % (here, value))
        if kind == "ip":
            try:
                ipaddress.ip_network(value, strict=True)
            except ValueError:
                raise ContractViolation("%s.ip.ip: %r is not a CIDR" % (here, value)) from None
        if kind == "geo" and not re.match(r"^[A-Z0-9]{2}$", value):
            raise ContractViolation("%s.geo.country_code: %r is not a two-letter country code" % (here, value))
        refs = {"group": "groups", "login_method": "idps", "service_token": "service_tokens"}
        if kind in refs and value not in store[refs[kind]]:
            raise ContractViolation("%s.%s: %r does not exist in the account" % (here, kind, value))


POLICY_KEYS = (
    "name", "decision", "include", "exclude", "require", "session_duration", "approval_required",
    "approval_groups", "purpose_justification_required", "purpose_justification_prompt", "isolation_required",
    "mfa_config", "connection_rules",
)


def check_policy(body, store, where="body"):
    _keys(body, POLICY_KEYS, ("name", "decision", "include"), where)
    _type(body["name"], str, where + ".name")
    if body["decision"] not in DECISIONS:
        raise ContractViolation("%s.decision: %r is not one of %s" % (where, body["decision"], ", ".join(DECISIONS)))
    for clause in ("include", "exclude", "require"):
        if clause in body:
            check_rules(body[clause], "%s.%s" % (where, clause), store)
    if not body["include"]:
        raise ContractViolation("%s.include must not be empty" % where)
    if "session_duration" in body:
        check_duration(body["session_duration"], where + ".session_duration")
    for flag in ("approval_required", "purpose_justification_required", "isolation_required"):
        if flag in body:
            _type(body[flag], bool, "%s.%s" % (where, flag))
    for index, group in enumerate(body.get("approval_groups") or []):
        here = "%s.approval_groups[%d]" % (where, index)
        _keys(group, ("approvals_needed", "email_addresses", "email_list_uuid"), ("approvals_needed",), here)
        if isinstance(group["approvals_needed"], bool) or not isinstance(group["approvals_needed"], (int, float)) \
                or group["approvals_needed"] < 0:
            raise ContractViolation("%s.approvals_needed must be a number >= 0" % here)
        for email in group.get("email_addresses") or []:
            if not EMAIL.match(email):
                raise ContractViolation("%s.email_addresses: %r is not an email" % (here, email))
    if "purpose_justification_prompt" in body:
        _type(body["purpose_justification_prompt"], str, where + ".purpose_justification_prompt")
    if "mfa_config" in body:
        check_mfa_config(body["mfa_config"], where + ".mfa_config")


GROUP_KEYS = ("name", "include", "exclude", "require", "is_default")


def check_group(body, store):
    _keys(body, GROUP_KEYS, ("name", "include"))
    for clause in ("include", "exclude", "require"):
        if clause in body:
            check_rules(body[clause], clause, store)
    if not body["include"]:
        raise ContractViolation("include must not be empty")


# ---- Applications ---------------------------------------------------------------------------

APP_KEYS = (
    "type", "name", "domain", "self_hosted_domains", "destinations", "session_duration", "allowed_idps",
    "auto_redirect_to_identity", "app_launcher_visible", "policies", "allow_authenticate_via_warp", "allow_iframe",
    "cors_headers", "options_preflight_bypass", "custom_deny_message", "custom_deny_url",
    "custom_non_identity_deny_url", "custom_pages", "enable_binding_cookie", "http_only_cookie_attribute",
    "path_cookie_attribute", "same_site_cookie_attribute", "service_auth_401_redirect", "skip_interstitial",
    "logo_url", "tags", "read_service_tokens_from_header", "mfa_config", "scim_config",
)


def check_app(body, store):
    _keys(body, APP_KEYS, ("type", "domain"))
    if body["type"] != "self_hosted":
        raise ContractViolation("type: this fake models only self_hosted applications, got %r" % body["type"])
    domain = body["domain"]
    host = domain.split("/", 1)[0]
    if not HOST.match(host):
        raise ContractViolation("domain: %r is not host[/path]" % domain)
    if "destinations" in body and "self_hosted_domains" in body:
        raise ContractViolation("destinations and self_hosted_domains conflict (send destinations)")
    for index, dest in enumerate(body.get("destinations") or []):
        here = "destinations[%d]" % index
        _keys(dest, ("type", "uri", "cidr", "hostname", "port_range", "l4_protocol", "vnet_id"), (), here)
        if dest.get("type", "public") == "public":
            if not dest.get("uri") or "://" in dest["uri"]:
                raise ContractViolation("%s.uri must be host[/path] without a scheme, got %r" % (here, dest.get("uri")))
    if "session_duration" in body:
        check_duration(body["session_duration"], "session_duration")
    if "mfa_config" in body:
        check_mfa_config(body["mfa_config"], "mfa_config")
    idps = body.get("allowed_idps") or []
    for index, idp in enumerate(idps):
        if idp not in store["idps"]:
            raise ContractViolation("allowed_idps[%d]: %r is not an identity provider of the account" % (index, idp))
    if body.get("auto_redirect_to_identity") and len(idps) != 1:
        raise ContractViolation("auto_redirect_to_identity needs exactly one entry in allowed_idps")
    same_site = body.get("same_site_cookie_attribute")
    if same_site is not None and same_site not in ("none", "lax", "strict"):
        raise ContractViolation("same_site_cookie_attribute: %r is not none, lax or strict" % same_site)
    if body.get("options_preflight_bypass") and body.get("cors_headers"):
        raise ContractViolation("options_preflight_bypass cannot be combined with cors_headers")
    precedences = []
    for index, item in enumerate(body.get("policies") or []):
        here = "policies[%d]" % index
        if isinstance(item, str):
            policy_id, precedence = item, None
        elif isinstance(item, dict) and set(item) <= {"id", "precedence"}:
            policy_id, precedence = item.get("id"), item.get("precedence")
        else:
            raise ContractViolation("%s: this fake accepts links {id, precedence} or ids, got %r" % (here, item))
        if policy_id not in store["policies"]:
            raise ContractViolation("%s.id: %r is not a reusable policy of the account" % (here, policy_id))
        if precedence is not None:
            if isinstance(precedence, bool) or not isinstance(precedence, int) or precedence < 1:
                raise ContractViolation("%s.precedence must be an integer >= 1" % here)
            precedences.append(precedence)
    if len(precedences) != len(set(precedences)):
        raise ContractViolation("policies: precedence values must be unique within the application")
    for flag in ("auto_redirect_to_identity", "app_launcher_visible", "enable_binding_cookie",
                 "http_only_cookie_attribute", "path_cookie_attribute", "service_auth_401_redirect",
                 "skip_interstitial"):
        if flag in body:
            _type(body[flag], bool, flag)


# ---- Identity providers ---------------------------------------------------------------------

IDP_CONFIG_KEYS = {
    "onetimepin": (),
    "saml": ("issuer_url", "sso_target_url", "idp_public_certs", "sign_request", "attributes", "email_attribute_name",
             "header_attributes", "enable_encryption"),
    # pkce_enabled only on oidc, as in the SDK's AccessOIDCConfig (no other config type has it).
    "azureAD": ("client_id", "client_secret", "directory_id", "support_groups", "conditional_access_enabled", "prompt",
                "claims", "email_claim_name"),
    "google-apps": ("client_id", "client_secret", "apps_domain", "claims", "email_claim_name"),
    "okta": ("client_id", "client_secret", "okta_account", "authorization_server_id", "claims", "email_claim_name"),
    "oidc": ("client_id", "client_secret", "auth_url", "token_url", "certs_url", "scopes", "pkce_enabled", "claims",
             "email_claim_name"),
}


def check_idp(body, creating):
    _keys(body, ("name", "type", "config", "scim_config"), ("name", "type"))
    if "config" not in body:
        raise ContractViolation("config is required (send {} for onetimepin)")
    if body["type"] not in IDP_CONFIG_KEYS:
        raise ContractViolation("type: %r is not a type this fake models" % body["type"])
    _keys(body["config"], IDP_CONFIG_KEYS[body["type"]], (), "config")
    if creating and body["type"] not in ("onetimepin", "saml") and not body["config"].get("client_secret"):
        raise ContractViolation("config.client_secret is required to create a %s identity provider" % body["type"])


# ---- Service tokens -------------------------------------------------------------------------


def check_service_token(body, creating):
    allowed = ("name", "duration", "client_secret_version", "previous_client_secret_expires_at")
    if not creating:
        allowed += ("enabled",)
    _keys(body, allowed, ("name",) if creating else ())
    if "duration" in body and body["duration"] != "forever":  # the SDK documents the special value "forever"
        check_duration(body["duration"], "duration")
    if "previous_client_secret_expires_at" in body:
        check_timestamp(body["previous_client_secret_expires_at"], "previous_client_secret_expires_at")


def check_rotate(body):
    if body in (None, {}):
        return
    _keys(body, ("previous_client_secret_expires_at",))
    check_timestamp(body["previous_client_secret_expires_at"], "previous_client_secret_expires_at")


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def check_timestamp(value, where):
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        raise ContractViolation("%s: %r is not an RFC 3339 timestamp" % (where, value))


# ---- Organization ---------------------------------------------------------------------------

ORGANIZATION_KEYS = (
    "allow_authenticate_via_warp", "auth_domain", "auto_redirect_to_identity", "custom_pages",
    "deny_unmatched_requests", "deny_unmatched_requests_exempted_zone_names", "is_ui_read_only", "login_design",
    "mfa_config", "mfa_piv_key_requirements", "mfa_required_for_all_apps", "name", "service_token_inactivity",
    "session_duration", "strict_service_token_auth", "ui_read_only_toggle_reason",
    "user_seat_expiration_inactive_time", "warp_auth_non_browser_401", "warp_auth_session_duration",
)
MINUTES_OR_HOURS = re.compile(r"^(\d+)(m|h)$")


def _mfa_session(value, where):
    """api-contract.md (SDK 5.9): minutes or hours only, 0m to 720h."""
    match = MINUTES_OR_HOURS.match(value) if isinstance(value, str) else None
    if not match:
        raise ContractViolation("%s: %r must be minutes or hours, such as '30m' or '12h'" % (where, value))
    minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
    if minutes > 720 * 60:
        raise ContractViolation("%s: %r is longer than 720h" % (where, value))


def check_mfa_config(mfa, where, organization=False):
    allowed = ("allowed_authenticators", "mfa_disabled", "session_duration")
    if organization:
        allowed = ("allowed_authenticators", "session_duration", "amr_matching_session_duration", "required_aaguids")
    _keys(mfa, allowed, (), where)
    for item in mfa.get("allowed_authenticators") or []:
        if item not in ("totp", "biometrics", "security_key"):
            raise ContractViolation("%s.allowed_authenticators: %r is unknown" % (where, item))
    for key in ("session_duration", "amr_matching_session_duration"):
        if mfa.get(key) is not None:
            _mfa_session(mfa[key], "%s.%s" % (where, key))


def check_organization(body):
    _keys(body, ORGANIZATION_KEYS)
    if "mfa_config" in body:
        check_mfa_config(body["mfa_config"], "mfa_config", organization=True)
    if body.get("mfa_required_for_all_apps"):
        mfa = body.get("mfa_config") or {}
        if not mfa.get("allowed_authenticators") or not mfa.get("session_duration"):
            raise ContractViolation("mfa_required_for_all_apps needs mfa_config with allowed_authenticators and "
                                    "session_duration in the same request")
    seat = body.get("user_seat_expiration_inactive_time")
    if seat is not None:
        check_duration(seat, "user_seat_expiration_inactive_time")
        hours = sum(float(n) * {"h": 1, "m": 1 / 60, "s": 1 / 3600}.get(u, 0)
                    for n, u in re.findall(r"(\d+(?:\.\d*)?)(h|m|s)", seat))
        if hours < 730:
            raise ContractViolation("user_seat_expiration_inactive_time: %r is shorter than the minimum of 730h" % seat)


# ---- Access authentication logs (api-contract.md, "2026 additions") -------------------------

ACCESS_LOG_QUERY = ("since", "until", "direction", "limit", "page", "per_page", "email", "email_exact", "emailOp",
                    "fields", "allowedOp", "app_typeOp", "app_uidOp", "country_codeOp", "idpOp", "non_identityOp",
                    "ray_idOp")
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$")


def check_access_log_query(query):
    """The query of ``GET .../access/logs/access_requests``: known parameters only, times in ISO 8601."""
    unknown = sorted(set(query) - set(ACCESS_LOG_QUERY))
    if unknown:
        raise ContractViolation("access_requests takes no query parameter %s" % ", ".join(unknown))
    for name in ("since", "until"):
        if name in query and not ISO_8601.match(query[name]):
            raise ContractViolation("%s: %r is not an ISO 8601 time with a zone" % (name, query[name]))
    if query.get("direction", "desc") not in ("asc", "desc"):
        raise ContractViolation("direction must be asc or desc; got %r" % query["direction"])
    for name in ("limit", "page", "per_page"):
        if name in query and not query[name].isdigit():
            raise ContractViolation("%s must be a whole number; got %r" % (name, query[name]))


def check_no_query(query, operation):
    if query:
        raise ContractViolation("%s takes no query parameters; got %s (cascade is not in the API's documentation)"
                                % (operation, ", ".join(sorted(query))))


# ---- Tunnels --------------------------------------------------------------------------------


def check_tunnel_create(body):
    _keys(body, ("name", "config_src", "tunnel_secret"), ("name",))
    _type(body["name"], str, "name")
    try:
        uuid.UUID(body["name"])
    except ValueError:
        pass
    else:
        raise ContractViolation("name must not be a UUID")
    if body.get("config_src", "local") not in ("local", "cloudflare"):
        raise ContractViolation("config_src: %r is not local or cloudflare" % body.get("config_src"))
    if "tunnel_secret" in body:
        check_tunnel_secret(body["tunnel_secret"])


def check_tunnel_secret(secret):
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ContractViolation("tunnel_secret must be base64") from None
    if len(raw) < 32:
        raise ContractViolation("tunnel_secret must encode at least 32 bytes, got %d" % len(raw))


def check_tunnel_patch(body):
    _keys(body, ("name", "tunnel_secret"))
    if "tunnel_secret" in body:
        check_tunnel_secret(body["tunnel_secret"])


def _check_origin_request(data, where):
    _keys(data, ORIGIN_REQUEST_KEYS, (), where)
    for key, kind in ORIGIN_REQUEST_KEYS.items():
        if key in data:
            _type(data[key], kind, "%s.%s" % (where, key))
    if "access" in data:
        access = data["access"]
        _keys(access, ("required", "teamName", "audTag"), ("teamName", "audTag"), where + ".access")
        if not isinstance(access["audTag"], list) or not all(isinstance(a, str) for a in access["audTag"]):
            raise ContractViolation("%s.access.audTag must be a list of strings" % where)


def check_tunnel_config(body):
    _keys(body, ("config",), ("config",))
    config = body["config"]
    if "warp-routing" in config:
        raise ContractViolation("config.warp-routing is deprecated and ignored; do not send it")
    _keys(config, ("ingress", "originRequest"), ("ingress",), "config")
    if "originRequest" in config:
        _check_origin_request(config["originRequest"], "config.originRequest")
    rules = config["ingress"]
    if not isinstance(rules, list) or not rules:
        raise ContractViolation("config.ingress needs at least one rule")
    for index, rule in enumerate(rules):
        here = "config.ingress[%d]" % index
        _keys(rule, ("hostname", "path", "service", "originRequest"), ("service",), here)
        catch_all = rule.get("hostname") in (None, "", "*") and not rule.get("path")
        last = index == len(rules) - 1
        if last and not catch_all:
            raise ContractViolation("The last ingress rule must match all URLs (i.e. it should not have a hostname "
                                    "or path filter)")
        if catch_all and not last:
            raise ContractViolation("%s matches all URLs, so the rules after it can never match" % here)
        hostname = rule.get("hostname")
        if hostname not in (None, "", "*") and (not HOST.match(hostname) or ":" in hostname):
            raise ContractViolation("%s.hostname: %r is not a hostname (no port, one leading '*' at most)"
                                    % (here, hostname))
        if rule.get("path"):
            try:
                re.compile(rule["path"])
            except re.error:
                raise ContractViolation("%s.path: %r is not a regular expression" % (here, rule["path"])) from None
        service = rule["service"]
        if re.match(r"^http_status:\d{3}$", service) or service in SERVICE_WORDS:
            pass
        elif service.startswith(SERVICE_PREFIXES):
            if service.startswith(("http://", "https://")):
                rest = service.split("://", 1)[1]
                if "/" in rest.rstrip("/"):
                    raise ContractViolation("%s.service: a URL service must not contain a path: %r" % (here, service))
        else:
            raise ContractViolation("%s.service: %r is not a supported service" % (here, service))
        if "originRequest" in rule:
            _check_origin_request(rule["originRequest"], here + ".originRequest")


# ---- DNS ------------------------------------------------------------------------------------

DNS_KEYS = ("type", "name", "content", "proxied", "ttl", "comment", "tags", "priority", "data", "settings")


def check_dns_record(body):
    _keys(body, DNS_KEYS, ("type", "name"))
    if "ttl" not in body:
        raise ContractViolation("ttl is required (1 = automatic)")
    ttl = body["ttl"]
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == 1 or 30 <= ttl <= 86400):
        raise ContractViolation("ttl must be 1 (automatic) or 30..86400, got %r" % (ttl,))
    if body["type"] == "CNAME":
        if not body.get("content"):
            raise ContractViolation("a CNAME needs content")
        if body["content"].rstrip(".") == body["name"].rstrip("."):
            raise ContractViolation("content must not match the record's name")
