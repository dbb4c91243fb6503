"""The decision endpoint: nginx's contract, policies, and the request-interpretation bug classes.

Each test named after a vulnerability class in gateway-anchors.md section 3 fails if that class
comes back.
"""

import pytest
from gwtest import HOST, ORIGIN, Client, login, make_gateway, set_password
from gwtest import enroll_totp as enroll

ALLOWED_STATUSES = {200, 401, 403}


@pytest.fixture
def signed_in(gateway):
    """A client signed in as drsmith (physician, staff group)."""
    client = Client(gateway)
    set_password(gateway, "drsmith")
    secret = enroll(gateway, "drsmith")
    login(client, gateway, "drsmith", secret)
    return client


def test_anonymous_gets_401_with_login_location_built_by_the_server(gateway):
    response = Client(gateway).auth("/oscar/provider/providercontrol.jsp?demographic_no=12")
    assert response.status == 401
    location = response.header("Location")
    assert location.startswith(ORIGIN + "/_gateway/login?next=")
    assert "%2Foscar%2Fprovider%2Fprovidercontrol.jsp%3Fdemographic_no%3D12" in location
    assert response.header("X-Accel-Expires") == "0"
    assert response.header("Remote-User") is None


def test_signed_in_user_gets_identity_headers(gateway, signed_in):
    response = signed_in.auth("/oscar/provider/providercontrol.jsp")
    assert response.status == 200
    assert response.header("Remote-User") == "drsmith"
    assert response.header("Remote-Email") == "drsmith@clinic.test"
    assert response.header("Remote-Name") == "Dr. Ann Smith"
    assert set(response.header("Remote-Groups").split(",")) == {"physician", "staff"}


def test_default_deny_for_paths_no_policy_covers(tmp_path):
    policy = {
        "application": {"name": "OSCAR", "domain": HOST},
        "policies": [{"name": "only-oscar", "decision": "allow", "paths": ["/oscar"],
                      "include": {"everyone": True}}],
    }
    gateway = make_gateway(tmp_path, access_policy=policy)
    client = Client(gateway)
    assert client.auth("/elsewhere").status == 403
    assert client.auth("/oscarx/").status == 403  # prefixes match whole segments
    assert client.auth("/oscar/x").status == 401


def test_deny_policy_and_role_exclusion(gateway, signed_in):
    assert signed_in.auth("/oscar/admin/securityRecord.jsp").status == 403
    row = gateway.store.one("SELECT * FROM audit WHERE event = 'denied' ORDER BY id DESC LIMIT 1")
    assert row["username"] == "drsmith" and row["policy"] == "admin-pages"
    assert row["path"] == "/oscar/admin/securityRecord.jsp"


@pytest.mark.parametrize("path", [
    "/manager/html", "/MANAGER/html", "/host-manager/", "/oscar/monitoring", "/drugref2/DrugrefService",
    "/oscar/EFormViewForPdfGenerationServlet?fdid=1", "/OscarDocument/x", "/manager;x=1/html",
])
def test_blocked_paths_are_refused_even_when_signed_in(signed_in, path):
    assert signed_in.auth(path).status == 403


# -- path normalization (Authelia CVE-2021-32637, Pomerium CVE-2023-33189, heimdall CVE-2026-42274,
#    UniFi CVE-2026-34908, Malcolm CVE-2026-63177, oauth2-proxy GHSA-7rh7-c77v-6434 / GHSA-pxq7-h93f-9jrg)

