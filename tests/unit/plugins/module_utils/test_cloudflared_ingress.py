"""cloudflared's ingress checks in Python (module_utils/_cloudflared_ingress.py) and the role's settings model.

Ingress cases are cloudflared's own documented behaviour: cloudflare/cloudflared ingress/ingress_test.go
(TestParseIngress, TestParseUnixSocket*), ingress/config_test.go (validateAccessConfiguration) and the
configuration-file documentation. ``strict=False`` is cloudflared's behaviour; ``strict=True`` (what the role
uses) adds the documented-but-not-enforced checks, tested separately.
"""

import base64
import json

import pytest
import yaml

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflared_ingress as m


def validate(raw_yaml, strict=False):
    document = yaml.safe_load(raw_yaml)
    return m.validate_config(document, strict=strict)


# (name, yaml) that cloudflared accepts.
ACCEPTED = [
    ("multiple rules, wildcard catch-all", """
ingress:
 - hostname: tunnel1.example.com
   service: https://localhost:8000
 - hostname: "*"
   service: https://localhost:8001
"""),
    ("extra top-level keys", """
ingress:
 - hostname: "*"
   service: https://localhost:8000
extraKey: extraValue
"""),
    ("ws service", """
ingress:
 - hostname: "*"
   service: wss://localhost:8000
"""),
    ("hostname can be omitted", """
ingress:
 - service: https://localhost:8000
"""),
    ("unicode domain", """
ingress:
 - hostname: m\u00f4\u00f4.cloudflare.com
   service: https://localhost:8000
 - service: https://localhost:8001
"""),
    ("valid HTTP status", """
ingress:
 - service: http_status:404
"""),
    ("hello world", """
ingress:
 - service: hello_world
"""),
    ("TCP services", """
ingress:
- hostname: tcp.foo.com
  service: tcp://127.0.0.1
- hostname: tcp2.foo.com
  service: tcp://localhost:8000
- service: http_status:404
"""),
    ("SSH service", "ingress:\n- service: ssh://127.0.0.1\n"),
    ("RDP service", "ingress:\n- service: rdp://127.0.0.1\n"),
    ("SMB service", "ingress:\n- service: smb://127.0.0.1\n"),
    ("other TCP services", "ingress:\n- service: ftp://127.0.0.1\n"),
    ("SOCKS service", """
ingress:
- hostname: socks.foo.com
  service: socks-proxy
  originRequest:
    ipRules:
      - prefix: 1.1.1.0/24
        ports: [80, 443]
        allow: true
      - prefix: 0.0.0.0/0
        allow: false
- service: http_status:404
"""),
    ("URL isn't necessary if using bastion", """
ingress:
- hostname: bastion.foo.com
  originRequest:
    bastionMode: true
- service: http_status:404
"""),
    ("bastion service", """
ingress:
- hostname: bastion.foo.com
  service: bastion
- service: http_status:404
"""),
    ("unix socket", "ingress:\n- service: unix:/tmp/echo.sock\n"),
    ("unix socket with TLS", "ingress:\n- service: unix+tls:/tmp/echo.sock\n"),
    ("the documented configuration file", """
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /root/.cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json
originRequest:
  connectTimeout: 30s
ingress:
  - hostname: app.example.com
    service: http://localhost:8080
    originRequest:
      noTLSVerify: true
      access: {required: true, teamName: myteam, audTag: [abc]}
  - hostname: "*.example.com"
    path: \\.(jpg|png|css|js)$
    service: https://localhost:8443
  - service: http_status:404
"""),
    ("access required with teamName only", """
ingress:
- service: https://localhost:8000
  originRequest: {access: {required: true, teamName: team}}
"""),
    ("access not required", """
ingress:
- service: https://localhost:8000
  originRequest: {access: {required: false}}
"""),
    ("access required, empty", """
ingress:
- service: https://localhost:8000
  originRequest: {access: {required: true}}
"""),
    ("durations in Go syntax", """
originRequest: {connectTimeout: 1m30s, tlsTimeout: 500ms, tcpKeepAlive: "0", keepAliveTimeout: 1h}
ingress:
- service: http_status:404
"""),
]

