"""End to end on loopback: real nginx (Debian's), the gateway on a UNIX socket under waitress, the
OSCAR stand-in. Each vulnerability class of gateway-anchors.md section 3 is exercised through nginx
the way an attacker would send it."""

import re
import sqlite3
import time

import pyotp
import pytest
from gwtest import PASSWORD, base_config, write_secrets
from oscar_gateway import config as gw_config
from oscar_gateway import security
from stack import HOST, Browser, Stack, TunnelBrowser, ensure_nginx
from test_cloudflare import KEY_A, JwksServer, claims, raw_token, sign

pytestmark = pytest.mark.integration
ORIGIN = "https://" + HOST


def _nginx_or_skip():
    try:
        ensure_nginx()
    except RuntimeError as exc:
        pytest.skip("real nginx needed: %s" % exc)


def gateway_config(tmp, mode="standalone", **extra):
    cfg = base_config(tmp, mode, **extra)
    cfg["listen"] = {"unix_socket": str(tmp / ("%s.sock" % mode)), "auth_socket": str(tmp / ("%s-auth.sock" % mode)),
                     "socket_mode": "0660"}
    cfg["database"] = str(tmp / ("%s.db" % mode))
    cfg["audit_jsonl"] = str(tmp / ("%s-audit.jsonl" % mode))
    cfg["secrets_file"] = str(tmp / ("%s-secrets.json" % mode))
    write_secrets(cfg["secrets_file"])
    if mode == "standalone":
        hasher = security.Passwords(**cfg["login"]["argon2"])
        for user in cfg["users"]:
            user["password_hash"] = hasher.hash(PASSWORD)
    return cfg


def give_totp(cfg, username):
    keys = gw_config.load_secrets(cfg["secrets_file"])
    box = security.SecretBox(keys["data_key"])
    secret = security.new_totp_secret()
    conn = sqlite3.connect(cfg["database"])
    conn.execute("UPDATE users SET totp_secret = ?, totp_last_step = 0 WHERE username = ?",
                 (box.seal(secret, "totp:" + username), username))
    conn.commit()
    conn.close()
    return secret


def csrf(text):
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def sign_in(browser, cfg, username, next_path="/oscar/provider/providercontrol.jsp"):
    secret = give_totp(cfg, username)
    page = browser.get("/_gateway/login?next=" + next_path)
    assert page.status == 200
    response = browser.post_form("/_gateway/login", {"username": username, "password": PASSWORD,
                                                     "csrf": csrf(page.text), "next": next_path})
    assert response.status == 303, response.text
    assert response.getheader("Location") == ORIGIN + "/_gateway/mfa"
    page = browser.get("/_gateway/mfa")
    response = browser.post_form("/_gateway/mfa", {"code": pyotp.TOTP(secret).now(), "csrf": csrf(page.text)})
    assert response.status == 303, response.text
    assert response.getheader("Location") == ORIGIN + next_path
    return response


@pytest.fixture(scope="module")
def jwks():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, jwks):
    _nginx_or_skip()
    tmp = tmp_path_factory.mktemp("nginx")
    configs = {"sa": gateway_config(tmp), "cf": gateway_config(tmp, "cloudflare")}
    tunnel = tmp / "tunnel"
    tunnel.mkdir(mode=0o750)
    running = Stack(tmp / "stack", configs, gateway_env={gw_config.TEST_CERTS_URL_ENV: jwks.url},
                    nginx_variables={"nginx_blocked_paths_extra": ["/oscar/private"],
                                     "nginx_integration_sources": ["203.0.113.0/24"]},
                    per_gateway={"sa": {"nginx_tunnel_socket": str(tunnel / "tunnel.sock")}}).start()
    running.tunnel_socket = str(tunnel / "tunnel.sock")
    running.configs = configs
    yield running
    running.stop()


def seen_paths(stack):
    return [r["path"] for r in stack.requests_seen()]