@pytest.mark.parametrize("raw", [
    "/oscar/../manager/html",
    "/oscar/..;/manager/html",
    "/oscar/%2e%2e/manager/html",
    "/oscar/%2E%2E/manager/html",
    "/oscar/..%2fmanager/html",
    "/oscar/..%2Fmanager/html",
    "/oscar/%252e%252e/manager",
    "/oscar//../manager",
    "/oscar/./../manager",
    "/oscar\\..\\manager",
    "/oscar/;/../manager",
    "/oscar/x%00.jsp",
    "/oscar/x%0d%0aSet-Cookie:a=b",
    "/oscar/ws%23/../../manager",
    "/oscar/ws#/../../manager",
    "//evil.example/oscar/",
    "/oscar/%2fmanager",
    "/oscar/%5c../manager",
])
def test_path_normalization_ambiguities_are_refused(signed_in, raw):
    """Anything nginx and Tomcat could read differently is a 403 for the gateway, never a 200."""
    response = signed_in.auth(raw)
    assert response.status == 403, raw


def test_decision_ignores_query_string_for_path_rules(gateway):
    """oauth2-proxy GHSA-7rh7-c77v-6434: a rule path inside the query must not widen access."""
    client = Client(gateway, ip="203.0.113.9")  # an integration source, bypass on /oscar/ws
    assert client.auth("/oscar/ws/LoginService").status == 200
    assert client.auth("/oscar/provider/providercontrol.jsp?x=/oscar/ws").status == 401
    assert client.auth("/oscar/admin?path=/oscar/ws").status == 401


def test_jsessionid_suffix_is_decided_like_tomcat(signed_in):
    assert signed_in.auth("/oscar/provider/providercontrol.jsp;jsessionid=ABC123").status == 200
    assert signed_in.auth("/oscar/admin/x.jsp;jsessionid=ABC123").status == 403


def test_original_url_for_another_host_or_scheme_is_refused(signed_in):
    for url in ("https://evil.example/oscar/", "http://%s/oscar/" % HOST, "https://%s:8443/oscar/" % HOST,
                "https://user@%s/oscar/" % HOST, "/oscar/", "", "https://%s:abc/oscar/" % HOST,
                "https://[::1/oscar", "https://%s:99999/oscar/" % HOST):
        response = signed_in.request("GET", "/auth", {"X-Original-URL": url})
        assert response.status == 403, url


# -- forwarded headers (oauth2-proxy CVE-2026-40575, #3506, Ory GHSA-vhr5-ggp3-qq85, Gogs GHSA-w6j9-vw59-27wv)

