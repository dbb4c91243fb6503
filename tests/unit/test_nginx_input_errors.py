"""Semantic checks of the nginx role's variables (plugins/filter/nginx_input_errors.py).

The role fails with these messages before it changes anything; each must name the variable and the value.
"""

from pathlib import Path

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.oscar_emr.remote_access.plugins.filter.nginx_input_errors import (
    FilterModule,
    nginx_input_errors,
    nginx_subject_alt_names,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "nginx" / "defaults" / "main.yml").read_text())
# The gateway settings follow the gateway role's variables ("{{ gateway_socket | default(...) }}"): template them as
# Ansible does with no inventory (twice: nginx_gateway_login_url builds on nginx_gateway_prefix).
for _round in range(2):
    DEFAULTS = {k: NativeEnvironment().from_string(v).render(DEFAULTS)
                if k.startswith("nginx_gateway_") and isinstance(v, str) and "{{" in v else v
                for k, v in DEFAULTS.items()}


def good(**overrides):
    values = dict(DEFAULTS)
    values["nginx_server_names"] = ["emr.clinic.example", "192.168.1.10"]
    values.update(overrides)
    return values


def test_defaults_and_a_full_example_pass():
    assert nginx_input_errors(good()) == []
    assert nginx_input_errors(good(
        nginx_tls_mode="files", nginx_tls_certificate_file="/etc/ssl/a.crt", nginx_tls_key_file="/etc/ssl/a.key",
        nginx_oscar_upstream_url="http://10.0.0.5:8080", nginx_integration_sources=["203.0.113.10/32", "2001:db8::/64"],
        nginx_trusted_proxies=["192.168.10.5/32"], nginx_tunnel_socket="/run/oscar-nginx-tunnel/tunnel.sock",
        nginx_browser_ws_paths=["/oscar/ws/rs/"],
        nginx_location_overrides=[{"path": "/oscar/report/", "proxy_read_timeout": "900s"}],
        nginx_blocked_paths_extra=["/oscar/admin", {"path": "Scratch", "kind": "contains"}],
        nginx_gateway_upstream="127.0.0.1:9000", nginx_oscar_upstream_trusted_certificate="/etc/nginx/tomcat.pem",
    )) == []


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"nginx_oscar_upstream_url": "127.0.0.1:8443"}, "nginx_oscar_upstream_url: '127.0.0.1:8443'"),
    ({"nginx_oscar_upstream_url": "ftp://oscar:21"}, "nginx_oscar_upstream_url: 'ftp://oscar:21'"),
    ({"nginx_oscar_upstream_url": "https://oscar:8443/oscar"}, "no path"),
    ({"nginx_oscar_upstream_url": "https://oscar:99999"}, "invalid port"),
    ({"nginx_integration_sources": ["203.0.113.300/32"]}, "nginx_integration_sources: '203.0.113.300/32'"),
    ({"nginx_integration_sources": ["192.168.1.10/24"]}, "did you mean 192.168.1.0/24"),
    ({"nginx_trusted_proxies": ["127.0.0.1/33"]}, "nginx_trusted_proxies: '127.0.0.1/33'"),
    ({"nginx_trusted_proxies": "127.0.0.1/32"}, "must be a list"),
    # Issue 12: loopback is shared by every local process; a local connector gets nginx_tunnel_socket.
    ({"nginx_trusted_proxies": ["127.0.0.1/32"]}, "nginx_trusted_proxies: '127.0.0.1/32' contains loopback addresses"),
    ({"nginx_trusted_proxies": ["127.0.0.0/8"]}, "give a connector on this host nginx_tunnel_socket instead"),
    ({"nginx_trusted_proxies": ["::1/128"]}, "nginx_trusted_proxies: '::1/128' contains loopback"),
    ({"nginx_trusted_proxies": ["0.0.0.0/0"]}, "nginx_trusted_proxies: '0.0.0.0/0' contains loopback"),
    ({"nginx_tunnel_socket": "tunnel.sock"}, "nginx_tunnel_socket: 'tunnel.sock' must be an absolute path"),
    ({"nginx_tunnel_socket": "/run/tunnel.sock"}, "in a directory of its own"),
    ({"nginx_tunnel_socket": "/run/x/t.sock", "nginx_tunnel_socket_group": "Bad Group"},
     "nginx_tunnel_socket_group: 'Bad Group'"),
    ({"nginx_server_names": []}, "nginx_server_names"),
    ({"nginx_server_names": ["emr clinic"]}, "'emr clinic' is not a host name"),
    ({"nginx_https_port": 80}, "same as nginx_https_port"),
    ({"nginx_https_port": 0}, "nginx_https_port: 0"),
    ({"nginx_tls_mode": "files"}, "nginx_tls_certificate_file: '' must be an absolute path"),
    ({"nginx_tls_mode": "cloudflare_origin", "nginx_tls_certificate_file": "/a", "nginx_tls_key_file": "key.pem"},
     "nginx_tls_key_file: 'key.pem'"),
    ({"nginx_oscar_upstream_trusted_certificate": "tomcat.crt"}, "nginx_oscar_upstream_trusted_certificate"),
    ({"nginx_oscar_context_path": "/oscar/"}, "nginx_oscar_context_path"),
    ({"nginx_client_max_body_size": "100 MB"}, "nginx_client_max_body_size: '100 MB'"),
    ({"nginx_proxy_read_timeout": "5 minutes"}, "nginx_proxy_read_timeout"),
    ({"nginx_location_overrides": [{"path": "/report/"}]}, "must be under /oscar/"),
    ({"nginx_location_overrides": [{"path": "/oscar/report"}]}, "must end with /"),
    ({"nginx_location_overrides": [{"path": "/oscar/r/", "body": "1m"}]}, "unknown keys body"),
    ({"nginx_location_overrides": [{"path": "/oscar/../x/"}]}, "segments"),
    ({"nginx_browser_methods": ["GET", "TRACE"]}, "nginx_browser_methods"),
    ({"nginx_browser_methods": ["POST"]}, "must include GET"),
    ({"nginx_blocked_paths_extra": ["relative"]}, "nginx_blocked_paths_extra"),
    ({"nginx_blocked_paths_extra": [{"path": "/x", "kind": "regex"}]}, "kind must be prefix or contains"),
    ({"nginx_browser_ws_paths": ["/oscar/rs/"]}, "must be under /oscar/ws/"),
    ({"nginx_browser_ws_paths": ["/oscar/ws/"]}, "would open every web service"),
    ({"nginx_browser_ws_paths": ["/oscar/ws/LoginService/"]}, "would open a login web service"),
    ({"nginx_login_rate_limit": "10/m"}, "nginx_login_rate_limit: '10/m'"),
    ({"nginx_login_rate_burst": -1}, "nginx_login_rate_burst: -1"),
    ({"nginx_real_ip_header": "CF Connecting IP"}, "nginx_real_ip_header"),
    ({"nginx_strip_request_headers": ["X-Auth-*", "Bad Header"]}, "'Bad Header'"),
    ({"nginx_gateway_identity_headers": ["Remote-*"]}, "nginx_gateway_identity_headers: 'Remote-*'"),
    ({"nginx_gateway_upstream": "/run/gw.sock"}, "nginx_gateway_upstream: '/run/gw.sock'"),
    ({"nginx_gateway_auth_upstream": "unix:run/auth.sock"}, "nginx_gateway_auth_upstream: 'unix:run/auth.sock'"),
    ({"nginx_gateway_prefix": "/oscar/gw/"}, "outside OSCAR's context path"),
    ({"nginx_gateway_auth_path": "/_gateway/auth"}, "under nginx_gateway_prefix"),
    ({"nginx_gateway_login_url": "javascript:alert(1)"}, "nginx_gateway_login_url"),
    ({"nginx_gateway_session_cookie": "-sess"}, "nginx_gateway_session_cookie: '-sess'"),
    ({"nginx_gateway_session_cookie": "sess=id"}, "nginx_gateway_session_cookie: 'sess=id'"),
    ({"nginx_access_log": "oscar.log"}, "nginx_access_log"),
    ({"nginx_internal_cert_ip_addresses": ["10.0.0.300"]}, "nginx_internal_cert_ip_addresses"),
    ({"nginx_internal_cert_valid_days": 20}, "more than 30"),
])
def test_bad_input_is_named_with_its_value(overrides, expected):
    errors = nginx_input_errors(good(**overrides))
    assert errors, overrides
    assert any(expected in message for message in errors), errors