# (name, yaml, a fragment of the error) that cloudflared refuses.
REFUSED = [
    ("empty file", "", "doesn't contain any ingress rules"),
    ("invalid unicode domain", "ingress:\n - hostname: \"\\uD8F3.cloudflare.com\"\n   service: https://localhost:8000\n",
     "not a valid"),
    ("invalid service", "ingress:\n - hostname: \"*\"\n   service: https://local host:8000\n", "invalid"),
    ("last rule isn't catch-all", "ingress:\n - hostname: example.com\n   service: https://localhost:8000\n",
     "The last ingress rule must match all URLs"),
    ("first rule is catch-all", """
ingress:
 - service: https://localhost:8000
 - hostname: example.com
   service: https://localhost:8000
""", "Rule #1 is matching the hostname ''"),
    ("catch-all rule can't have a path", """
ingress:
 - service: https://localhost:8001
   path: /subpath1/(.*)/subpath2
""", "The last ingress rule must match all URLs"),
    ("invalid regex", """
ingress:
 - hostname: example.com
   service: https://localhost:8000
   path: "*/subpath2"
 - service: https://localhost:8001
""", "Rule #1 has an invalid regex"),
    ("service must have a scheme", "ingress:\n - service: localhost:8000\n", "please make sure it has a scheme"),
    ("wildcard not at start", """
ingress:
 - hostname: "test.*.example.com"
   service: https://localhost:8000
""", "at most one wildcard"),
    ("service can't have a path", "ingress:\n - service: https://localhost:8000/static/\n",
     "don't support proxying to a different path"),
    ("service can't even end in a slash", "ingress:\n - service: https://localhost:8000/\n",
     "don't support proxying to a different path"),
    ("invalid HTTP status", "ingress:\n - service: http_status:asdf\n", "invalid HTTP status"),
    ("invalid HTTP status code", "ingress:\n - service: http_status:8080\n", "invalid HTTP status code"),
    ("hostname contains port", """
ingress:
 - hostname: "test.example.com:443"
   service: https://localhost:8000
 - hostname: "*"
   service: https://localhost:8001
""", "Hostname cannot contain a port"),
    ("hostname with an empty port", "ingress:\n - hostname: \"example.com:\"\n   service: http_status:404\n - service: "
     "http_status:404\n", "Hostname cannot contain a port"),
    ("IPv6 literal with port", "ingress:\n - hostname: \"[::1]:80\"\n   service: http_status:404\n - service: "
     "http_status:404\n", "Hostname cannot contain a port"),
    ("access audTag without teamName", """
ingress:
- service: https://localhost:8000
  originRequest: {access: {required: true, audTag: [a]}}
""", "TeamName cannot be blank"),
    ("a duration as a bare number", """
ingress:
- service: https://localhost:8000
  originRequest: {connectTimeout: 30}
""", "Go duration string"),
    ("a duration with a space", """
ingress:
- service: https://localhost:8000
  originRequest: {connectTimeout: "30 s"}
""", "Go duration string"),
    ("a boolean as a string cloudflared cannot read", """
ingress:
- service: https://localhost:8000
  originRequest: {noTLSVerify: "true"}
""", "true or false"),
    ("a lookahead, which Go's RE2 lacks", """
ingress:
- hostname: a.example.com
  path: ^/(?!admin)
  service: http_status:404
- service: http_status:404
""", "invalid or unsupported Perl syntax"),
    ("no service and no bastion", "ingress:\n- hostname: a.example.com\n- service: http_status:404\n",
     "service is required"),
]


