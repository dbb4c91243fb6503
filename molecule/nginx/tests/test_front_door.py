"""The nginx front door on the OSCAR host, probed from a client and from the host itself.

Every request that reaches the OSCAR stand-in is in its record file, so "refused" here means both a
refusal status and no trace of the request (a unique marker in its query string) behind nginx.
"""

import json
import re

import pytest
from frontdoor import curl, curl_many, marker, records, run, statuses

FRONT = "nginx-oscar"
CLIENT = "nginx-client"
NAME = "emr.clinic.test"
BASE = "https://%s" % NAME
STANDIN_RECORD = "/var/log/oscar-standin/requests.jsonl"
DOUBLE_RECORD = "/var/log/gateway-double/requests.jsonl"
CA = "/tmp/clinic-ca.crt"

# Blocked resources (built-in list plus this scenario's extras) and the path rest after the first "/".
BLOCKED = [
    "/manager/html", "/host-manager/html", "/docs/", "/examples/servlets/", "/oscar/monitoring",
    "/drugref/DrugrefService", "/drugref2/", "/oscar/EFormViewForPdfGenerationServlet",
    "/oscar/EFormSignatureViewForPdfGenerationServlet", "/oscar/EFormImageViewForPdfGenerationServlet",
    "/oscar/eformViewForPdfGenerationServlet", "/OscarDocument/x.pdf", "/faxWs/", "/Expedius/", "/oscar_apps/",
    "/oscar/admin-secret/x", "/oscar/eform/ScratchPadDanger.jsp",
]


def spellings(path):
    """The same resource, spelled every way Tomcat or nginx would resolve to it."""
    rest = path[1:]
    first, _, tail = rest.partition("/")
    out = [
        path, path.upper(), path.lower(), "/%%%02X%s" % (ord(rest[0]), rest[1:]),
        "/oscar/../" + rest, "/oscar/%2e%2e/" + rest, "/oscar/%2E%2E/" + rest, "/oscar/.%2e/" + rest,
        "/oscar/..;/" + rest, "/oscar/..%3b/" + rest, "/oscar/%2e%2e%2f" + rest, "/oscar/..%2f" + rest,
        "/oscar/%252e%252e/" + rest, "/oscar\\..\\" + rest, "/oscar/%5c..%5c" + rest, "//" + rest, "/./" + rest,
        "/oscar/./../" + rest, path + ";jsessionid=ABC123", path.rstrip("/") + ";x=1",
        "/" + first + ";x=1/" + tail if tail else "/" + first + ";x=1", "/" + rest.replace("/", "%2f"),
        "/" + rest.replace("/", "//"),
    ]
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module", autouse=True)
def client_trusts_the_clinic_ca():
    ca = run(FRONT, "cat /etc/oscar-remote-access/ca/ca.crt").stdout
    run(CLIENT, "cat > %s" % CA, stdin=ca)


def client(path, *extra):
    return curl(CLIENT, "--cacert", CA, "--connect-to", "%s:443:%s:443" % (NAME, FRONT), *extra, BASE + path)


TUNNEL = "/run/oscar-nginx-tunnel/tunnel.sock"


def tunnel_args(path, *extra):
    """curl arguments for nginx's tunnel socket, as the local cloudflared connects (origin unix:<socket>)."""
    return ["--unix-socket", TUNNEL, *extra, "http://%s%s" % (NAME, path)]


def local(path, *extra):
    """From the OSCAR host itself, as the local cloudflared connects: through the tunnel socket."""
    return curl(FRONT, *tunnel_args(path, *extra))


def loopback(path, *extra):
    """From the OSCAR host itself over TCP, as any local process can."""
    return curl(FRONT, "-k", "--resolve", "%s:443:127.0.0.1" % NAME, *extra, BASE + path)


def reached(mark):
    return [r for r in records(FRONT, STANDIN_RECORD) if mark in r["path"]]


def client_ip():
    return run(CLIENT, "hostname -I").stdout.split()[0]


# --- TLS and HTTP -----------------------------------------------------------------------------

def test_http_redirects_to_https_on_the_same_name():
    response = curl(CLIENT, "-H", "Host: %s" % NAME, "http://%s/oscar/index.jsp?a=1" % FRONT)
    assert response.status == 301
    assert response.headers["location"] == "https://%s/oscar/index.jsp?a=1" % NAME
    unknown = curl(CLIENT, "-H", "Host: evil.example", "http://%s/x" % FRONT)
    assert unknown.headers["location"] == "https://%s/x" % NAME


def test_tls_verifies_with_the_exported_clinic_ca_and_sets_hsts():
    response = client("/oscar/index.jsp")
    assert response.rc == 0 and response.status == 200, response
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers
    unverified = curl(CLIENT, "--connect-to", "%s:443:%s:443" % (NAME, FRONT), BASE + "/oscar/index.jsp")
    assert unverified.rc == 60  # no trust without the clinic CA