def test_anonymous_is_sent_to_login_and_nothing_reaches_oscar(stack):
    before = len(stack.requests_seen())
    response = Browser(stack.ports["sa"]).get("/oscar/provider/providercontrol.jsp?demographic_no=7")
    assert response.status == 302
    assert response.getheader("Location") == (
        ORIGIN + "/_gateway/login?next=%2Foscar%2Fprovider%2Fprovidercontrol.jsp%3Fdemographic_no%3D7")
    assert len(stack.requests_seen()) == before


def test_login_with_totp_through_nginx_and_identity_reaches_oscar(stack):
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "drsmith")
    cookie = next(v for k, v in browser.jar.items() if k == "__Host-oscar-gw")
    assert cookie
    page = browser.get("/oscar/demographic/search.jsp", {"Sec-Fetch-Mode": "navigate",
                                                         "Sec-Fetch-Dest": "document"})
    assert page.status == 200 and '"reached": "oscar-standin"' in page.text
    seen = stack.requests_seen()[-1]
    assert seen["headers"]["Remote-User"] == "drsmith"
    assert seen["headers"]["Remote-Email"] == "drsmith@clinic.test"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"


def test_spoofed_forwarding_and_identity_headers_change_nothing(stack):
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "reception")
    spoof = {"Remote-User": "privacy", "Remote-Groups": "admin", "X-Forwarded-For": "203.0.113.9",
             "X-Real-IP": "203.0.113.9", "X_Real_IP": "203.0.113.9", "X-Original-URL": ORIGIN + "/oscar/ws/x",
             "X-Original-Method": "GET", "Forwarded": "for=203.0.113.9"}
    page = browser.get("/oscar/demographic/search.jsp", spoof)
    assert page.status == 200
    seen = stack.requests_seen()[-1]["headers"]
    assert seen["Remote-User"] == "reception" and seen["Remote-Groups"] == "clerk,staff"
    assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Real-IP"] == "127.0.0.1"
    assert "X_Real_IP" not in seen and "X-Original-URL" not in seen
    # Anonymous, pretending to be the integration network: no bypass (nginx refuses web services to anyone but the
    # inventory's integration sources), no admin page.
    anonymous = Browser(stack.ports["sa"])
    before = len(stack.requests_seen())
    assert anonymous.get("/oscar/ws/LoginService", spoof).status == 403
    assert len(stack.requests_seen()) == before
    assert anonymous.get("/oscar/admin/admin.jsp", spoof).status == 302
    assert browser.get("/oscar/admin/admin.jsp", spoof).status == 403


@pytest.mark.parametrize("raw", [
    "/oscar/../manager/html", "/oscar/..;/manager/html", "/oscar/%2e%2e/manager/html", "/oscar/%2E%2E/manager/html",
    "/oscar/..%2fmanager/html", "/oscar/%252e%252e/manager/html", "/oscar//..//manager/html",
    "/oscar/;/../manager", "/oscar\\..\\manager", "/oscar/EFormViewForPdfGenerationServlet?fdid=1",
    "/oscar/./monitoring", "/Oscar/../MANAGER/html", "/oscar/%00/x", "/oscar/x%0d%0aX-Injected:%201",
])
def test_path_tricks_never_reach_tomcat(stack, raw):
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "privacy")
    before = len(stack.requests_seen())
    response = browser.get(raw)
    assert response.status in (400, 403, 404), (raw, response.status)
    assert len(stack.requests_seen()) == before


def test_open_redirect_through_nginx(stack):
    browser = Browser(stack.ports["sa"])
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "/%2F%2Fevil.example"):
        page = browser.get("/_gateway/login?next=" + target.replace("/", "%2F").replace("\\", "%5C"))
        assert 'name="next" value="/oscar/"' in page.text, target
    for path in ("//evil.example/oscar/", "/oscar/x?next=https://evil.example"):
        response = Browser(stack.ports["sa"]).get(path)
        location = response.getheader("Location") or ""
        assert response.status in (302, 400) and (not location or location.startswith(ORIGIN + "/")), path


