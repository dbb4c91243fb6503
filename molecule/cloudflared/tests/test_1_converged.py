"""The converged connectors, the real cloudflared: the OSCAR host (Debian 12, locally managed tunnel, .deb
2025.2.1) and the Pi (Debian 13, token, single binary 2025.2.1 from the mirror), both running the same tunnel,
pinned to a local edge that answers nothing."""

import re

import pytest
from conftest import (
    CONFIG_DIR,
    HOSTS,
    OSCAR,
    PI,
    READY,
    TEST_EDGE,
    TUNNEL_ID,
    UNIT,
    connector_log,
    container,
    http_code,
    leaks,
    running_version,
    service_property,
    started_tunnel,
)

EXPECTED = {
    OSCAR: {"version": "2025.2.1", "binary": "/usr/bin/cloudflared", "os": "12"},
    PI: {"version": "2025.2.1", "binary": "/usr/local/bin/cloudflared", "os": "13"},
}


@pytest.mark.parametrize("name", HOSTS)
def test_service_runs_enabled_as_the_dedicated_user(name):
    host = container(name)
    # Type=notify and no edge to connect to: the process runs, the unit stays "activating" (never READY=1).
    assert service_property(host, "ActiveState") == "activating" and service_property(host, "MainPID") != "0"
    assert host.service("cloudflared").is_enabled
    pid = service_property(host, "MainPID")
    assert host.check_output("ps -o user= -p %s", pid) == "cloudflared"
    user = host.user("cloudflared")
    assert user.shell == "/usr/sbin/nologin"
    assert user.uid < 1000, "a system user"
    assert user.group == "cloudflared"
    assert user.groups == ["cloudflared"]


@pytest.mark.parametrize("name", HOSTS)
def test_the_real_release_runs_on_debian_12_and_13_pinned_to_the_local_edge(name):
    host = container(name)
    assert host.check_output(". /etc/os-release && echo $VERSION_ID") == EXPECTED[name]["os"]
    assert running_version(host) == EXPECTED[name]["version"]
    assert "TEST DOUBLE" not in host.check_output("%s --version", EXPECTED[name]["binary"])
    exec_start = service_property(host, "ExecStart")
    assert "tunnel --config /etc/cloudflared/config.yml --edge %s run" % TEST_EDGE in exec_start
    log = connector_log(host)
    assert "edge:[%s]" % TEST_EDGE in log and "no-autoupdate:true" in log
    dialled = re.findall(r"\bip=(\S+)", log)
    assert dialled and set(dialled) == {"127.0.0.1"}, "it dials the local edge only: %s" % sorted(set(dialled))


def test_the_two_connectors_are_replicas_of_one_tunnel():
    oscar, pi = container(OSCAR), container(PI)
    assert started_tunnel(oscar) == started_tunnel(pi) == TUNNEL_ID
    ids = [re.search(r"Generated Connector ID: (\S+)", connector_log(host)).group(1) for host in (oscar, pi)]
    assert ids[0] != ids[1]


def test_oscar_files_modes_and_owners():
    host = container(OSCAR)
    expected = {
        CONFIG_DIR: ("root", "cloudflared", 0o750),
        CONFIG_DIR + "/config.yml": ("root", "cloudflared", 0o640),
        CONFIG_DIR + "/origin-ca.pem": ("root", "cloudflared", 0o640),
        "%s/%s.json" % (CONFIG_DIR, TUNNEL_ID): ("cloudflared", "cloudflared", 0o600),
        UNIT: ("root", "root", 0o644),
        "/var/cache/cloudflared-ansible": ("root", "root", 0o700),
    }
    for path, (user, group, mode) in expected.items():
        item = host.file(path)
        assert item.exists, path
        assert (item.user, item.group, item.mode) == (user, group, mode), path
    for absent in ("token", "tunnel.env"):
        assert not host.file("%s/%s" % (CONFIG_DIR, absent)).exists
    assert host.check_output("ls %s", CONFIG_DIR).split() == sorted(
        ["config.yml", "origin-ca.pem", TUNNEL_ID + ".json"])