def test_only_tls_12_and_13():
    assert client("/oscar/index.jsp", "--tlsv1.2", "--tls-max", "1.2").status == 200
    assert client("/oscar/index.jsp", "--tlsv1.3").status == 200
    old = client("/oscar/index.jsp", "--tlsv1", "--tls-max", "1.1")
    assert old.rc != 0 and old.status == 0


def test_unknown_host_names_are_refused():
    assert client("/oscar/index.jsp", "-H", "Host: evil.example").status == 421


def test_nothing_outside_the_oscar_context():
    mark = marker()
    assert client("/?" + mark).status == 302
    assert client("/ROOT/index.jsp?" + mark).status == 404
    assert client("/auth?" + mark).status == 404  # the gateway's decision endpoint is internal
    assert not reached(mark)


# --- Path policy ------------------------------------------------------------------------------

def test_every_spelling_of_a_blocked_path_is_refused_and_never_reaches_oscar():
    mark = marker()
    cases = [spelling for path in BLOCKED for spelling in spellings(path)]
    codes = statuses(CLIENT, ["--cacert", CA, "--connect-to", "%s:443:%s:443" % (NAME, FRONT)],
                     [BASE + c + "?" + mark for c in cases])
    assert len(codes) == len(cases)
    wrong = [(c, code) for c, code in zip(cases, codes) if code not in (400, 404)]
    assert not wrong, wrong
    assert not reached(mark), reached(mark)
    assert len(cases) > 300


def test_blocked_paths_from_the_oscar_host_itself():
    # A proxy on the OSCAR host is 127.0.0.1 to Tomcat: the PDF servlets must be refused here above all.
    mark = marker()
    cases = [s for path in BLOCKED[:12] for s in spellings(path)[:8]]
    codes = statuses(FRONT, ["-k", "--resolve", "%s:443:127.0.0.1" % NAME], [BASE + c + "?" + mark for c in cases])
    assert len(codes) == len(cases)
    wrong = [(c, code) for c, code in zip(cases, codes) if code not in (400, 404)]
    assert not wrong, wrong
    assert not reached(mark)


def test_absolute_form_request_target_cannot_smuggle_a_path():
    mark = marker()
    response = client("/oscar/index.jsp", "--request-target", "https://%s/manager/html?%s" % (NAME, mark))
    assert response.status in (400, 404)
    assert not reached(mark)


def test_canonical_paths_reach_oscar_exactly_as_sent():
    mark = marker()
    for path in ("/oscar/provider/x.jsp", "/oscar/%61bc.jsp", "/oscar/login.do;jsessionid=ABC123", "/oscar/",
                 "/oscar/managerial.jsp", "/oscar/docs/x"):
        response = client(path + "?" + mark)
        assert response.status == 200, (path, response)
        assert [r["path"] for r in reached(mark)][-1] == path + "?" + mark


def test_other_methods_are_refused_on_pages():
    mark = marker()
    assert client("/oscar/index.jsp?" + mark, "-X", "PUT").status == 403
    assert client("/oscar/index.jsp?" + mark, "-X", "DELETE").status == 403
    assert not reached(mark)


# --- Uploads and per-location limits ----------------------------------------------------------

def test_twenty_megabyte_upload_passes():
    run(CLIENT, "test -f /tmp/20m || head -c 20971520 /dev/urandom > /tmp/20m")
    mark = marker()
    response = client("/oscar/dms/addDocument.do?" + mark, "--data-binary", "@/tmp/20m",
                      "-H", "Content-Type: application/octet-stream")
    assert response.status == 200, response
    assert json.loads(response.body)["body_size"] == 20971520
    assert reached(mark)[-1]["body_size"] == 20971520


def test_location_override_has_its_own_body_limit():
    run(CLIENT, "test -f /tmp/2m || head -c 2097152 /dev/urandom > /tmp/2m")
    mark = marker()
    assert client("/oscar/report/run.do?" + mark, "--data-binary", "@/tmp/2m").status == 413
    assert not reached(mark)
    assert client("/oscar/report/run.do?" + mark).status == 200


# --- Login, cookies, client IP -----------------------------------------------------------------