# cloudflared accepts these (data/cloudflared_ingress_corpus.yml has the real binary's verdicts); the role's strict
# mode refuses them and says it is stricter than cloudflared.
STRICTER_THAN_CLOUDFLARED = [
    ("a boolean as a YAML 1.1 word", """
ingress:
- service: https://localhost:8000
  originRequest: {noTLSVerify: "yes"}
""", "write true or false; cloudflared reads 'yes' as true"),
    ("proxyType other than socks", """
ingress:
- service: https://localhost:8000
  originRequest: {proxyType: http}
""", "proxyType: 'http' is not '' or 'socks'"),
    ("an ipRule prefix that is not a CIDR", """
ingress:
- service: socks-proxy
  originRequest: {ipRules: [{prefix: 1.1.1.300/24, ports: [80], allow: true}]}
""", "is not a CIDR"),
    ("an HTTP status from 600 to 999", "ingress:\n- service: http_status:600\n", "is not an HTTP status (100-599)"),
    ("a %-escape in a service host", "ingress:\n- service: http://a%C3%A9b:80\n", "%-escape in the service's host"),
]


@pytest.mark.parametrize("name,raw,fragment", STRICTER_THAN_CLOUDFLARED,
                         ids=[case[0] for case in STRICTER_THAN_CLOUDFLARED])
def test_strict_mode_refuses_what_cloudflared_accepts_and_says_so(name, raw, fragment):
    assert validate(raw).errors == []
    errors = validate(raw, strict=True).errors
    assert any(fragment in error and m.STRICTER in error for error in errors), errors