def test_subject_alt_names_split_names_and_addresses():
    assert nginx_subject_alt_names(["emr.clinic.example", "192.168.1.10", "emr.clinic.example"], ["::1"]) == [
        "DNS:emr.clinic.example", "IP:192.168.1.10", "IP:::1"]
    assert set(FilterModule().filters()) == {"nginx_input_errors", "nginx_subject_alt_names", "nginx_internal_ca_due"}


@pytest.mark.parametrize("ranges,expected", [
    (["0.0.0.0/0"], "'0.0.0.0/0' trusts every address on the internet to say who the client is"),
    (["::/0"], "'::/0' trusts every address on the internet"),
    (["8.8.8.0/24"], "'8.8.8.0/24' holds public addresses"),
    (["0.0.0.0/1"], "'0.0.0.0/1' holds public addresses"),
])
def test_a_trusted_proxy_range_beyond_the_clinic_is_refused(ranges, expected):
    """Issue 20: nginx_trusted_proxies: [0.0.0.0/0] let anyone claim any client address, silently."""
    errors = nginx_input_errors(good(nginx_trusted_proxies=ranges))
    assert any(message.startswith("nginx_trusted_proxies: ") and expected in message for message in errors), errors


def test_with_the_connectors_known_a_range_must_hold_one_of_them():
    import ipaddress
    local = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    # A connector on this host comes in through nginx_tunnel_socket: no range is needed, and none may be trusted.
    assert nginx_input_errors(good(nginx_trusted_proxies=[]), local) == []
    errors = nginx_input_errors(good(nginx_trusted_proxies=["192.168.0.0/16"]), local)
    assert errors == ["nginx_trusted_proxies: '192.168.0.0/16' holds none of the clinic's connectors (127.0.0.1, ::1); "
                      "list their addresses"]
    pi = [ipaddress.ip_address("192.168.1.30")]
    assert nginx_input_errors(good(nginx_trusted_proxies=["192.168.1.30/32"]), pi) == []
    # Unknown connectors (None): only the world-wide and public checks apply.
    assert nginx_input_errors(good(nginx_trusted_proxies=["192.168.0.0/16"])) == []