def test_login_sets_a_secure_session_cookie_and_oscar_sees_the_real_client():
    mark = marker()
    login = client("/oscar/login.do?" + mark, "--data", "username=oscardoc&password=mac2002&pin=1117")
    assert login.status == 302, login
    cookie = next(c for c in login.set_cookies if c.startswith("JSESSIONID="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, cookie
    session = cookie.split(";")[0]
    page = client("/oscar/provider/providercontrol.jsp", "-H", "Cookie: " + session,
                  "-H", "X-Forwarded-For: 127.0.0.1")
    assert page.status == 200
    assert '<span id="client-ip">%s</span>' % client_ip() in page.body
    assert '<span id="remote-user">double-user</span>' in page.body


def test_client_forwarding_headers_are_overwritten_never_appended():
    mark = marker()
    client("/oscar/x?" + mark, "-H", "X-Forwarded-For: 127.0.0.1", "-H", "X-Real-IP: 127.0.0.1",
           "-H", "CF-Connecting-IP: 127.0.0.1", "-H", "Forwarded: for=127.0.0.1", "-H", "X-Forwarded-Proto: http")
    headers = reached(mark)[-1]["headers"]
    assert headers["X-Forwarded-For"] == client_ip()
    assert headers["X-Real-IP"] == client_ip()
    assert headers["X-Forwarded-Proto"] == "https"
    assert "CF-Connecting-IP" not in headers and "Forwarded" not in headers
    assert "127.0.0.1" not in json.dumps({k: v for k, v in headers.items() if k != "Host"})


def test_the_tunnel_socket_tells_the_client_address():
    mark = marker()
    assert local("/oscar/x?" + mark, "-H", "CF-Connecting-IP: 198.51.100.50").status == 200
    assert reached(mark)[-1]["headers"]["X-Forwarded-For"] == "198.51.100.50"


def test_a_local_process_over_loopback_cannot_name_the_client():
    """Issue 12 finding 2: over loopback CF-Connecting-IP is nobody's word, so no local process can claim an
    integration source's address (or match an IP bypass)."""
    mark = marker()
    assert loopback("/oscar/x?" + mark, "-H", "CF-Connecting-IP: 198.51.100.50").status == 200
    assert reached(mark)[-1]["headers"]["X-Forwarded-For"] == "127.0.0.1"


def test_only_the_connectors_group_can_enter_the_tunnel_socket():
    directory = run(FRONT, "stat -c '%a %U %G' " + TUNNEL.rsplit("/", 1)[0]).stdout.split()
    assert directory == ["750", "root", "cloudflared"]
    assert "oscar-nginx-tunnel" in run(FRONT, "cat /etc/tmpfiles.d/oscar-nginx-tunnel.conf").stdout
    stranger = run(FRONT, "runuser -u nobody -- curl -s -o /dev/null -w '%{http_code}' --unix-socket " + TUNNEL
                   + " http://%s/oscar/" % NAME, check=False)
    assert stranger.returncode != 0 and stranger.stdout in ("", "000"), stranger


# --- Identity headers and the auth hook (gateway decision double) ------------------------------

def test_identity_headers_from_clients_never_reach_oscar():
    mark = marker()
    sent = ["Remote-User: mallory", "Remote-Email: mallory@evil.example", "Remote-Groups: admins",
            "X-Auth-Request-User: mallory", "X-Auth-Anything: x", "X-Forwarded-User: mallory",
            "X-Original-URL: /manager/html", "X-WebAuth-User: mallory", "X_Forwarded_For: 127.0.0.1",
            "Remote_User: mallory"]
    args = [a for header in sent for a in ("-H", header)]
    assert client("/oscar/x?" + mark, "-H", "X-Double-Decision: anonymous", *args).status == 200
    headers = {k.lower(): v for k, v in reached(mark)[-1]["headers"].items()}
    leaked = sorted(k for k in headers if k.startswith(("remote", "x-auth", "x-original", "x-webauth", "x_"))
                    or k == "x-forwarded-user")
    assert not leaked, headers
    assert "mallory" not in json.dumps(headers)


def test_gateway_identity_replaces_a_forged_one():
    mark = marker()
    client("/oscar/x?" + mark, "-H", "Remote-User: mallory")
    assert reached(mark)[-1]["headers"]["Remote-User"] == "double-user"


def test_gateway_401_redirects_to_its_login_page():
    mark = marker()
    response = client("/oscar/provider/providercontrol.jsp?" + mark, "-b", "double_decision=login")
    assert response.status == 302
    # A path (absolute_redirect off): through the tunnel socket an absolute one would say http://.
    assert response.headers["location"].startswith("/_gateway/login?rd=")
    assert not reached(mark)
    login_page = client("/_gateway/login?" + mark, "-b", "double_decision=deny")
    assert login_page.status == 200 and "test double" in login_page.body


def test_gateway_403_is_a_plain_refusal():
    mark = marker()
    response = client("/oscar/index.jsp?" + mark, "-H", "X-Double-Decision: deny")
    assert response.status == 403 and response.body == "Access refused.\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert not reached(mark)


def test_gateway_is_asked_with_the_original_url_method_and_real_ip():
    mark = marker()
    client("/oscar/form.do;jsessionid=AB1?" + mark, "--data", "x=1")
    asked = [r for r in records(FRONT, DOUBLE_RECORD) if mark in json.dumps(r)]
    assert len(asked) == 1
    headers = asked[0]["headers"]
    assert asked[0]["path"] == "/auth"
    assert headers["X-Original-URL"] == "%s/oscar/form.do;jsessionid=AB1?%s" % (BASE, mark)
    assert headers["X-Original-Method"] == "POST"
    assert headers["X-Real-IP"] == client_ip() and headers["X-Forwarded-For"] == client_ip()
    assert headers.get("Content-Length") in (None, "0")


def test_allow_decisions_are_cached_per_session_credential():
    session = marker()
    mark = marker()
    for _ in range(3):
        assert client("/oscar/x?" + mark, "-b", "oscar_gateway_session=" + session).status == 200
    asked = [r for r in records(FRONT, DOUBLE_RECORD) if session in json.dumps(r)]
    assert len(asked) == 1
    assert [r["headers"]["Remote-User"] for r in reached(mark)] == [session] * 3
    # No credential, no cache: every request is decided again.
    mark = marker()
    before = len(records(FRONT, DOUBLE_RECORD))
    for _ in range(2):
        client("/oscar/y?" + mark)
    assert len(records(FRONT, DOUBLE_RECORD)) - before == 2


# --- Integration-only paths ---------------------------------------------------------------------

def test_integration_paths_work_from_the_listed_source():
    mark = marker()
    for path in ("/oscar/ws/ScheduleService", "/oscar/lab/newLabUpload.do", "/oscar/ws/services/demographics"):
        assert client(path + "?" + mark, "--data", "<x/>").status == 200, path
    assert client("/oscar/ws/services/demographics?" + mark, "-X", "PUT", "--data", "{}").status == 200
    assert len(reached(mark)) == 4


def test_integration_paths_are_refused_to_other_sources():
    mark = marker()
    for path in ("/oscar/ws/ScheduleService", "/oscar/WS/ScheduleService", "/oscar/lab/newLabUpload.do",
                 "/oscar/lab/CMLlabUpload.do;jsessionid=1", "/oscar/ws/LoginService", "/oscar/ws/oauth/initiate"):
        response = local(path + "?" + mark, "-H", "CF-Connecting-IP: 198.51.100.60", "--data", "<x/>")
        assert response.status == 403 and response.body == "Access refused.\n", (path, response)
    assert not reached(mark)


def test_browser_web_service_paths_stay_open_to_browsers():
    mark = marker()
    assert local("/oscar/ws/rs/inbox?" + mark, "-H", "CF-Connecting-IP: 198.51.100.60").status == 200
    assert reached(mark)


# --- Logs and configuration -----------------------------------------------------------------------

def test_access_log_is_json_with_request_id_and_no_query_strings_or_session_ids():
    mark = marker()
    client("/oscar/login.do;jsessionid=SECRETSESSION?patient=" + mark)
    lines = run(FRONT, "tail -n 400 /var/log/nginx/oscar-access.log").stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["request_id"]) for e in entries)
    text = "\n".join(lines)
    assert mark not in text and "SECRETSESSION" not in text and "?" not in "".join(e["path"] for e in entries)
    assert any(e["path"] == "/oscar/login.do" for e in entries)
    error_log = run(FRONT, "cat /var/log/nginx/error.log").stdout
    assert mark not in error_log