@pytest.mark.parametrize("name,raw", ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_cloudflared_accepts(name, raw):
    report = validate(raw)
    assert report.errors == []


@pytest.mark.parametrize("name,raw,fragment", REFUSED, ids=[case[0] for case in REFUSED])
def test_cloudflared_refuses(name, raw, fragment):
    report = validate(raw)
    assert report.errors, name
    assert any(fragment in error for error in report.errors), report.errors


@pytest.mark.parametrize("name,raw,fragment", REFUSED, ids=[case[0] for case in REFUSED])
def test_strict_refuses_everything_cloudflared_refuses(name, raw, fragment):
    assert validate(raw, strict=True).errors


def test_errors_name_the_rule():
    report = validate("ingress:\n- hostname: a.example.com\n  service: http://x/\n- service: http_status:404\n")
    assert report.errors[0].startswith("rule #1: http://x/ is an invalid address")


def test_all_problems_are_reported_at_once():
    report = validate("""
ingress:
- hostname: a.example.com:443
  service: https://127.0.0.1:443/oscar
- service: http_status:404
- hostname: b.example.com
  service: http_status:404
""")
    assert len(report.errors) == 4


def test_unknown_origin_request_keys_warn_like_cloudflared_and_fail_in_strict_mode():
    raw = "ingress:\n- service: https://localhost:8000\n  originRequest: {noTlsVerify: false}\n"
    loose = validate(raw)
    assert loose.errors == [] and "did you mean noTLSVerify" in loose.warnings[0]
    strict = validate(raw, strict=True)
    assert "unknown originRequest key (did you mean noTLSVerify?)" in strict.errors[0]


@pytest.mark.parametrize("service,fragment", [
    ("ftp://127.0.0.1", "unknown scheme 'ftp'"),
    ("htps://127.0.0.1:443", "unknown scheme 'htps'"),
    ("http://127.0.0.1:70000", "out of range"),
    ("unix:relative.sock", "must be absolute"),
])
def test_strict_refuses_what_is_always_a_mistake_in_a_clinic(service, fragment):
    raw = "ingress:\n- service: %s\n" % service
    assert validate(raw).errors == []
    assert any(fragment in error for error in validate(raw, strict=True).errors)


@pytest.mark.parametrize("hostname", ["*example.com", "emr clinic.example", "https://emr.clinic.example",
                                      "emr.clinic.example/oscar", "-bad.example.com"])
def test_strict_refuses_hostnames_that_are_not_dns_names(hostname):
    raw = yaml.safe_dump({"ingress": [{"hostname": hostname, "service": "http_status:404"},
                                      {"service": "http_status:404"}]})
    assert validate(raw, strict=True).errors, hostname


@pytest.mark.parametrize("hostname", ["emr.clinic.example", "*.clinic.example", "m\u00f4\u00f4.cloudflare.com",
                                      "a_b.example.com"])
def test_strict_accepts_dns_names_and_left_wildcards(hostname):
    raw = yaml.safe_dump({"ingress": [{"hostname": hostname, "service": "http_status:404"},
                                      {"service": "http_status:404"}]})
    assert validate(raw, strict=True).errors == []


def test_strict_access_needs_team_and_aud():
    raw = "ingress:\n- service: http_status:404\n  originRequest: {access: {required: true, teamName: t}}\n"
    assert validate(raw).errors == []
    assert "needs both teamName and audTag" in validate(raw, strict=True).errors[0]


@pytest.mark.parametrize("hostport,expected", [
    ("example.com:443", ("example.com", "443")),
    ("example.com:", ("example.com", "")),
    ("[::1]:80", ("::1", "80")),
    (":80", ("", "80")),
])
def test_split_host_port_like_go(hostport, expected):
    assert m.split_host_port(hostport) == expected


@pytest.mark.parametrize("hostport", ["example.com", "::1", "[::1]", "a:b:c", "[::1]x"])
def test_split_host_port_refuses_like_go(hostport):
    with pytest.raises(ValueError):
        m.split_host_port(hostport)


@pytest.mark.parametrize("text,version", [
    ("cloudflared version 2025.8.0 (built 2025-08-12-1200 UTC)", "2025.8.0"),
    ("cloudflared version 2024.12.0 (built 2024-12-10-1200 UTC)\n", "2024.12.0"),
    ("cloudflared version 2025.11.1 (built 2025-11-20-1442 UTC) TEST DOUBLE, not cloudflared", "2025.11.1"),
    ("cloudflared version DEV (built unknown)", None),
    ("", None),
])
def test_parse_version(text, version):
    assert m.parse_version(text) == version


@pytest.mark.parametrize("version,supported", [
    ("2025.4.0", True), ("2025.8.0", True), ("2026.1.0", True), ("2025.3.9", False), ("2024.12.0", False),
    ("", False), ("latest", False),
])
def test_token_file_needs_2025_4(version, supported):
    assert m.supports_token_file(version) is supported


# ------------------------------------------------------------------------------------------------
# The role's settings
# ------------------------------------------------------------------------------------------------

SECRET = base64.b64encode(b"unit-test-tunnel-secret-0123456789abcdef").decode()
TUNNEL_ID = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
TOKEN = base64.b64encode(json.dumps({"a": "acc0123", "t": TUNNEL_ID, "s": SECRET}).encode()).decode()
CREDS = {"AccountTag": "acc0123", "TunnelID": TUNNEL_ID, "TunnelSecret": SECRET}


def settings(**overrides):
    values = {
        "state": "present", "install_method": "url", "version": "2025.8.0", "apt_key_fingerprints": [],
        "packages": {"amd64": {"url": "https://mirror.example/cloudflared.deb", "sha256": "ab" * 32}},
        "architecture": "amd64", "machine": "x86_64", "tunnel_mode": "local", "tunnel_token": "",
        "tunnel_credentials": dict(CREDS), "oscar_hostname": "emr.clinic.example",
        "origin_service": "https://127.0.0.1:443", "origin_server_name": "", "origin_ca_pool": "",
        "origin_ca_certificate": "", "access_team_name": "", "access_aud_tags": [], "ingress_extra_rules": [],
        "origin_request_defaults": {}, "metrics_address": "127.0.0.1:20241", "loglevel": "info",
        "protocol": "auto", "ready_timeout": 60, "config_dir": "/etc/cloudflared",
    }
    values.update(overrides)
    return values


def problems(**overrides):
    return m.settings_problems(settings(**overrides))


def test_good_settings_have_no_problem():
    assert problems() == []
    assert problems(tunnel_mode="token", tunnel_token=TOKEN, tunnel_credentials={}) == []
    spaced = "0123 4567 89AB CDEF 0123  4567 89ab cdef 0123 4567"
    assert problems(install_method="repository", apt_key_fingerprints=[spaced]) == []
    assert problems(install_method="file", packages={"amd64": {"src": "files/cloudflared.deb"}}) == []


def test_absent_needs_nothing():
    assert m.settings_problems({"state": "absent"}) == []


@pytest.mark.parametrize("overrides,expected", [
    ({"architecture": "", "machine": "armv7l"}, "architecture 'armv7l' is not supported"),
    ({"version": "2025.8"}, "cloudflared_version: '2025.8' is neither 'latest'"),
    ({"install_method": "repository"}, "cloudflared_apt_key_fingerprints: is empty"),
    ({"install_method": "repository", "apt_key_fingerprints": ["8CACCBF8"]},
     "cloudflared_apt_key_fingerprints[0]: '8CACCBF8' is not an OpenPGP fingerprint"),
    ({"packages": {"arm64": {"url": "https://x/y", "sha256": "ab" * 32}}}, "cloudflared_packages: has no entry for"),
    ({"packages": {"amd64": {"url": "https://x/y"}}}, "cloudflared_packages.amd64.sha256: is required"),
    ({"packages": {"amd64": {"url": "https://x/y", "sha256": "xyz"}}}, "is not a SHA-256"),
    ({"packages": {"amd64": {"url": "mirror/cloudflared.deb", "sha256": "ab" * 32}}}, "is not an http(s) URL"),
    ({"install_method": "file", "packages": {"amd64": {"url": "https://x"}}},
     "cloudflared_packages.amd64.src: is required"),
    ({"tunnel_mode": "token"}, "cloudflared_tunnel_token: is required"),
    ({"tunnel_credentials": {"AccountTag": "a", "TunnelID": "nope", "TunnelSecret": "c2hvcnQ="}},
     "cloudflared_tunnel_credentials: TunnelID is not a UUID"),
    ({"tunnel_credentials": {"AccountTag": "a", "TunnelID": TUNNEL_ID, "TunnelSecret": "c2hvcnQ="}},
     "TunnelSecret decodes to fewer than 32 bytes"),
    ({"tunnel_credentials": {}}, "cloudflared_tunnel_credentials: must be the tunnel's credentials JSON"),
    ({"metrics_address": "0.0.0.0:20241"}, "must listen on loopback only"),
    ({"metrics_address": "192.168.1.5:20241"}, "must listen on loopback only"),
    ({"metrics_address": "localhost:0"}, "the port must be 1-65535"),
    ({"metrics_address": "127.0.0.1"}, "is not host:port"),
    ({"ready_timeout": 2}, "cloudflared_ready_timeout: 2 is not a number of seconds"),
    ({"origin_ca_pool": "/etc/ssl/ca.pem", "origin_ca_certificate": "-----BEGIN CERTIFICATE-----\n"},
     "not both"),
    ({"origin_ca_certificate": "not a pem"}, "is not PEM text"),
    ({"origin_ca_pool": "ca.pem"}, "is not an absolute path"),
    ({"access_team_name": "team"}, "cloudflared_access_aud_tags: cloudflared_access_team_name and"),
    ({"access_aud_tags": ["aud"]}, "cloudflared_access_team_name: cloudflared_access_team_name and"),
    ({"access_team_name": "team.cloudflareaccess.com", "access_aud_tags": ["aud"]}, "is not a team name"),
    ({"oscar_hostname": ""}, "cloudflared_oscar_hostname: is required"),
    ({"oscar_hostname": "emr.clinic.example:443"}, "cloudflared_oscar_hostname/cloudflared_origin_service (rule #1, "
                                                   "OSCAR): Hostname cannot contain a port"),
    ({"origin_service": "https://127.0.0.1/oscar"}, "(rule #1, OSCAR): https://127.0.0.1/oscar is an invalid address"),
    ({"ingress_extra_rules": [{"hostname": "a.clinic.example", "service": "http://x",
                               "originRequest": {"noTLSVerify": True}}]},
     "cloudflared_ingress_extra_rules[0].originRequest.noTLSVerify: is refused"),
    ({"origin_request_defaults": {"noTLSVerify": True}}, "cloudflared_origin_request_defaults.noTLSVerify: is refused"),
    ({"origin_request_defaults": {"connectTimeout": 30}}, "cloudflared_origin_request_defaults.connectTimeout: 30 is "
                                                          "not a Go duration"),
    ({"ingress_extra_rules": [{"hostname": "a.clinic.example", "service": "http://x"}, {"service": "http_status:404"}]},
     "cloudflared_ingress_extra_rules[1] (rule #3): Rule #3 is matching the hostname ''"),
    ({"ingress_extra_rules": [{"hostname": "a.clinic.example", "servce": "http://x"}]},
     "cloudflared_ingress_extra_rules[0] (rule #2).servce: unknown key"),
    ({"ingress_extra_rules": "a.clinic.example"}, "cloudflared_ingress_extra_rules: must be a list"),
    ({"test_edge": "198.51.100.7:7844"}, "cloudflared_test_edge: '198.51.100.7:7844': it must listen on loopback"),
    ({"test_edge": ["127.0.0.1:7844", "edge.example:7844"]}, "cloudflared_test_edge: 'edge.example:7844': it must"),
    ({"test_edge": ["127.0.0.1:7844", "127.0.0.1:7844"]}, "names an address twice"),
    ({"test_edge": {"edge": "127.0.0.1:7844"}}, "cloudflared_test_edge: {'edge': '127.0.0.1:7844'} is not an address"),
])
def test_each_problem_names_its_variable(overrides, expected):
    found = problems(**overrides)
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize("value,options", [
    ("", ""), ([], ""), (None, ""),
    ("127.0.0.1:7844", " --edge 127.0.0.1:7844"),
    (["127.0.0.1:7844", "127.0.0.2:7844"], " --edge 127.0.0.1:7844 --edge 127.0.0.2:7844"),
])
def test_test_edges_are_one_edge_option_each(value, options):
    assert m.pinned_edge_options(value) == options
    assert problems(test_edge=value) == []


def test_every_problem_is_reported_at_once():
    found = problems(metrics_address="0.0.0.0:1", ready_timeout=1, access_team_name="t", oscar_hostname="")
    assert len(found) == 4


@pytest.mark.parametrize("token", [
    "not-base64!",
    base64.b64encode(b"[1, 2]").decode(),
    base64.b64encode(json.dumps({"a": "acc", "t": "not-a-uuid", "s": SECRET}).encode()).decode(),
    base64.b64encode(json.dumps({"t": TUNNEL_ID, "s": SECRET}).encode()).decode(),
    base64.b64encode(json.dumps({"a": "acc", "t": TUNNEL_ID, "s": ""}).encode()).decode(),
])
def test_a_bad_token_is_reported_without_echoing_it(token):
    found = problems(tunnel_mode="token", tunnel_token=token)
    assert len(found) == 1 and found[0].startswith("cloudflared_tunnel_token: is not a valid tunnel token")
    assert token not in found[0] and token[:12] not in found[0]


def test_credentials_problems_never_echo_the_secret():
    short = base64.b64encode(b"short-secret-value").decode()
    found = problems(tunnel_credentials={"AccountTag": "a", "TunnelID": TUNNEL_ID, "TunnelSecret": short})
    assert found and all(short not in problem and "short-secret" not in problem for problem in found)


def test_decode_tunnel_token():
    assert m.decode_tunnel_token(TOKEN) == ("acc0123", TUNNEL_ID, base64.b64decode(SECRET))


def test_local_config_document():
    doc = m.build_config(settings(
        origin_ca_certificate="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----",
        access_team_name="lakeside", access_aud_tags=["aud1"],
        ingress_extra_rules=[{"originRequest": {"connectTimeout": "10s"}, "service": "http://10.0.0.5:8080",
                              "hostname": "*.files.clinic.example"}],
        origin_request_defaults={"connectTimeout": "20s"}, protocol="http2"))
    assert list(doc) == ["tunnel", "credentials-file", "metrics", "loglevel", "protocol", "no-autoupdate",
                         "originRequest", "ingress"]
    assert doc["tunnel"] == TUNNEL_ID
    assert doc["credentials-file"] == "/etc/cloudflared/%s.json" % TUNNEL_ID
    assert doc["no-autoupdate"] is True and doc["protocol"] == "http2"
    assert doc["ingress"] == [
        {"hostname": "emr.clinic.example", "service": "https://127.0.0.1:443",
         "originRequest": {"originServerName": "emr.clinic.example", "caPool": "/etc/cloudflared/origin-ca.pem",
                           "access": {"required": True, "teamName": "lakeside", "audTag": ["aud1"]}}},
        {"hostname": "*.files.clinic.example", "service": "http://10.0.0.5:8080",
         "originRequest": {"connectTimeout": "10s"}},
        {"service": "http_status:404"},
    ]
    assert list(doc["ingress"][1]) == ["hostname", "service", "originRequest"]
    assert m.validate_config(doc, strict=True).errors == []


def test_origin_server_name_and_ca_pool_overrides():
    doc = m.build_config(settings(origin_server_name="oscar.internal", origin_ca_pool="/etc/ssl/clinic-ca.pem"))
    # The role copies the pool into its configuration directory, readable by the connector's group (break 1 of
    # issue 11: the real connector, running as its own user, exits on a CA it cannot read).
    assert doc["ingress"][0]["originRequest"] == {"originServerName": "oscar.internal",
                                                  "caPool": "/etc/cloudflared/origin-ca.pem"}


def test_a_plain_http_origin_gets_no_tls_settings():
    doc = m.build_config(settings(origin_service="http://127.0.0.1:8080"))
    assert "originRequest" not in doc["ingress"][0]


def test_token_config_document_holds_no_ingress_nor_secret():
    doc = m.build_config(settings(tunnel_mode="token", tunnel_token=TOKEN))
    assert doc == {"metrics": "127.0.0.1:20241", "loglevel": "info", "protocol": "auto", "no-autoupdate": True}


@pytest.mark.parametrize("address,url", [
    ("127.0.0.1:20241", "http://127.0.0.1:20241/ready"),
    ("[::1]:20242", "http://[::1]:20242/ready"),
    ("localhost:20243", "http://localhost:20243/ready"),
])
def test_ready_url(address, url):
    assert m.check_metrics_address(address) is None
    assert m.ready_url(address) == url


@pytest.mark.parametrize("origin,extra", [
    ("https://127.0.0.1:443", None),
    ("https://[::1]:443", None),
    ("https://oscar.clinic.lan:443", None),
    ("https://192.168.1.20", {"name": "cloudflared-origin", "port": 443, "protocol": "tcp",
                              "destinations": ["192.168.1.20/32"]}),
    ("http://10.0.0.5:8080", {"name": "cloudflared-origin", "port": 8080, "protocol": "tcp",
                              "destinations": ["10.0.0.5/32"]}),
    ("https://[2001:db8::20]:443", {"name": "cloudflared-origin", "port": 443, "protocol": "tcp",
                                    "destinations": ["2001:db8::20/128"]}),
])
def test_egress_rules(origin, extra):
    rules = m.egress_rules({"origin_service": origin}, ["0.0.0.0/0", "::/0"])
    assert [(r["name"], r["port"], r["protocol"]) for r in rules[:3]] == [
        ("cloudflared-quic", 7844, "udp"), ("cloudflared-http2", 7844, "tcp"), ("cloudflared-api", 443, "tcp")]
    assert (rules[3] if len(rules) > 3 else None) == extra


def _unpadded(text):
    return text.rstrip("=")


def _token_needing_padding_and_urlsafe():
    """A token whose base64 has = padding and both + and /, so each rewrite below changes it."""
    for filler in range(200):
        raw = json.dumps({"a": "acc0123", "t": TUNNEL_ID, "s": SECRET, "x": "~?" * filler}).encode()
        text = base64.b64encode(raw).decode()
        if text.endswith("=") and "+" in text and "/" in text:
            return text
    raise AssertionError("no such token")


PADDED_TOKEN = _token_needing_padding_and_urlsafe()


@pytest.mark.parametrize("token,which", [
    (_unpadded(PADDED_TOKEN), "its = padding is missing"),
    (PADDED_TOKEN.replace("+", "-").replace("/", "_"), "URL-safe base64"),
    (base64.b64encode(json.dumps({"a": "acc0123", "t": TUNNEL_ID, "s": _unpadded(
        base64.b64encode(b"unit-test-tunnel-secret-0123456789abcd").decode())}).encode()).decode(),
     "its tunnel secret (s): its = padding is missing"),
])
def test_a_token_cloudflared_refuses_is_refused_and_the_message_says_why(token, which):
    """cloudflared accepts only standard, padded base64 (`Provided Tunnel token is not valid.` otherwise): the role
    refuses rather than rewrite the secret, and says so."""
    found = problems(tunnel_mode="token", tunnel_token=token)
    assert len(found) == 1, found
    assert which in found[0] and "cloudflared" in found[0]
    assert token not in found[0] and token[:12] not in found[0]


def test_a_standard_padded_token_is_accepted():
    assert problems(tunnel_mode="token", tunnel_token=PADDED_TOKEN, tunnel_credentials={}) == []
    assert problems(tunnel_mode="token", tunnel_token=" %s\n" % PADDED_TOKEN, tunnel_credentials={}) == []


@pytest.mark.parametrize("word", ["yes", "on", "y", "Y", "YES", True])
def test_no_tls_verify_in_any_spelling_cloudflared_reads_as_true_is_refused_loudly(word):
    """cloudflared's YAML decoder reads quoted "yes", "on", "y" into a bool as true: TLS checking off."""
    rule = {"hostname": "a.clinic.example", "service": "https://10.0.0.5", "originRequest": {"noTLSVerify": word}}
    found = problems(ingress_extra_rules=[rule])
    assert any(p.startswith("cloudflared_ingress_extra_rules[0].originRequest.noTLSVerify: is refused (%r, which "
                            "cloudflared reads as true" % (word,)) for p in found), found
    found = problems(origin_request_defaults={"noTLSVerify": word})
    assert any(p.startswith("cloudflared_origin_request_defaults.noTLSVerify: is refused") for p in found), found


@pytest.mark.parametrize("word", ["no", "off", "n", False])
def test_no_tls_verify_off_in_any_spelling_is_not_reported_as_turning_checks_off(word):
    found = problems(origin_request_defaults={"noTLSVerify": word})
    assert not any("is refused" in p for p in found), found


# The IT provider's SSH through the tunnel (issue 15) -------------------------------------------------------------

def test_an_ssh_host_name_is_rule_2_to_sshd_on_loopback():
    rules = m.build_ingress(settings(ssh_hostname="ssh.clinic.example", ingress_extra_rules=[
        {"hostname": "fax.clinic.example", "service": "https://192.168.1.30:8443"}]))
    assert rules[1] == {"hostname": "ssh.clinic.example", "service": "ssh://localhost:22"}
    assert [r.get("hostname") for r in rules] == ["emr.clinic.example", "ssh.clinic.example", "fax.clinic.example",
                                                  None]
    assert problems(ssh_hostname="ssh.clinic.example") == []
    assert "ssh.clinic.example" not in str(m.build_ingress(settings()))


@pytest.mark.parametrize("overrides, where", [
    ({"ssh_hostname": "ssh.clinic.example", "tunnel_mode": "token", "tunnel_token": TOKEN, "tunnel_credentials": {}},
     "cloudflared_ssh_hostname"),
    ({"ssh_hostname": "EMR.clinic.example"}, "cloudflared_ssh_hostname"),
    ({"ssh_hostname": "ssh.clinic.example", "ssh_service": "https://127.0.0.1:22"}, "cloudflared_ssh_service"),
    ({"ssh_hostname": "ssh .clinic.example"}, "cloudflared_ssh_hostname/cloudflared_ssh_service (rule #2, SSH)"),
])
def test_a_bad_ssh_setting_is_named(overrides, where):
    found = problems(**overrides)
    assert any(p.startswith(where) for p in found), found


def test_extra_rules_are_still_named_by_their_index_after_the_ssh_rule():
    found = problems(ssh_hostname="ssh.clinic.example", ingress_extra_rules=[
        {"hostname": "fax.clinic.example", "service": "https://192.168.1.30:8443"},
        {"hostname": "bad.clinic.example", "service": "gopher://x"}])
    assert any(p.startswith("cloudflared_ingress_extra_rules[1] (rule #4)") for p in found), found