def test_csrf_and_tampered_cookie_through_nginx(stack):
    browser = Browser(stack.ports["sa"])
    browser.get("/_gateway/login")
    response = browser.post_form("/_gateway/login", {"username": "drsmith", "password": PASSWORD})
    assert response.status == 403
    response = browser.post_form("/_gateway/login", {"username": "drsmith", "password": PASSWORD,
                                                     "csrf": "x" * 64}, {"Origin": "https://evil.example"})
    assert response.status == 403
    sign_in(browser, stack.configs["sa"], "drsmith")
    token, _sep, signature = browser.jar["__Host-oscar-gw"].partition(".")
    browser.jar["__Host-oscar-gw"] = token[:-1] + ("A" if token[-1] != "A" else "B") + "." + signature
    assert browser.get("/oscar/demographic/search.jsp").status == 302


def test_session_fixation_through_nginx(stack):
    attacker = Browser(stack.ports["sa"])
    sign_in(attacker, stack.configs["sa"], "locum")
    planted = attacker.jar["__Host-oscar-gw"]
    victim = Browser(stack.ports["sa"])
    victim.jar["__Host-oscar-gw"] = planted
    sign_in(victim, stack.configs["sa"], "drsmith")
    assert victim.jar["__Host-oscar-gw"] != planted
    assert victim.get("/oscar/demographic/search.jsp").status == 200
    assert stack.requests_seen()[-1]["headers"]["Remote-User"] == "drsmith"
    # The planted id was ended by the victim's login: the attacker holds nothing usable.
    assert attacker.get("/oscar/demographic/search.jsp").status == 302


def test_cloudflare_mode_through_nginx(stack):
    port = stack.ports["cf"]
    browser = Browser(port)
    assert browser.get("/oscar/demographic/search.jsp").status == 403
    assert browser.get("/oscar/", {"Cookie": "CF_Authorization=" + sign(claims())}).status == 403
    none_token = raw_token({"alg": "none", "kid": KEY_A.kid}, claims())
    assert browser.get("/oscar/", {"Cf-Access-Jwt-Assertion": none_token}).status == 403
    assert browser.get("/oscar/", {"Cf-Access-Jwt-Assertion": sign(claims(aud=["nope-nope-nope"]))}).status == 403
    assert browser.get("/oscar/", {"Cf-Access-Jwt-Assertion": sign(claims(exp=int(time.time()) - 300))}).status \
        == 403
    page = browser.get("/oscar/demographic/search.jsp", {"Cf-Access-Jwt-Assertion": sign(claims())})
    assert page.status == 200
    seen = stack.requests_seen()[-1]["headers"]
    assert seen["Remote-Email"] == "drsmith@clinic.test" and seen["Remote-User"] == "drsmith"
    # A request "from the integration network" through the local tunnel is still loopback: no bypass.
    assert Browser(port).get("/oscar/ws/LoginService", {"X-Forwarded-For": "203.0.113.9"}).status == 403


# --- issue 12: what an attacker found against the role's rendered configuration ----------------------------------


def test_a_second_access_token_header_is_refused(stack):
    """Finding 1: two Cf-Access-Jwt-Assertion headers reach the gateway joined by a comma; refuse any such request."""
    port = stack.ports["cf"]
    good = sign(claims())
    assert Browser(port).get("/oscar/", {"Cf-Access-Jwt-Assertion": good}).status == 200
    before = len(stack.requests_seen())
    for second in ("==", "", "junk", good):
        twice = [("Cf-Access-Jwt-Assertion", good), ("Cf-Access-Jwt-Assertion", second)]
        assert Browser(port).get("/oscar/", twice).status == 403, second
    assert len(stack.requests_seen()) == before


@pytest.mark.parametrize("loosen", [
    lambda t: t + "==",
    lambda t: t + "==,!!",
    lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "=",
    lambda t: t + ".",
], ids=["padding", "junk-after-padding", "standard-alphabet", "fourth-segment"])
def test_an_access_token_that_is_not_strict_base64url_is_refused(stack, loosen):
    """Finding 1: only header.payload.signature in strict base64url (no padding, no other characters) is a token."""
    token = loosen(sign(claims()))
    before = len(stack.requests_seen())
    assert Browser(stack.ports["cf"]).get("/oscar/", {"Cf-Access-Jwt-Assertion": token}).status == 403
    assert len(stack.requests_seen()) == before


