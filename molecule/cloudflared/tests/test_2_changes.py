"""Changes, in order: refused input changes nothing; an upgrade restarts and waits for /ready; an unpinned
key is refused; a connector that never gets ready fails the run clearly; removal removes everything."""

import re

from conftest import (
    CONFIG_DIR,
    DOUBLE_VARS,
    NEVER_READY_TOKEN,
    OSCAR,
    PI,
    TOKEN,
    TUNNEL_ID,
    UNIT,
    container,
    double_info,
    extra_vars,
    leaks,
    recap,
    run_playbook,
    service_property,
    snapshot,
)

UPGRADED = extra_vars(test_upgrade=True)


def test_bad_input_is_refused_before_anything_changes():
    """One run for both hosts: the OSCAR host gets a bad rule set (all problems reported at once, by variable)
    and fails at the settings check; the Pi gets a mirror file whose SHA-256 does not match and fails at the
    download. Neither host changes."""
    oscar, pi = container(OSCAR), container(PI)
    before = {OSCAR: snapshot(oscar), PI: snapshot(pi)}
    mirror = {arch: {"url": "http://127.0.0.1:8089/cloudflared-2025.9.0-linux-%s" % arch, "sha256": "0" * 64}
              for arch in ("amd64", "arm64")}
    rc, out = run_playbook(*extra_vars(
        cloudflared_ingress_extra_rules=[
            {"hostname": "files.clinic.test:8443", "service": "https://127.0.0.1:8443/files"},
            {"service": "http_status:404"},
            {"hostname": "x.clinic.test", "service": "http://127.0.0.1:8081", "path": "(?=lookahead)"},
        ],
        cloudflared_packages=mirror,
        cloudflared_version="2025.9.0",
    ))
    assert rc != 0
    for message in (
        "cloudflared_ingress_extra_rules[0] (rule #2): Hostname cannot contain a port",
        "cloudflared_ingress_extra_rules[0] (rule #2): https://127.0.0.1:8443/files is an invalid address",
        "cloudflared_ingress_extra_rules[1] (rule #3): Rule #3 is matching the hostname ''",
        "cloudflared_ingress_extra_rules[2] (rule #4): Rule #4 has an invalid regex",
        "cloudflared_packages.amd64.src: is required with install method 'file'",
    ):
        assert message in out, message
    settings_check = out[out.index("Check the settings before anything changes"):]
    assert re.search(r"fatal: \[%s\]" % OSCAR, settings_check.split("TASK [")[0])
    assert "Download the pinned package from the mirror" in out
    assert re.search(r"(?i)checksum mismatch|did not match", out), out[-2000:]
    assert recap(out, OSCAR)[1] == 0 and recap(out, PI)[1] == 0, "nothing may change"
    assert snapshot(oscar) == before[OSCAR]
    assert snapshot(pi) == before[PI]
    assert double_info(pi)["version"] == "2024.12.0"


def test_an_upgrade_restarts_the_service_and_waits_for_ready_without_leaking_secrets():
    """OSCAR: .deb 2025.8.0 -> 2025.9.0. Pi: binary 2024.12.0 from the mirror -> 2025.8.0 from the pinned-key
    apt repository, which moves the token from TUNNEL_TOKEN to --token-file. Run verbose and with --diff."""
    oscar, pi = container(OSCAR), container(PI)
    before = {name: service_property(container(name), "InvocationID") for name in (OSCAR, PI)}
    rc, out = run_playbook(*UPGRADED, "--diff", "-v")
    assert rc == 0, out[-4000:]
    assert not leaks(out), "a secret reached Ansible's output"
    assert "TUNNEL_TOKEN=" not in out
    assert re.search(r"RUNNING HANDLER \[.*Restart cloudflared\]", out)
    ready_task = out[out.index("Wait until the connector reports ready"):]
    assert re.search(r"ok: \[%s\]" % OSCAR, ready_task) and re.search(r"ok: \[%s\]" % PI, ready_task)

    for name, host, version in ((OSCAR, oscar, "2025.9.0"), (PI, pi, "2025.8.0")):
        assert service_property(host, "InvocationID") != before[name], "%s was not restarted" % name
        info = double_info(host)
        assert info["version"] == version and info["ready"] and info["tunnelID"] == TUNNEL_ID
    assert oscar.check_output("dpkg-query -W -f='${Version}' cloudflared") == "2025.9.0+testdouble"

    # The Pi: package from the repository, token through LoadCredential= and --token-file.
    assert double_info(pi)["credentialSource"] == "token-file"
    assert pi.check_output("dpkg-query -W -f='${Version}' cloudflared") == "2025.8.0+testdouble"
    assert not pi.file("/usr/local/bin/cloudflared").exists
    assert not pi.file(CONFIG_DIR + "/tunnel.env").exists
    token = pi.file(CONFIG_DIR + "/token")
    assert (token.user, token.group, token.mode) == ("root", "root", 0o600)
    assert token.content_string.strip() == TOKEN
    unit = pi.file(UNIT).content_string
    assert "LoadCredential=tunnel-token:/etc/cloudflared/token" in unit
    assert "--token-file %d/tunnel-token" in unit and "EnvironmentFile" not in unit
    sources = pi.file("/etc/apt/sources.list.d/cloudflared.sources").content_string
    assert "Signed-By: /etc/apt/keyrings/cloudflared.gpg" in sources
    assert "URIs: http://127.0.0.1:8089/apt" in sources and "Suites: any" in sources
    keyring = pi.file("/etc/apt/keyrings/cloudflared.gpg")
    assert (keyring.user, keyring.mode) == ("root", 0o644)
    for place in (pi.check_output("ps -eo args --no-headers"), pi.file(UNIT).content_string,
                  pi.check_output("journalctl -u cloudflared.service --no-pager -o cat"),
                  pi.check_output("systemctl show cloudflared.service")):
        assert not leaks(place)
    score = pi.check_output("systemd-analyze security cloudflared.service --no-pager")
    assert float(re.search(r"Overall exposure level for cloudflared\.service: ([0-9.]+)", score).group(1)) <= 2.5