@pytest.mark.parametrize("trusted,connectors,expected", [
    # Issue 20: private, holds the Pi, but the Pi's LAN is 192.168.1.0/24: the rest of 192.168.0.0/16 could lie.
    (["192.168.0.0/16"], ["192.168.1.20/24"],
     "nginx_trusted_proxies: '192.168.0.0/16' is wider than the network the clinic's connectors in it use "
     "(192.168.1.20 in 192.168.1.0/24): any other host in it could claim any client address; give '192.168.1.0/24' "
     "instead"),
    # Without facts only the address is known to be a connector.
    (["192.168.1.0/24"], ["192.168.1.20/32"],
     "nginx_trusted_proxies: '192.168.1.0/24' is wider than the network the clinic's connectors in it use "
     "(192.168.1.20 (its network unknown: no facts gathered for it)): any other host in it could claim any client "
     "address; give '192.168.1.20/32' instead"),
    (["10.0.0.0/8"], ["10.1.2.3/24", "10.9.9.9/16"], "give '10.1.2.0/24' and '10.9.0.0/16' instead"),
    (["fd00::/8"], ["fd00:1::5/64"], "give 'fd00:1::/64' instead"),
])
def test_a_trusted_proxy_range_wider_than_the_connectors_network_is_refused(trusted, connectors, expected):
    import ipaddress
    errors = nginx_input_errors(good(nginx_trusted_proxies=trusted),
                                [ipaddress.ip_interface(c) for c in connectors])
    assert len(errors) == 1 and expected in errors[0], errors