@pytest.mark.parametrize("spelling", [
    "/oscar/ADMIN/admin.jsp", "/oscar/Admin/admin.jsp", "/oscar/%41dmin/admin.jsp", "/oscar/%61dmin/admin.jsp",
    "/oscar/admin./admin.jsp", "/oscar/admin%20/admin.jsp", "/oscar/admin.%20./admin.jsp", "/oscar/admin",
    "/oscar/ADMIN", "/oscar/admin.", "/oscar/admin%20", "/oscar/admin;jsessionid=abc",
])
def test_a_gateway_deny_holds_for_every_spelling_tomcat_could_resolve(stack, spelling):
    """Finding 3: a deny on /oscar/admin holds whatever the letter case, %-escapes or trailing dots and spaces."""
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "drsmith")
    before = len(stack.requests_seen())
    assert browser.get(spelling).status in (400, 403), spelling
    assert len(stack.requests_seen()) == before


@pytest.mark.parametrize("spelling", [
    "/oscar/private", "/oscar/PRIVATE/x.jsp", "/oscar/%50rivate/x.jsp", "/oscar/private./x.jsp",
    "/oscar/private%20/x.jsp", "/oscar/private.%20", "/oscar/monitoring.", "/oscar/monitoring%20/x",
    "/manager%20/html", "/manager./html",
])
def test_nginx_blocked_paths_hold_for_every_spelling_tomcat_could_resolve(stack, spelling):
    """Finding 3, nginx side: the blocked list canonicalises as the gateway does."""
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "privacy")
    before = len(stack.requests_seen())
    assert browser.get(spelling).status in (400, 404), spelling
    assert len(stack.requests_seen()) == before


def test_similar_names_are_not_caught_by_the_canonical_form(stack):
    """The canonical form folds only what Tomcat could resolve to the same name: /oscar/administration is not it."""
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "drsmith")
    assert browser.get("/oscar/administration.jsp").status == 200
    assert browser.get("/oscar/privateer.jsp").status == 200


def test_the_gateways_cookies_never_reach_oscar(stack):
    """Finding 5: the gateway's session, login and form cookies are cut from the Cookie header towards Tomcat;
    OSCAR's own cookies stay."""
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "drsmith")
    browser.jar["JSESSIONID"] = "ABC123"
    browser.jar["__Host-oscar-gw-csrf"] = "planted"
    browser.jar["oscar_pref"] = "x=1"
    assert browser.get("/oscar/demographic/search.jsp").status == 200
    seen = {k.lower(): v for k, v in stack.requests_seen()[-1]["headers"].items()}
    cookie = seen.get("cookie", "")
    assert "oscar-gw" not in cookie, cookie
    assert sorted(part.strip() for part in cookie.split(";")) == ["JSESSIONID=ABC123", "oscar_pref=x=1"]
    # Only gateway cookies: no Cookie header at all.
    only_gateway = Browser(stack.ports["sa"])
    sign_in(only_gateway, stack.configs["sa"], "reception")
    assert only_gateway.get("/oscar/demographic/search.jsp").status == 200
    seen = {k.lower(): v for k, v in stack.requests_seen()[-1]["headers"].items()}
    assert "oscar-gw" not in seen.get("cookie", "")
    # More gateway cookies than the gateway ever sets: refused rather than passed on.
    before = len(stack.requests_seen())
    many = "; ".join("__Host-oscar-gw-x%d=1" % n for n in range(5))
    assert only_gateway.get("/oscar/demographic/search.jsp", {"Cookie": many}).status == 400
    assert len(stack.requests_seen()) == before


