"""The front door on its own host, in front of an OSCAR host whose firewall admits only the front door."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "nginx" / "tests"))

from frontdoor import curl, marker, records, run, statuses

GW = "nginx-sep-gw"
OSCAR = "nginx-sep-oscar"
CLIENT = "nginx-sep-client"
NAME = "emr.clinic.test"
BASE = "https://%s" % NAME
RECORD = "/var/log/oscar-standin/requests.jsonl"


def via_front_door(path, *extra):
    return curl(CLIENT, "-k", "--connect-to", "%s:443:%s:443" % (NAME, GW), *extra, BASE + path)


def address(container):
    return run(container, "hostname -I").stdout.split()[0]


def reached(mark):
    return [r for r in records(OSCAR, RECORD) if mark in r["path"]]


def test_origin_certificate_from_files_is_served():
    run(CLIENT, "cat > /tmp/origin.crt", stdin=run(GW, "cat /etc/nginx/origin/origin.crt").stdout)
    response = curl(CLIENT, "--cacert", "/tmp/origin.crt", "--connect-to", "%s:443:%s:443" % (NAME, GW),
                    BASE + "/oscar/index.jsp")
    assert response.rc == 0 and response.status == 200, response
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_oscar_pages_pass_through_the_front_door_with_the_real_client_ip():
    mark = marker()
    response = via_front_door("/oscar/x?" + mark, "-H", "X-Forwarded-For: 127.0.0.1", "-H", "Remote-User: mallory")
    assert response.status == 200, response
    record = reached(mark)[-1]
    assert record["peer"] == address(GW)
    assert record["scheme"] == "https"
    assert record["headers"]["X-Forwarded-For"] == address(CLIENT)
    assert "Remote-User" not in record["headers"] and "mallory" not in json.dumps(record["headers"])


def test_blocked_paths_are_refused_on_the_gateway_host():
    mark = marker()
    paths = ["/manager/html", "/oscar/EFormViewForPdfGenerationServlet", "/oscar/..;/manager/html",
             "/oscar/%2e%2e/drugref2/", "/M%61nager/html", "/oscar/monitoring;jsessionid=1"]
    codes = statuses(CLIENT, ["-k", "--connect-to", "%s:443:%s:443" % (NAME, GW)],
                     [BASE + p + "?" + mark for p in paths])
    assert all(code in (400, 404) for code in codes), codes
    assert not reached(mark)


def test_web_services_are_refused_without_integration_sources():
    mark = marker()
    assert via_front_door("/oscar/ws/ScheduleService?" + mark, "--data", "<x/>").status == 403
    assert not reached(mark)


def test_only_the_front_door_reaches_tomcat():
    for port, scheme in ((8443, "https"), (8080, "http")):
        direct = curl(CLIENT, "-k", "--connect-timeout", "3", "%s://%s:%d/manager/html" % (scheme, OSCAR, port))
        assert direct.status == 0 and direct.rc in (7, 28), (port, direct)
        allowed = curl(GW, "-k", "--connect-timeout", "3", "%s://%s:%d/oscar/index.jsp" % (scheme, OSCAR, port))
        assert allowed.status == 200, (port, allowed)


def test_upstream_certificate_is_pinned():
    dump = run(GW, "nginx -T 2>/dev/null").stdout
    assert "proxy_ssl_verify on;" in dump
    assert "proxy_ssl_trusted_certificate /etc/nginx/origin/tomcat.crt;" in dump
    assert "proxy_ssl_name nginx-sep-oscar;" in dump
    assert "auth_request" not in dump  # the gateway hook is off in this scenario
