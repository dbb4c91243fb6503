"""Changes, in order, with the real cloudflared: refused input changes nothing; an upgrade restarts the connectors
and waits for the new ones to start; an unpinned key is refused; the Pi moves from the package back to the single
binary and a re-run changes nothing; a connector that never gets ready fails the run clearly within its timeout;
removal removes everything."""

import re
import time

from conftest import (
    CONFIG_DIR,
    MIRROR_VARS,
    OSCAR,
    PI,
    READY,
    TOKEN,
    TUNNEL_ID,
    UNIT,
    container,
    extra_vars,
    http_code,
    leaks,
    recap,
    run_playbook,
    running_version,
    service_property,
    snapshot,
    started_tunnel,
)

UPGRADED = extra_vars(test_upgrade=True)


def test_bad_input_is_refused_before_anything_changes():
    """One run for both hosts: the OSCAR host gets a bad rule set (all problems reported at once, by variable)
    and fails at the settings check; the Pi gets a mirror file whose SHA-256 does not match and fails at the
    download. Neither host changes."""
    oscar, pi = container(OSCAR), container(PI)
    before = {OSCAR: snapshot(oscar), PI: snapshot(pi)}
    mirror = {arch: {"url": "http://127.0.0.1:8089/cloudflared-2026.8.2-linux-amd64", "sha256": "0" * 64}
              for arch in ("amd64", "arm64")}
    rc, out = run_playbook(*extra_vars(
        cloudflared_ingress_extra_rules=[
            {"hostname": "files.clinic.test:8443", "service": "https://127.0.0.1:8443/files"},
            {"service": "http_status:404"},
            {"hostname": "x.clinic.test", "service": "http://127.0.0.1:8081", "path": "(?=lookahead)"},
        ],
        cloudflared_packages=mirror,
        cloudflared_version="2026.8.2",
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
    assert running_version(pi) == "2025.2.1"


def test_an_upgrade_restarts_the_service_and_waits_for_the_new_connector_without_leaking_secrets():
    """OSCAR: .deb 2025.2.1 -> 2026.8.2. Pi: binary 2025.2.1 from the mirror -> 2026.8.2 from the pinned-key
    apt repository, which moves the token from TUNNEL_TOKEN to --token-file. Run verbose and with --diff."""
    oscar, pi = container(OSCAR), container(PI)
    before = {name: service_property(container(name), "InvocationID") for name in (OSCAR, PI)}
    rc, out = run_playbook(*UPGRADED, "--diff", "-v")
    assert rc == 0, out[-4000:]
    assert not leaks(out), "a secret reached Ansible's output"
    assert "TUNNEL_TOKEN=" not in out
    assert re.search(r"RUNNING HANDLER \[.*Restart cloudflared\]", out)
    ready_task = out[out.index("Wait until the connector has started (isolated test edge)"):]
    assert re.search(r"ok: \[%s\]" % OSCAR, ready_task) and re.search(r"ok: \[%s\]" % PI, ready_task)

    for name, host in ((OSCAR, oscar), (PI, pi)):
        assert service_property(host, "InvocationID") != before[name], "%s was not restarted" % name
        assert running_version(host) == "2026.8.2" and started_tunnel(host) == TUNNEL_ID
    assert oscar.check_output("dpkg-query -W -f='${Version}' cloudflared") == "2026.8.2"

    # The Pi: package from the repository, token through LoadCredential= and --token-file (the real connector
    # started from it: it names the token's tunnel).
    assert pi.check_output("dpkg-query -W -f='${Version}' cloudflared") == "2026.8.2"
    # The package's postinst links /usr/local/bin/cloudflared to /usr/bin/cloudflared; the role leaves that link.
    assert pi.file("/usr/local/bin/cloudflared").linked_to == "/usr/bin/cloudflared"
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
    assert "not in the pinned list" in out and MIRROR_VARS["mirror_fingerprint"] in out
    assert host.file("/etc/apt/keyrings/cloudflared.gpg").sha256sum == keyring_before


def test_switching_from_the_package_to_the_single_binary_keeps_the_binary_and_a_rerun_changes_nothing():
    """Break 5 of issue 11: the package's postrm removes /usr/local/bin/cloudflared. The role purges the package
    before it puts the binary there, so the binary it installs survives; a re-run reports no change."""
    host = container(PI)
    rc, out = run_playbook(limit=PI)
    assert rc == 0, out[-3000:]
    binary = host.file("/usr/local/bin/cloudflared")
    assert binary.exists and binary.is_file and not binary.is_symlink
    assert binary.sha256sum == MIRROR_VARS["mirror_files"]["cloudflared-2025.2.1-linux-amd64"]["sha256"]
    assert host.run("dpkg-query -W -f='${Status}' cloudflared").stdout.find("install ok installed") < 0
    assert running_version(host) == "2025.2.1"
    rc, out = run_playbook(limit=PI)
    assert rc == 0 and recap(out, PI)[1] == 0, out[-3000:]


def test_a_connector_that_never_gets_ready_fails_the_run_clearly_within_its_timeout():
    """Break 3 of issue 11: the real connector sends READY=1 only after an edge connection. Here, not pinned to the
    test edge, it finds no route to Cloudflare (prepare.yml) and never gets ready: the run fails after
    cloudflared_ready_timeout with a message naming it, and does not hang (no blocking restart)."""
    start = time.monotonic()
    rc, out = run_playbook(*UPGRADED, *extra_vars(cloudflared_test_edge="", cloudflared_ready_timeout=8), limit=PI)
    elapsed = time.monotonic() - start
    assert rc != 0
    assert "cloudflared did not report ready on http://127.0.0.1:20241/ready within 8 s (cloudflared_ready_timeout" \
        in out, out[-3000:]
    assert "systemd got no READY=1" in out
    assert not leaks(out)
    assert elapsed < 150, "the run took %.0f s" % elapsed


def test_the_role_waits_for_ready_1_and_ready_of_a_connector_that_reaches_an_edge():
    """The ready path, which no real connector can take here (no edge answers): the TEST DOUBLE simulates an edge
    that accepts the tunnel and then, as cloudflared after its first edge connection, sends READY=1 and answers
    /ready 200 (tests/unit/test_cloudflared_double_contract.py holds it to the real binary on everything else). The
    OSCAR host gets its package, not pinned to the test edge; the role restarts it without blocking and waits for
    the new process to be ready."""
    host = container(OSCAR)
    before = service_property(host, "InvocationID")
    double = MIRROR_VARS["double_deb"]
    rc, out = run_playbook(*extra_vars(cloudflared_test_edge="", cloudflared_version="2026.8.2",
                                       cloudflared_packages={"amd64": {"src": double["path"],
                                                                       "sha256": double["sha256"]}}), limit=OSCAR)
    assert rc == 0, out[-3000:]
    waited = out[out.index("Wait until the connector reports ready"):].split("TASK [", 1)[0]
    assert "ok: [%s]" % OSCAR in waited, out[-3000:]
    assert "TEST DOUBLE" in host.check_output("/usr/bin/cloudflared --version")
    assert service_property(host, "InvocationID") != before
    assert (service_property(host, "ActiveState"), service_property(host, "SubState")) == ("active", "running")
    assert http_code(host, READY) == "200"


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
    # The other replica keeps running.
    assert service_property(container(OSCAR), "ActiveState") == "active"  # the double, since the test above


def test_a_first_check_mode_run_on_a_bare_host_reports_the_install_and_changes_nothing():
    host = container(PI)
    rc, out = run_playbook(*UPGRADED, "--check", limit=PI)
    assert rc == 0, out[-3000:]
    assert recap(out, PI)[1] > 0, "check mode reports what it would do"
    for path in (UNIT, CONFIG_DIR, "/usr/bin/cloudflared", "/etc/apt/keyrings/cloudflared.gpg"):
        assert not host.file(path).exists, path
    assert not host.user("cloudflared").exists