@pytest.mark.parametrize("path", ["/oscar/ws", "/oscar/WS", "/oscar/ws;jsessionid=abc", "/oscar/ws/"])
def test_bare_web_service_path_is_a_web_service(stack, path):
    """Finding 6: CXF is mapped to /ws/* (oscar-facts), which serves the bare /ws too: integration sources only."""
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "privacy")
    before = len(stack.requests_seen())
    assert browser.get(path).status == 403, path
    assert len(stack.requests_seen()) == before


def test_only_the_tunnel_socket_may_name_the_client(stack):
    """Finding 2: any local process can send CF-Connecting-IP over loopback; only the tunnel's own entrance (a UNIX
    socket only the connector's group can enter) is believed. The bypass for 203.0.113.0/24 on /oscar/ws and nginx's
    integration sources both rest on that address."""
    path = "/oscar/ws/SystemInfoService?local-process"
    before = len(stack.requests_seen())
    assert Browser(stack.ports["sa"]).get(path, {"CF-Connecting-IP": "203.0.113.9"}).status == 403
    assert len(stack.requests_seen()) == before
    path = "/oscar/ws/SystemInfoService?connector"
    response = TunnelBrowser(stack.tunnel_socket).get(path, {"CF-Connecting-IP": "203.0.113.9"})
    assert response.status == 200
    seen = stack.requests_seen()[-1]
    assert seen["path"].endswith("connector") and seen["headers"]["X-Forwarded-For"] == "203.0.113.9"
    assert "CF-Connecting-IP" not in seen["headers"]


def test_nginx_redirects_through_the_tunnel_keep_the_browsers_https(stack):
    """The tunnel socket is plain HTTP (cloudflared's origin unix:<path>) behind Cloudflare's HTTPS: nginx's own
    redirects must not name a scheme, or the browser is sent to http://. Over the HTTPS listener too."""
    for browser in (TunnelBrowser(stack.tunnel_socket), Browser(stack.ports["sa"])):
        for path in ("/", "/oscar"):
            response = browser.get(path)
            assert response.status == 302 and response.getheader("Location") == "/oscar/", (
                path, response.status, response.getheader("Location"))


def test_a_long_query_gets_the_sign_in_page_and_back_not_an_error(stack):
    """Finding 4: a ~4 KB query made the sign-in redirect too big for nginx (500). The target is kept server-side,
    the redirect stays short, and after sign-in the browser is back on the page it asked for."""
    target = "/oscar/demographic/search.jsp?keyword=" + "a%20b" * 1200
    browser = Browser(stack.ports["sa"])
    response = browser.get(target)
    assert response.status == 302, response.status
    location = response.getheader("Location")
    assert location.startswith(ORIGIN + "/_gateway/login?next=") and len(location) < 200, location
    page = browser.get(location[len(ORIGIN):])
    assert page.status == 200 and ('name="next" value="%s"' % target) in page.text
    secret = give_totp(stack.configs["sa"], "drsmith")
    response = browser.post_form("/_gateway/login", {"username": "drsmith", "password": PASSWORD,
                                                     "csrf": csrf(page.text), "next": target})
    assert response.status == 303, response.status
    page = browser.get("/_gateway/mfa")
    response = browser.post_form("/_gateway/mfa", {"code": pyotp.TOTP(secret).now(), "csrf": csrf(page.text)})
    assert response.status == 303 and response.getheader("Location") == ORIGIN + target
    assert browser.get(target).status == 200


def test_an_unknown_or_expired_target_id_gives_the_default_page(stack):
    page = Browser(stack.ports["sa"]).get("/_gateway/login?next=~" + "A" * 22)
    assert page.status == 200 and 'name="next" value="/oscar/"' in page.text


@pytest.mark.parametrize("fields", [21, 200])
def test_too_many_query_or_form_fields_are_a_bad_request(stack, fields):
    """Finding 4: more than 20 query or form fields gave 500; they are the client's mistake (400)."""
    browser = Browser(stack.ports["sa"])
    query = "&".join("f%d=1" % n for n in range(fields))
    assert browser.get("/_gateway/login?" + query).status == 400
    page = browser.get("/_gateway/login")
    form = dict(("f%d" % n, "1") for n in range(fields))
    form["csrf"] = csrf(page.text)
    assert browser.post_form("/_gateway/login", form).status == 400


