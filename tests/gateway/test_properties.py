"""Property-based tests of the decision endpoint: whatever arrives, the answer is 200, 401 or 403,
and never 200 without a valid session (standalone) or Access token (Cloudflare), apart from the
inventory's bypass for its listed integration network on its listed path."""

import ipaddress

import pytest
from gwtest import ORIGIN, Client, enroll_totp, login, make_gateway, set_password
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oscar_gateway import _shared
from oscar_gateway import config as gw_config

BYPASS_NET = ipaddress.ip_network("203.0.113.0/24")
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

SEGMENTS = ["oscar", "ws", "admin", "manager", "..", ".", "", "%2e%2e", "%2f", ";", ";jsessionid=AB", "%00",
            "provider", "providercontrol.jsp", "lab", "report", "sensitive", "monitoring", "..;", "%252e",
            "\\", "#", "%23", "%5c", "é", "%C3%A9", "drugref2", "EFormViewForPdfGenerationServlet", "gateway",
            "auth", "%0d%0a", "?", "&", "=", "x" * 50]
path_strategy = st.one_of(
    st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=8).map(lambda parts: "/" + "/".join(parts)),
    st.text(min_size=0, max_size=60),
    st.text(alphabet="/.%;\\#?oscarw2eEfF0ad", min_size=0, max_size=40),
)
ip_strategy = st.one_of(
    st.sampled_from(["198.51.100.7", "203.0.113.9", "127.0.0.1", "::1", "::ffff:203.0.113.9", "0.0.0.0",
                     "203.0.113.9, 198.51.100.7", "", "localhost", "fe80::1%eth0"]),
    st.ip_addresses().map(str),
    st.text(max_size=20),
)
header_value = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
    ["navigate", "document", "XMLHttpRequest", "text/html", "same-origin", "cross-site", "GET", "POST"]))


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    gateway = make_gateway(tmp_path_factory.mktemp("prop"))
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    return gateway, client.jar["__Host-oscar-gw"]


def bypassed(gateway, raw_path, ip):
    """True when the inventory's bypass legitimately admits this request without a login."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if address not in BYPASS_NET:
        return False
    try:
        path = _shared.oscar_paths_module().normalize_target(ORIGIN + raw_path).decision_path
    except ValueError:
        return False
    return path == "/oscar/ws" or path.startswith("/oscar/ws/")


@SETTINGS
@given(path=path_strategy, ip=ip_strategy, method=header_value, cookie=st.one_of(
    st.none(), st.text(max_size=80), st.just("valid"), st.just("tampered"), st.just("twice")),
    fetch_mode=header_value, requested_with=header_value, forwarded=st.one_of(st.none(), ip_strategy),
    remote_user=header_value, original_url=st.one_of(st.none(), st.text(max_size=40)))
def test_standalone_never_errors_and_never_allows_without_a_session(
        standalone, path, ip, method, cookie, fetch_mode, requested_with, forwarded, remote_user, original_url):
    gateway, good = standalone
    token, _sep, signature = good.partition(".")
    cookies = {
        None: None, "valid": "__Host-oscar-gw=" + good,
        "tampered": "__Host-oscar-gw=%s.%s" % (token[::-1], signature),
        "twice": "__Host-oscar-gw=%s; __Host-oscar-gw=%s" % (good, good),
    }
    cookie_header = cookies.get(cookie, None if cookie is None else "__Host-oscar-gw=" + cookie)
    headers = {
        "X-Original-URL": original_url if original_url is not None else ORIGIN + path,
        "X-Original-Method": method, "Cookie": cookie_header, "Sec-Fetch-Mode": fetch_mode,
        "X-Requested-With": requested_with, "X-Forwarded-For": forwarded, "Remote-User": remote_user,
    }
    client = Client(gateway, ip=ip if ip else None)
    try:
        response = client.request("GET", "/auth", {k: v for k, v in headers.items() if v is not None})
    except UnicodeEncodeError:
        return  # not representable in a WSGI environ (nginx never sends it)
    assert response.status in (200, 401, 403)
    if response.status == 200:
        has_session = cookie == "valid"
        assert has_session or (original_url is None and bypassed(gateway, path, ip)), (path, ip, cookie)
    if response.status != 200:
        assert response.header("Remote-User") is None
    if response.status == 401:
        assert response.header("Location").startswith(ORIGIN + "/_gateway/")


@pytest.fixture(scope="module")
def cloudflare(tmp_path_factory):
    # Nothing listens on port 9 of loopback: every key fetch fails at once, so no token can verify.
    return make_gateway(tmp_path_factory.mktemp("propcf"), mode="cloudflare",
                        environ={gw_config.TEST_CERTS_URL_ENV: "http://127.0.0.1:9/certs"},
                        cloudflare={"jwks_min_refetch_seconds": 3600, "jwks_timeout_seconds": 0.2})


jwt_like = st.one_of(
    st.text(max_size=60),
    st.tuples(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40),
              st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60),
              st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40))
    .map(".".join),
    st.sampled_from(["eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", ""]),
)


@SETTINGS
@given(path=path_strategy, ip=ip_strategy, token=st.one_of(st.none(), jwt_like), cookie=st.one_of(
    st.none(), st.text(max_size=60)))
def test_cloudflare_never_errors_and_never_allows_without_a_token(cloudflare, path, ip, token, cookie):
    headers = {"X-Original-URL": ORIGIN + path, "Cf-Access-Jwt-Assertion": token,
               "Cookie": None if cookie is None else "CF_Authorization=" + cookie}
    client = Client(cloudflare, ip=ip if ip else None)
    try:
        response = client.request("GET", "/auth", {k: v for k, v in headers.items() if v is not None})
    except UnicodeEncodeError:
        return
    assert response.status in (200, 403)  # no login page at the origin in Cloudflare mode
    if response.status == 200:
        assert bypassed(cloudflare, path, ip), (path, ip)