def test_forwarded_for_list_is_not_trusted(gateway):
    """nginx overwrites X-Forwarded-For with one address; a list means a client appended to it."""
    client = Client(gateway, ip=None)
    response = client.auth("/oscar/ws/LoginService", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
    assert response.status == 403


def test_no_client_address_fails_closed(gateway):
    client = Client(gateway, ip=None)
    assert client.auth("/oscar/ws/LoginService").status == 403
    assert Client(gateway, ip="not-an-ip").auth("/oscar/ws/x").status == 403


def test_bypass_only_for_listed_networks_and_never_loopback(gateway):
    assert Client(gateway, ip="203.0.113.9").auth("/oscar/ws/LoginService").status == 200
    assert Client(gateway, ip="198.51.100.7").auth("/oscar/ws/LoginService").status == 401
    for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert Client(gateway, ip=ip).auth("/oscar/ws/LoginService").status in (401, 403), ip
    # The bypass is path-scoped: the integration source gets nothing else without a login.
    assert Client(gateway, ip="203.0.113.9").auth("/oscar/provider/providercontrol.jsp").status == 401


def test_client_supplied_identity_headers_are_ignored(gateway):
    """Gogs GHSA-w6j9-vw59-27wv: Remote-User from the client is never an identity."""
    client = Client(gateway)
    response = client.auth("/oscar/", headers={"Remote-User": "drsmith", "X-Forwarded-User": "drsmith",
                                               "Remote-Email": "drsmith@clinic.test"})
    assert response.status == 401


def test_magic_user_agent_gives_nothing(gateway):
    """oauth2-proxy CVE-2026-34457: no health-check User-Agent or similar shortcut."""
    for agent in ("kube-probe/1.29", "ELB-HealthChecker/2.0", "GoogleHC/1.0", "nginx"):
        assert Client(gateway).auth("/oscar/", headers={"User-Agent": agent}).status == 401


# -- fail closed (authentik CVE-2026-25748)

@pytest.mark.parametrize("cookie", [
    "__Host-oscar-gw=", "__Host-oscar-gw=garbage", "__Host-oscar-gw=" + "A" * 43 + "." + "0" * 32,
    "__Host-oscar-gw=%00%ff", "__Host-oscar-gw=" + "x" * 9000, "__Host-oscar-gw=a.b.c",
])
def test_malformed_session_cookie_is_not_a_session(gateway, cookie):
    response = Client(gateway).auth("/oscar/", headers={"Cookie": cookie})
    assert response.status == 401
    assert response.header("Remote-User") is None


def test_exception_inside_the_decision_is_a_403(gateway, signed_in, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(gateway.evaluator, "decide", broken)
    response = signed_in.auth("/oscar/")
    assert response.status == 403
    assert response.header("Remote-User") is None


def test_only_200_401_403_from_auth_for_odd_requests(gateway):
    client = Client(gateway)
    odd = [
        {"X-Original-URL": None}, {"X-Original-Method": "G E T"}, {"X-Original-Method": "x" * 40},
        {"X-Original-URL": ORIGIN + "/" + "a" * 9000}, {"X-Original-URL": ORIGIN + "/\udcff"},
        {"Cookie": "a=b; a=c; __Host-oscar-gw=1; __Host-oscar-gw=2"},
    ]
    for headers in odd:
        merged = {"X-Original-URL": ORIGIN + "/oscar/"}
        merged.update(headers)
        assert client.request("GET", "/auth", merged).status in ALLOWED_STATUSES


def test_duplicate_session_cookies_are_refused(gateway, signed_in):
    good = signed_in.jar["__Host-oscar-gw"]
    response = Client(gateway).auth("/oscar/", headers={"Cookie": "__Host-oscar-gw=%s; __Host-oscar-gw=%s"
                                                        % (good, good)})
    assert response.status == 401


def test_tampered_session_cookie_is_rejected(gateway, signed_in):
    good = signed_in.jar["__Host-oscar-gw"]
    token, _sep, signature = good.partition(".")
    flipped = ("A" if token[0] != "A" else "B") + token[1:]
    for value in (flipped + "." + signature, token + "." + ("0" if signature[0] != "0" else "1") + signature[1:],
                  token, token + "." + signature.upper()):
        response = Client(gateway).auth("/oscar/", headers={"Cookie": "__Host-oscar-gw=" + value})
        assert response.status == 401, value
    assert Client(gateway).auth("/oscar/", headers={"Cookie": "__Host-oscar-gw=" + good}).status == 200


def test_navigation_is_audited_without_query_strings(gateway, signed_in):
    signed_in.auth("/oscar/demographic/demographiccontrol.jsp?demographic_no=4711&name=DOE",
                   headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    row = gateway.store.one("SELECT * FROM audit WHERE event = 'access' ORDER BY id DESC LIMIT 1")
    assert row["path"] == "/oscar/demographic/demographiccontrol.jsp"
    assert row["ip"] == "198.51.100.7"
    assert "4711" not in open(gateway.cfg["audit_jsonl"]).read()


def test_cache_hint_only_for_allowed_background_requests(tmp_path):
    gateway = make_gateway(tmp_path, decision_cache={"max_age_seconds": 5})
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll(gateway, "drsmith"))
    xhr = client.auth("/oscar/ws/rs/status", headers={"X-Requested-With": "XMLHttpRequest"})
    assert xhr.status == 200 and xhr.header("X-Accel-Expires") == "5"
    nav = client.auth("/oscar/", headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    assert nav.header("X-Accel-Expires") == "0"  # audited, so not cached
    assert Client(gateway).auth("/oscar/").header("X-Accel-Expires") == "0"