@pytest.mark.parametrize("request_id", ["1" * 30, "-" + "9" * 30, "9223372036854775808", "1e5", "0x10", " 7"])
def test_an_out_of_range_request_id_on_the_approvals_page_is_a_bad_request(stack, request_id):
    """Finding 4: a 30-digit request id overflowed SQLite's integer (500); ids are 1 to 18 digits, else 400."""
    # A request waiting for the privacy officer, so the approvals page has a form (and a form token).
    requester = Browser(stack.ports["sa"])
    sign_in(requester, stack.configs["sa"], "reception")
    target = "/oscar/sensitive/chart.jsp"
    page = requester.get("/_gateway/justify?policy=sensitive&next=" + target)
    assert requester.post_form("/_gateway/justify", {"policy": "sensitive", "next": target, "csrf": csrf(page.text),
                                                     "reason": "Following up a complaint"}).status == 303
    page = requester.get("/_gateway/approval?policy=sensitive&next=" + target)
    requester.post_form("/_gateway/approval", {"policy": "sensitive", "next": target, "csrf": csrf(page.text)})
    browser = Browser(stack.ports["sa"])
    sign_in(browser, stack.configs["sa"], "privacy")
    page = browser.get("/_gateway/approvals")
    assert page.status == 200 and 'name="request_id"' in page.text
    response = browser.post_form("/_gateway/approvals", {"request_id": request_id, "decision": "approve",
                                                         "csrf": csrf(page.text)})
    assert response.status == 400, (request_id, response.status)


@pytest.fixture(scope="module")
def cached_stack(tmp_path_factory, jwks):
    _nginx_or_skip()
    tmp = tmp_path_factory.mktemp("nginxcache")
    configs = {"sa": gateway_config(tmp, decision_cache={"max_age_seconds": 2}),
               "cf": gateway_config(tmp, "cloudflare", decision_cache={"max_age_seconds": 2})}
    running = Stack(tmp / "stack", configs, cache_ttl=2, gateway_env={gw_config.TEST_CERTS_URL_ENV: jwks.url}).start()
    running.configs = configs
    yield running
    running.stop()


