"""Cloudflare mode: the origin verifies Cf-Access-Jwt-Assertion against a JWKS served on loopback.

Covers the JWT classes of gateway-anchors.md 3.6 (alg none and confusion, wrong aud/iss, expiry,
unknown kid) and the JWKS behaviour (cache, rate-limited refetch, timeout, fail closed).
"""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from gwtest import AUD, ORIGIN, TEAM, Client, b64url, csrf_of, make_gateway
from jwt.algorithms import RSAAlgorithm
from oscar_gateway import config as gw_config
from oscar_gateway import decision_endpoint

ISS = "https://" + TEAM


class Keys:
    def __init__(self, kid):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self):
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        data.update(kid=self.kid, alg="RS256", use="sig")
        return data


KEY_A = Keys("kid-a")
KEY_B = Keys("kid-b")


class JwksServer:
    """A loopback JWKS endpoint: serve keys, count fetches, fail or hang on demand."""

    def __init__(self):
        self.keys = [KEY_A]
        self.fetches = 0
        self.mode = "ok"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.fetches += 1
                if server.mode == "hang":
                    time.sleep(3)
                if server.mode in ("down", "hang"):
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [k.jwk() for k in server.keys],
                                   "public_cert": {"kid": "x", "cert": "ignored"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/cdn-cgi/access/certs" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks():
    server = JwksServer()
    yield server
    server.close()


def claims(**overrides):
    now = int(time.time())
    data = {"aud": [AUD], "email": "drsmith@clinic.test", "exp": now + 600, "iat": now - 5, "nbf": now - 5,
            "iss": ISS, "type": "app", "identity_nonce": "n", "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
            "country": "CA"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sign(payload, key=KEY_A, headers=None):
    extra = {"kid": key.kid}
    extra.update(headers or {})
    return jwt.encode(payload, key.pem, algorithm="RS256", headers=extra)


def raw_token(header, payload, signature=b""):
    return "%s.%s.%s" % (b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()),
                         b64url(signature))


@pytest.fixture
def cf(tmp_path, jwks):
    return make_gateway(tmp_path, mode="cloudflare",
                        environ={gw_config.TEST_CERTS_URL_ENV: jwks.url},
                        cloudflare={"team_domain": TEAM, "aud": [AUD], "jwks_min_refetch_seconds": 60,
                                    "jwks_timeout_seconds": 1, "service_tokens": {"lab-uploader": "abc123.access"}})


def ask(gateway, token, path="/oscar/provider/providercontrol.jsp", ip="198.51.100.7", **headers):
    merged = {"Cf-Access-Jwt-Assertion": token}
    merged.update(headers)
    return Client(gateway, ip=ip).auth(path, headers=merged)


def test_valid_user_token_is_allowed_with_identity(cf):
    response = ask(cf, sign(claims()))
    assert response.status == 200
    assert response.header("Remote-Email") == "drsmith@clinic.test"
    assert response.header("Remote-User") == "drsmith"  # mapped through the model's users
    assert "staff" in response.header("Remote-Groups").split(",")


def test_every_request_needs_the_header(cf):
    assert ask(cf, None).status == 403
    response = Client(cf).auth("/oscar/", headers={"Cookie": "CF_Authorization=" + sign(claims())})
    assert response.status == 403  # the cookie is not accepted in place of the header
    assert cf.store.one("SELECT * FROM audit WHERE event = 'denied' ORDER BY id DESC")["detail"].count("token")


def test_login_pages_do_not_exist_in_cloudflare_mode(cf):
    assert Client(cf).get("/_gateway/login").status == 404


# -- JWT classes -------------------------------------------------------------------------------

def test_alg_none_is_refused(cf):
    for alg in ("none", "None", "NONE"):
        token = raw_token({"alg": alg, "kid": KEY_A.kid, "typ": "JWT"}, claims())
        assert ask(cf, token).status == 403
        assert ask(cf, token[:-1] if token.endswith(".") else token + ".").status == 403


def test_hs256_with_the_public_key_as_secret_is_refused(cf):
    """Key confusion (PyJWT CVE-2022-29217, Authlib CVE-2024-37568)."""
    header = {"alg": "HS256", "kid": KEY_A.kid, "typ": "JWT"}
    signing_input = "%s.%s" % (b64url(json.dumps(header).encode()), b64url(json.dumps(claims()).encode()))
    for secret in (KEY_A.public_pem, json.dumps(KEY_A.jwk()).encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert ask(cf, signing_input + "." + b64url(signature)).status == 403


def test_other_algorithms_are_refused(cf):
    assert ask(cf, jwt.encode(claims(), KEY_A.pem, algorithm="RS512", headers={"kid": KEY_A.kid})).status == 403
    assert ask(cf, jwt.encode(claims(), KEY_A.pem, algorithm="PS256", headers={"kid": KEY_A.kid})).status == 403
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert ask(cf, jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": KEY_A.kid})).status == 403


def test_token_signed_by_another_key_is_refused(cf):
    stranger = Keys(KEY_A.kid)  # same kid, different key
    assert ask(cf, sign(claims(), stranger)).status == 403


def test_tampered_payload_is_refused(cf):
    token = sign(claims())
    header, _payload, signature = token.split(".")
    evil = b64url(json.dumps(claims(email="privacy@clinic.test")).encode())
    assert ask(cf, "%s.%s.%s" % (header, evil, signature)).status == 403


@pytest.mark.parametrize("aud", [["someone-elses-aud-tag-0000"], "someone-elses-aud-tag-0000", [], None,
                                 [AUD[:-1]], [AUD.upper()]])
def test_wrong_audience_is_refused(cf, aud):
    assert ask(cf, sign(claims(aud=aud))).status == 403


def test_audience_list_containing_ours_is_accepted(cf):
    assert ask(cf, sign(claims(aud=["other-app-aud-tag-123456", AUD]))).status == 200


@pytest.mark.parametrize("iss", ["https://evil.cloudflareaccess.com", ISS + ".evil.example", ISS + "/",
                                 "http://" + TEAM, "https://" + TEAM.upper(), "", None, ISS[:-1]])
def test_wrong_issuer_is_refused(cf, iss):
    assert ask(cf, sign(claims(iss=iss))).status == 403


def test_expiry_and_not_before_with_small_leeway(cf):
    now = int(time.time())
    assert ask(cf, sign(claims(exp=now - 120))).status == 403
    assert ask(cf, sign(claims(exp=now - 10))).status == 200  # within the 30 s leeway
    assert ask(cf, sign(claims(nbf=now + 120))).status == 403
    assert ask(cf, sign(claims(exp=None))).status == 403
    assert ask(cf, sign(claims(iat=None))).status == 403


def test_crit_header_is_refused(cf):
    assert ask(cf, sign(claims(), headers={"crit": ["exp"]})).status == 403


def test_token_without_kid_or_identity_is_refused(cf):
    token = jwt.encode(claims(), KEY_A.pem, algorithm="RS256")
    assert ask(cf, token).status == 403
    assert ask(cf, sign(claims(email=None))).status == 403
    assert ask(cf, sign(claims(sub=""))).status == 403
    assert ask(cf, sign(claims(type="org"))).status == 403


# -- keys: cache, unknown kid, rotation, outage ------------------------------------------------

def test_unknown_kid_refetches_once_then_is_rate_limited(cf, jwks):
    assert ask(cf, sign(claims())).status == 200
    fetches = jwks.fetches
    jwks.keys = [KEY_A, KEY_B]  # Cloudflare rotated: a new kid appears
    cf.verifier.keyset._last_attempt = -1e18  # the rate-limit window from the first fetch has passed
    assert ask(cf, sign(claims(), KEY_B)).status == 200
    assert jwks.fetches == fetches + 1
    # A flood of random kids costs at most one fetch per interval.
    for index in range(25):
        bogus = Keys("random-%d" % index) if index < 2 else KEY_A
        token = sign(claims(), bogus) if index < 2 else sign(claims(), KEY_A, headers={"kid": "rnd%d" % index})
        assert ask(cf, token).status == 403
    assert jwks.fetches <= fetches + 2


def test_cached_keys_keep_working_when_the_endpoint_is_down(cf, jwks):
    assert ask(cf, sign(claims())).status == 200
    jwks.mode = "down"
    cf.verifier.keyset._fetched_at = 0  # stale: a background refresh is attempted and fails
    cf.verifier.keyset._last_attempt = -1e18
    for _unused in range(3):
        assert ask(cf, sign(claims())).status == 200
    time.sleep(0.3)
    assert ask(cf, sign(claims())).status == 200


def test_no_usable_key_fails_closed(tmp_path, jwks):
    jwks.mode = "down"
    gateway = make_gateway(tmp_path, mode="cloudflare", environ={gw_config.TEST_CERTS_URL_ENV: jwks.url},
                           cloudflare={"jwks_min_refetch_seconds": 0})
    assert ask(gateway, sign(claims())).status == 403
    jwks.mode = "ok"
    jwks.keys = []
    assert ask(gateway, sign(claims())).status == 403


def test_a_failed_fetch_at_start_up_is_retried_within_seconds(tmp_path, jwks):
    """The certs endpoint does not answer when the gateway starts (at boot the network or the name server may not be
    up yet; in the gateway scenario the endpoint double's own start): with no key at all every user is refused, so
    the next attempt comes after a second, doubling while it fails, not after jwks_min_refetch_seconds (a minute of
    403s for everyone). Once keys are held the interval holds again. The clock is the KeySet's, moved by hand."""
    jwks.mode = "down"
    gateway = make_gateway(tmp_path, mode="cloudflare", environ={gw_config.TEST_CERTS_URL_ENV: jwks.url},
                           cloudflare={"jwks_min_refetch_seconds": 60, "jwks_timeout_seconds": 1})
    keyset = gateway.verifier.keyset
    now = [1000.0]
    keyset._clock = lambda: now[0]
    assert not keyset.refresh(force=True)  # server.py's fetch at start-up
    assert jwks.fetches == 1
    assert ask(gateway, sign(claims())).status == 403
    assert jwks.fetches == 1  # not before a second has passed: a flood of tokens is not a flood of fetches
    now[0] += 1.1
    assert ask(gateway, sign(claims())).status == 403  # still down: tried again, next wait 2 s
    assert jwks.fetches == 2
    now[0] += 1.5
    assert ask(gateway, sign(claims())).status == 403
    assert jwks.fetches == 2
    jwks.mode = "ok"
    now[0] += 0.6
    assert ask(gateway, sign(claims())).status == 200
    assert jwks.fetches == 3
    # Keys held: an unknown kid costs one fetch per jwks_min_refetch_seconds again.
    now[0] += 30
    assert ask(gateway, sign(claims(), KEY_B)).status == 403
    assert ask(gateway, sign(claims(), Keys("kid-c"))).status == 403
    assert jwks.fetches == 3


def test_hanging_key_endpoint_times_out(tmp_path, jwks):
    jwks.mode = "hang"
    gateway = make_gateway(tmp_path, mode="cloudflare", environ={gw_config.TEST_CERTS_URL_ENV: jwks.url},
                           cloudflare={"jwks_timeout_seconds": 0.5})
    started = time.monotonic()
    assert ask(gateway, sign(claims())).status == 403
    assert time.monotonic() - started < 2


# -- service tokens and bypass ----------------------------------------------------------------

def service_claims(common_name="abc123.access"):
    return claims(email=None, sub="", common_name=common_name, type="app")


def test_service_token_only_where_policy_allows_service_access(cf):
    token = sign(service_claims())
    response = ask(cf, token, path="/oscar/lab/newLabUpload.do")
    assert response.status == 200 and response.header("Remote-User") == "service:abc123.access"
    assert ask(cf, token, path="/oscar/provider/providercontrol.jsp").status == 403
    assert ask(cf, sign(service_claims("unknown.access")), path="/oscar/lab/newLabUpload.do").status == 403


def test_bypass_by_network_never_for_loopback(cf):
    assert ask(cf, None, path="/oscar/ws/LoginService", ip="203.0.113.9").status == 200
    assert ask(cf, None, path="/oscar/ws/LoginService", ip="127.0.0.1").status == 403
    assert ask(cf, None, path="/oscar/provider/providercontrol.jsp", ip="203.0.113.9").status == 403


def test_service_token_and_bypass_requests_are_audited_once_a_window(cf):
    """Issue 16: a request let in by a service token or a bypass policy leaves an audit record in the chain, the first
    of each window per way in, account, address and policy, so a polling integration cannot flood the store."""
    now = [1796025600.0]
    cf.decision.unattended.clock = lambda: now[0]
    window = decision_endpoint.UNATTENDED_WINDOW_SECONDS

    def unattended():
        return cf.store.all("SELECT * FROM audit WHERE event IN (?, ?) ORDER BY id",
                            (decision_endpoint.SERVICE_TOKEN_EVENT, decision_endpoint.BYPASS_EVENT))

    token = sign(service_claims())
    for _poll in range(5):
        assert ask(cf, token, path="/oscar/lab/newLabUpload.do?file=a", ip="198.51.100.8").status == 200
    (first,) = unattended()
    assert (first["event"], first["username"], first["ip"], first["path"], first["policy"]) == (
        "access_service_token", "service:abc123.access", "198.51.100.8", "/oscar/lab/newLabUpload.do", "lab-service")
    detail = json.loads(first["detail"])
    assert detail["service_tokens"] == ["lab-uploader"] and detail["window_seconds"] == window
    # Refused tokens are denials, not uses; an unknown token is never recorded as a service-token use.
    assert ask(cf, sign(service_claims("unknown.access")), path="/oscar/lab/newLabUpload.do").status == 403
    now[0] += window - 1
    assert ask(cf, token, path="/oscar/lab/newLabUpload.do", ip="198.51.100.8").status == 200
    assert len(unattended()) == 1
    now[0] += 1  # the next window
    assert ask(cf, token, path="/oscar/lab/newLabUpload.do", ip="198.51.100.8").status == 200
    assert ask(cf, token, path="/oscar/lab/newLabUpload.do", ip="198.51.100.99").status == 200  # another address
    assert [(r["event"], r["ip"]) for r in unattended()][1:] == [
        ("access_service_token", "198.51.100.8"), ("access_service_token", "198.51.100.99")]

    for _poll in range(3):
        assert ask(cf, None, path="/oscar/ws/LoginService", ip="203.0.113.9").status == 200
    assert ask(cf, None, path="/oscar/ws/LoginService", ip="127.0.0.1").status == 403  # not a bypass: refused
    bypass = [r for r in unattended() if r["event"] == "access_bypass"]
    assert [(r["username"], r["ip"], r["path"], r["policy"]) for r in bypass] == [
        ("", "203.0.113.9", "/oscar/ws/LoginService", "integrations")]
    assert cf.store.verify_audit_chain()[1] is None


def test_gateway_only_policy_needs_mfa_shown_in_the_token(cf):
    """'reports' targets only the gateway, so Cloudflare never enforced its MFA: the token must show it."""
    assert ask(cf, sign(claims()), path="/oscar/report/x.jsp").status == 403
    assert ask(cf, sign(claims(amr=["pwd", "mfa"])), path="/oscar/report/x.jsp").status == 401  # justification


def test_justification_in_cloudflare_mode_creates_a_gateway_session(cf):
    token = sign(claims(amr=["pwd", "mfa"]))
    client = Client(cf)
    headers = {"Cf-Access-Jwt-Assertion": token}
    response = client.auth("/oscar/report/x.jsp", headers=headers)
    assert response.status == 401
    assert response.header("Location").startswith(ORIGIN + "/_gateway/justify?")
    page = client.get("/_gateway/justify", query="policy=reports&next=/oscar/report/x.jsp", headers=headers)
    response = client.post("/_gateway/justify", {"policy": "reports", "next": "/oscar/report/x.jsp",
                                                 "reason": "Monthly billing reconciliation", "csrf": csrf_of(page)},
                           headers=headers)
    assert response.status == 303
    assert client.auth("/oscar/report/x.jsp", headers=headers).status == 200
    # The gateway session is bound to the Access identity: another user's token does not inherit it.
    other = {"Cf-Access-Jwt-Assertion": sign(claims(email="privacy@clinic.test", amr=["mfa"]))}
    assert client.auth("/oscar/report/x.jsp", headers=other).status in (401, 403)
    # And without the token, the session alone is nothing.
    assert client.auth("/oscar/report/x.jsp").status == 403


def test_certs_url_override_only_on_loopback(tmp_path):
    with pytest.raises(gw_config.ConfigError):
        make_gateway(tmp_path, mode="cloudflare",
                     environ={gw_config.TEST_CERTS_URL_ENV: "https://evil.example/certs"})
    gateway = make_gateway(tmp_path, mode="cloudflare", environ={})
    assert gateway.verifier.keyset.certs_url == "https://%s/cdn-cgi/access/certs" % TEAM