@pytest.mark.parametrize("trusted,connectors", [
    (["192.168.1.0/24"], ["192.168.1.20/24"]),
    (["192.168.1.20/32"], ["192.168.1.20/24"]),
    (["192.168.1.16/28"], ["192.168.1.20/24"]),
    (["192.168.1.20/32", "10.1.2.0/24"], ["192.168.1.20/32", "10.1.2.3/24"]),
])
def test_a_trusted_proxy_range_within_the_connectors_network_is_accepted(trusted, connectors):
    import ipaddress
    interfaces = [ipaddress.ip_interface(c) for c in connectors]
    assert nginx_input_errors(good(nginx_trusted_proxies=trusted), interfaces) == []


def acme(**overrides):
    """A complete acme-mode setting (the token value is a stand-in: it must never appear in a message)."""
    values = good(
        nginx_tls_mode="acme", nginx_server_names=["emr.lakeside.example", "lakeside.example"],
        nginx_acme_terms_agreed=True, nginx_acme_cloudflare_zone="lakeside.example",
        nginx_acme_cloudflare_api_token="zone-token-SECRET", nginx_acme_account_key_file="/srv/private/acme.key",
    )
    values.update(overrides)
    return values


def test_a_complete_acme_setting_passes():
    assert nginx_input_errors(acme()) == []
    assert nginx_input_errors(acme(nginx_acme_eab_kid="kid-1", nginx_acme_eab_hmac_key="HMAC-SECRET",
                                   nginx_acme_email="it@lakeside.example")) == []


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"nginx_acme_terms_agreed": False}, "nginx_acme_terms_agreed: False: nginx_tls_mode acme needs true"),
    ({"nginx_acme_cloudflare_zone": ""}, "nginx_acme_cloudflare_zone: ''"),
    ({"nginx_acme_cloudflare_api_token": ""}, "nginx_acme_cloudflare_api_token: is empty"),
    ({"nginx_server_names": ["emr.lakeside.example", "192.168.1.10"]},
     "nginx_server_names: '192.168.1.10' cannot be in a public certificate"),
    ({"nginx_server_names": ["emr.lakeside.example", "oscar"]}, "is not in nginx_acme_cloudflare_zone"),
    ({"nginx_server_names": ["emr.other.example"]},
     "nginx_server_names: 'emr.other.example' is not in nginx_acme_cloudflare_zone 'lakeside.example'"),
    ({"nginx_server_names": ["notlakeside.example"]}, "'notlakeside.example' is not in"),
    ({"nginx_acme_eab_kid": "kid-1"}, "nginx_acme_eab_kid and nginx_acme_eab_hmac_key: give both"),
    ({"nginx_acme_eab_hmac_key": "HMAC-SECRET"}, "give both"),
    ({"nginx_acme_email": "it at clinic"}, "nginx_acme_email: 'it at clinic' is not a valid email address"),
    ({"nginx_acme_directory_url": "http://acme.example/dir"}, "nginx_acme_directory_url: 'http://acme.example/dir'"),
    ({"nginx_acme_renew_remaining_share": 30}, "nginx_acme_renew_remaining_share: 30 must be a share"),
    ({"nginx_acme_renew_remaining_share": True}, "nginx_acme_renew_remaining_share: True"),
    ({"nginx_acme_dns_propagation_seconds": -1}, "nginx_acme_dns_propagation_seconds: -1"),
    ({"nginx_acme_dir": "acme"}, "nginx_acme_dir: 'acme' must be an absolute path"),
    ({"nginx_acme_account_key_file": "private/acme.key"}, "nginx_acme_account_key_file: 'private/acme.key'"),
])
def test_acme_mode_problems_name_the_variable_and_never_a_secret(overrides, expected):
    errors = nginx_input_errors(acme(**overrides))
    assert any(expected in e for e in errors), errors
    assert not any("SECRET" in e for e in errors), errors


def test_acme_settings_are_not_checked_in_other_modes():
    assert nginx_input_errors(good(nginx_acme_cloudflare_zone="", nginx_acme_terms_agreed=False)) == []