def test_decision_cache_bounds_revocation_delay(cached_stack):
    browser = Browser(cached_stack.ports["sa"])
    sign_in(browser, cached_stack.configs["sa"], "drsmith")
    xhr = {"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert browser.get("/oscar/ws/rs/messages", xhr).status == 200
    # The key holds the path: a cached allow never answers for another path (in the auth
    # subrequest $uri is the internal location, so a key on $uri would be a bypass).
    assert browser.get("/oscar/admin/admin.jsp", xhr).status == 403
    conn = sqlite3.connect(cached_stack.configs["sa"]["database"])
    conn.execute("UPDATE sessions SET revoked_at = ?", (time.time(),))
    conn.commit()
    conn.close()
    # Background request: served from the auth cache (the session is revoked, so only the cache can allow it) for at
    # most the TTL; a navigation is never cached.
    assert browser.get("/oscar/ws/rs/messages", xhr).status == 200
    assert browser.get("/oscar/demographic/search.jsp", {"Sec-Fetch-Mode": "navigate",
                                                         "Sec-Fetch-Dest": "document"}).status == 302
    time.sleep(3.2)  # nginx counts whole seconds: an entry lives up to TTL + 1 s
    assert browser.get("/oscar/ws/rs/messages", xhr).status == 302
    # Another visitor never gets a cached decision.
    assert Browser(cached_stack.ports["sa"]).get("/oscar/ws/rs/messages", xhr).status == 302


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-then-other", "other-then-valid"])
def test_a_second_access_token_header_is_refused_with_the_decision_cache_on(cached_stack, valid_first):
    """Finding 1 with the cache on: nginx 1.22's $http_cf_access_jwt_assertion holds only the first header line. An
    allow cached for a token alone must never answer a request that carries it with a second assertion, in either
    order; the gateway refuses those, so nothing may reach OSCAR."""
    port = cached_stack.ports["cf"]
    xhr = [("X-Requested-With", "XMLHttpRequest"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Dest", "empty")]
    good = sign(claims())
    path = "/oscar/ws/rs/messages?valid_first=%s" % valid_first
    for _visit in range(2):  # the second answer may come from the cache (on nginx that keys on every line)
        assert Browser(port).request("GET", path, [*xhr, ("Cf-Access-Jwt-Assertion", good)]).status == 200
    before = len(cached_stack.requests_seen())
    for other in ("junk", "", sign(claims(email="reception@clinic.test"))):
        pair = [good, other] if valid_first else [other, good]
        headers = xhr + [("Cf-Access-Jwt-Assertion", value) for value in pair]
        assert Browser(port).request("GET", path, headers).status == 403, pair
    assert len(cached_stack.requests_seen()) == before


def test_the_access_token_never_reaches_oscar(cached_stack):
    """The Access token is a bearer credential for the clinic's application, in a header and in Cloudflare's
    CF_Authorization cookie: the gateway verifies it, OSCAR (and Tomcat's logs) never see it; OSCAR's own cookie
    still arrives."""
    token = sign(claims())
    headers = [("Cf-Access-Jwt-Assertion", token),
               ("Cookie", "CF_Authorization=%s; JSESSIONID=abc123" % token)]
    response = Browser(cached_stack.ports["cf"]).request("GET", "/oscar/demographic/search.jsp?bearer", headers)
    assert response.status == 200
    seen = cached_stack.requests_seen()[-1]
    assert seen["path"].endswith("bearer")
    lowered = {k.lower(): v for k, v in seen["headers"].items()}
    assert "cf-access-jwt-assertion" not in lowered or lowered["cf-access-jwt-assertion"] == "", lowered
    assert token not in repr(seen), lowered
    assert lowered.get("cookie") == "JSESSIONID=abc123", lowered
    # The gateway's own pages still receive it: in Cloudflare mode they know the person only from the token.
    justify = "/_gateway/justify?policy=reports&next=/oscar/report/x.jsp"
    with_mfa = [("Cf-Access-Jwt-Assertion", sign(claims(amr=["pwd", "mfa"])))]
    assert Browser(cached_stack.ports["cf"]).request("GET", justify, with_mfa).status == 200
    assert Browser(cached_stack.ports["cf"]).request("GET", justify, []).status != 200


def test_gateway_down_fails_closed(cached_stack):
    browser = Browser(cached_stack.ports["sa"])
    sign_in(browser, cached_stack.configs["sa"], "reception")
    before = len(cached_stack.requests_seen())
    cached_stack.stop_gateway("sa")
    try:
        response = Browser(cached_stack.ports["sa"]).get("/oscar/demographic/search.jsp")
        assert response.status >= 500
        response = browser.get("/oscar/demographic/search.jsp")
        assert response.status >= 500
        assert len(cached_stack.requests_seen()) == before
    finally:
        cached_stack.start_gateway("sa")
    assert browser.get("/oscar/demographic/search.jsp").status == 200


def test_gateway_memory_stays_under_80_mb_with_real_argon2(tmp_path):
    """The deployed argon2id cost (19 MiB per hash) on several logins: RSS and its peak stay < 80 MB."""
    _nginx_or_skip()
    argon = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
    cfg = gateway_config(tmp_path, login={"min_response_seconds": 0.0, "argon2": argon})
    running = Stack(tmp_path / "stack", {"sa": cfg}).start()
    try:
        for user in ("drsmith", "reception", "privacy", "locum", "drsmith", "reception"):
            sign_in(Browser(running.ports["sa"]), cfg, user)
        status = open("/proc/%d/status" % running.procs["gw-sa"].pid).read()
        values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
                  if line.startswith(("VmRSS:", "VmHWM:"))}
        assert values["VmRSS"] < 80 * 1024 and values["VmHWM"] < 80 * 1024, values
    finally:
        running.stop()