def test_configuration_is_whole_minimal_and_valid():
    dump = run(FRONT, "nginx -T 2>/dev/null").stdout
    assert run(FRONT, "nginx -t -q").returncode == 0
    assert "sites-enabled" not in dump and "conf.d" not in dump
    assert dump.count("load_module") == 1 and "headers_more" in dump
    assert "server_tokens off;" in dump
    assert "proxy_ssl_verify on;" in dump and "proxy_ssl_trusted_certificate /opt/oscar-standin/tomcat.crt;" in dump
    assert "X-Forwarded-For $remote_addr;" in dump and "proxy_add_x_forwarded_for" not in dump


# --- Rate limits (last: they spend the client's login allowance) -------------------------------------

def test_login_rate_limit_is_per_real_client_ip():
    args = [tunnel_args("/oscar/login.do", "-H", "CF-Connecting-IP: 198.51.100.61", "--data", "username=x&password=y")
            for _ in range(8)]
    statuses = [r.status for r in curl_many(FRONT, args)]
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429, statuses
    other = local("/oscar/login.do", "-H", "CF-Connecting-IP: 198.51.100.62", "--data", "username=x&password=y")
    assert other.status == 200


def test_web_service_login_is_rate_limited_too():
    ip = client_ip()
    args = [tunnel_args("/oscar/ws/LoginService", "-H", "CF-Connecting-IP: " + ip, "--data", "<x/>")
            for _ in range(8)]
    statuses = [r.status for r in curl_many(FRONT, args)]
    assert 200 in statuses and statuses[-1] == 429, statuses