def test_the_repository_install_is_idempotent():
    rc, out = run_playbook(*UPGRADED, limit=PI)
    assert rc == 0, out[-3000:]
    assert recap(out, PI)[1] == 0, out[-3000:]


def test_a_signing_key_without_a_pinned_fingerprint_is_refused():
    host = container(PI)
    keyring_before = host.file("/etc/apt/keyrings/cloudflared.gpg").sha256sum
    rc, out = run_playbook(*UPGRADED, *extra_vars(cloudflared_apt_key_fingerprints=["AB" * 20]), limit=PI)
    assert rc != 0
    assert "not in the pinned list" in out and DOUBLE_VARS["double_fingerprint"] in out
    assert host.file("/etc/apt/keyrings/cloudflared.gpg").sha256sum == keyring_before


def test_a_connector_that_never_gets_ready_fails_the_run_with_a_clear_message():
    rc, out = run_playbook(*UPGRADED, *extra_vars(cloudflared_tunnel_token=NEVER_READY_TOKEN,
                                                  cloudflared_ready_timeout=6), limit=PI)
    assert rc != 0
    assert "cloudflared did not report ready on http://127.0.0.1:20241/ready within 6 s" in out, out[-3000:]
    assert "last answer: 503" in out
    assert not leaks(out) and NEVER_READY_TOKEN not in out


def test_removal_stops_the_service_and_removes_unit_config_secrets_and_package():
    host = container(PI)
    rc, out = run_playbook(*UPGRADED, *extra_vars(cloudflared_state="absent"), limit=PI)
    assert rc == 0, out[-3000:]
    assert host.run("systemctl is-active cloudflared.service").stdout.strip() in ("inactive", "unknown")
    removed = (UNIT, CONFIG_DIR, "/var/lib/cloudflared", "/var/cache/cloudflared-ansible", "/usr/local/bin/cloudflared",
               "/usr/bin/cloudflared", "/etc/apt/sources.list.d/cloudflared.sources",
               "/etc/apt/keyrings/cloudflared.gpg")
    for path in removed:
        assert not host.file(path).exists, path
    assert host.run("dpkg-query -W -f='${Status}' cloudflared").stdout.find("install ok installed") < 0
    assert not host.user("cloudflared").exists and not host.group("cloudflared").exists
    assert "20241" not in host.check_output("ss -Hltn")
    assert "cloudflared --no-autoupdate" not in host.check_output("ps -eo args --no-headers")
    assert host.run("grep -rlF %s /etc /var/lib /run 2>/dev/null", TOKEN[:40]).stdout == ""
    # The other replica keeps serving.
    assert double_info(container(OSCAR))["ready"]


def test_a_first_check_mode_run_on_a_bare_host_reports_the_install_and_changes_nothing():
    host = container(PI)
    rc, out = run_playbook(*UPGRADED, "--check", limit=PI)
    assert rc == 0, out[-3000:]
    assert recap(out, PI)[1] > 0, "check mode reports what it would do"
    for path in (UNIT, CONFIG_DIR, "/usr/bin/cloudflared", "/etc/apt/keyrings/cloudflared.gpg"):
        assert not host.file(path).exists, path
    assert not host.user("cloudflared").exists