def test_pi_files_modes_and_owners():
    host = container(PI)
    env = host.file(CONFIG_DIR + "/tunnel.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert env.content_string.startswith("TUNNEL_TOKEN=")
    assert not host.file(CONFIG_DIR + "/token").exists
    assert host.check_output("ls %s", CONFIG_DIR).split() == ["config.yml", "origin-ca.pem", "tunnel.env"]
    binary = host.file("/usr/local/bin/cloudflared")
    assert (binary.user, binary.group, binary.mode) == ("root", "root", 0o755)
    assert host.run("dpkg-query -W cloudflared").rc != 0, "the binary method installs no package"


@pytest.mark.parametrize("name", HOSTS)
def test_no_secret_in_the_process_list_unit_journal_or_world_readable_files(name):
    host = container(name)
    places = {
        "ps": host.check_output("ps -eo user,pid,args --no-headers"),
        "cmdline": host.check_output("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; true"),
        "unit": host.file(UNIT).content_string,
        "systemctl show": host.check_output("systemctl show cloudflared.service"),
        "journal": host.check_output("journalctl -u cloudflared.service --no-pager -o cat"),
        "config.yml": host.file(CONFIG_DIR + "/config.yml").content_string,
        "world-readable files": host.check_output(
            "find /etc /var /run /tmp /usr/local -xdev -type f -perm -o+r -size -1M "
            "-exec grep -l -F -e molecule-test-tunnel-secret -e bW9sZWN1bGUtdGVzdC10dW5uZWwtc2VjcmV0 {} + "
            "2>/dev/null; true"),
    }
    found = {place: leaks(text) for place, text in places.items() if leaks(text)}
    assert not found
    assert places["world-readable files"].strip() == ""


@pytest.mark.parametrize("name", HOSTS)
def test_hardening_score_is_ok_or_better(name):
    out = container(name).check_output("systemd-analyze security cloudflared.service --no-pager")
    score = float(re.search(r"Overall exposure level for cloudflared\.service: ([0-9.]+)", out).group(1))
    assert score <= 2.5, out[-2000:]


@pytest.mark.parametrize("name", HOSTS)
def test_unit_is_the_roles_own_and_hardened(name):
    host = container(name)
    unit = host.file(UNIT).content_string
    directives = ("Type=notify", "User=cloudflared", "Group=cloudflared", "NoNewPrivileges=yes",
                  "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=",
                  "SystemCallFilter=@system-service", "Restart=on-failure")
    for directive in directives:
        assert directive in unit, directive
    exec_start = service_property(host, "ExecStart")
    assert "--no-autoupdate" in exec_start
    assert "--token " not in exec_start and "--token=" not in exec_start
    assert EXPECTED[name]["binary"] in exec_start
    if name == PI:
        assert "EnvironmentFile=/etc/cloudflared/tunnel.env" in unit
        assert "LoadCredential" not in unit and "--token-file" not in unit
    else:
        assert "EnvironmentFile" not in unit and "LoadCredential" not in unit
    assert service_property(host, "CapabilityBoundingSet") == ""
    assert host.file("/etc/systemd/system/cloudflared-update.timer").exists is False


@pytest.mark.parametrize("name", HOSTS)
def test_metrics_and_ready_listen_on_loopback_only(name):
    host = container(name)
    listening = host.check_output("ss -Hltn")
    assert "127.0.0.1:20241" in listening
    assert not re.search(r"(0\.0\.0\.0|\*|\[::\]):20241", listening)


@pytest.mark.parametrize("name", HOSTS)
def test_without_an_edge_the_connector_stays_up_starting_and_not_ready(name):
    """Type=notify: the real connector sends READY=1 only after its first edge connection. Pinned to an edge that
    answers nothing, it keeps retrying in one process: the unit stays "activating", /ready says 503, /healthcheck
    200, and systemd does not kill and restart it."""
    host = container(name)
    assert (service_property(host, "ActiveState"), service_property(host, "SubState")) == ("activating", "start")
    assert service_property(host, "NRestarts") == "0"
    assert service_property(host, "TimeoutStartUSec") == "infinity"
    assert http_code(host, READY) == "503"
    assert http_code(host, "http://127.0.0.1:20241/healthcheck") == "200"


def test_oscar_config_routes_oscar_to_the_verified_front_door_with_access():
    config = container(OSCAR).file(CONFIG_DIR + "/config.yml").content_string
    expected = """tunnel: 3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab
credentials-file: /etc/cloudflared/3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab.json
metrics: 127.0.0.1:20241
loglevel: info
protocol: quic
no-autoupdate: true
ingress:
- hostname: emr.clinic.test
  service: https://127.0.0.1:443
  originRequest:
    originServerName: emr.clinic.test
    caPool: /etc/cloudflared/origin-ca.pem
    access:
      required: true
      teamName: molecule-clinic
      audTag:
      - 4714e1bf2e2a7c0a8b4c53bd6f4ad1e2c0f9e1a3b5d7f9e1a3b5d7f9e1a3b5d7
- hostname: '*.files.clinic.test'
  service: http://127.0.0.1:8080
  originRequest:
    connectTimeout: 10s
- service: http_status:404
"""
    assert config.endswith(expected)
    assert "noTLSVerify" not in config


def test_pi_config_holds_no_ingress_for_a_remotely_managed_tunnel():
    config = container(PI).file(CONFIG_DIR + "/config.yml").content_string
    settings = [line for line in config.splitlines() if not line.startswith("#")]
    assert settings == ["metrics: 127.0.0.1:20241", "loglevel: info", "protocol: quic", "no-autoupdate: true"]


@pytest.mark.parametrize("name", HOSTS)
def test_the_real_cloudflared_validates_every_rendered_config(name):
    host = container(name)
    result = host.run("%s tunnel --config %s/config.yml ingress validate", EXPECTED[name]["binary"], CONFIG_DIR)
    if name == OSCAR:
        assert result.rc == 0 and result.stdout.strip().endswith("OK"), result.stdout + result.stderr
    else:  # a remotely managed tunnel: its ingress lives in Cloudflare, config.yml has none
        assert result.rc == 1 and "doesn't contain any ingress rules" in result.stderr


def test_the_origin_ca_from_a_root_only_directory_is_readable_by_the_connector():
    """Break 1 of issue 11: the CA sits in a root-only 0700 directory (as the nginx role keeps it). The role copies
    it where the connector's group reads it; the real connector loads it and does not crash-loop."""
    host = container(OSCAR)
    assert host.file("/etc/test-front-door/ca").mode == 0o700
    config = host.file(CONFIG_DIR + "/config.yml").content_string
    assert "caPool: /etc/cloudflared/origin-ca.pem" in config
    assert host.run("runuser -u cloudflared -- test -r /etc/cloudflared/origin-ca.pem").rc == 0
    assert host.file(CONFIG_DIR + "/origin-ca.pem").content_string == host.file(
        "/etc/test-front-door/ca/ca.crt").content_string
    assert "Error loading cert pool" not in host.check_output("journalctl -u cloudflared --no-pager -o cat")
    assert service_property(host, "NRestarts") == "0"


def test_cloudflareds_own_validation_rejects_a_bad_rule_set():
    host = container(OSCAR)
    bad = (
        "ingress:\n"
        "  - hostname: emr.clinic.test:443\n"
        "    service: https://127.0.0.1:443/oscar\n"
        "  - hostname: emr.clinic.test\n"
        "    service: http_status:404\n"
    )
    host.run("printf '%%s' %s > /tmp/bad-config.yml", bad)
    result = host.run("cloudflared tunnel --config /tmp/bad-config.yml ingress validate")
    assert result.rc == 1
    assert result.stderr.startswith("Validation failed")


def test_the_old_release_has_no_token_file_flag_hence_the_environment_file():
    """Break 4 of issue 11: on an unknown flag the real cloudflared prints its usage on stdout and exits 0, so the
    role reads the help text, not the exit status."""
    result = container(PI).run("/usr/local/bin/cloudflared tunnel run --token-file /nonexistent")
    assert result.rc == 0
    assert "Incorrect Usage: flag provided but not defined: -token-file" in result.stdout
    assert "--token-file" not in container(PI).check_output("/usr/local/bin/cloudflared tunnel run --help")


def _reaches(host, address, port):
    return host.run("curl -s -o /dev/null --max-time 3 http://%s:%s/", address, str(port)).rc == 0


def test_site_yml_gave_the_filtering_firewall_what_the_connector_needs_and_nothing_more():
    """The OSCAR host filters outbound traffic (firewall_egress_enabled); its inventory lists no cloudflared rule,
    so the ones in its output chain came from the cloudflared role through site.yml. The Pi serves two test ports
    and lets both in; only the connector's port gets out of the OSCAR host."""
    oscar, pi = container(OSCAR), container(PI)
    output = oscar.check_output("nft list chain inet oscar_remote_access output")
    assert "policy drop" in output
    for rule in ('udp dport 7844 ip daddr 0.0.0.0/0 accept comment "cloudflared-quic"',
                 'tcp dport 7844 ip daddr 0.0.0.0/0 accept comment "cloudflared-http2"',
                 'tcp dport 443 ip daddr 0.0.0.0/0 accept comment "cloudflared-api"'):
        assert rule in output, output
    assert "9999" not in output

    address = pi.check_output("hostname -I").split()[0]
    for port in (7844, 9999):
        pi.run("systemd-run --unit=test-listener-%s python3 -m http.server %s", str(port), str(port))
    for port in (7844, 9999):
        pi.run(f"timeout 20 sh -c 'until curl -s -o /dev/null http://127.0.0.1:{port}/; do sleep 0.5; done'")
    try:
        assert _reaches(oscar, address, 7844)
        assert not _reaches(oscar, address, 9999)
        # Control: with 9999 allowed out for a moment, the same request gets through, so it was the egress filter.
        oscar.check_output("nft insert rule inet oscar_remote_access output tcp dport 9999 accept comment test-control")
        try:
            assert _reaches(oscar, address, 9999)
        finally:
            handles = re.findall(r'comment "test-control" # handle (\d+)',
                                 oscar.check_output("nft -a list chain inet oscar_remote_access output"))
            for handle in handles:
                oscar.check_output("nft delete rule inet oscar_remote_access output handle %s", handle)
    finally:
        for port in (7844, 9999):
            pi.run("systemctl stop test-listener-%s", str(port))
