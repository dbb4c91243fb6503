"""Changing the ruleset: refused input, lockout consent, check mode, rollback without confirmation.

These tests re-run the scenario's converge playbook against the server with --extra-vars. Each leaves the
server as it found it. (The confirmed path is the converge itself: test_firewall.py checks that nothing is
left pending after it.)
"""

import re

from conftest import (
    CLIENT4,
    RULESET,
    SERVER4,
    ctl_state,
    extra_vars,
    is_open,
    live_table,
    probe,
    run_playbook,
    snapshot,
    wait_for,
)

# A change on top of the baseline: open 8081 to the client.
EXTRA_8081 = [{"name": "extra", "port": 8081, "sources": [CLIENT4 + "/32"]}]
TARGET_8081 = ("tcp", CLIENT4, SERVER4, 8081)
RECAP = re.compile(r"^firewall-server\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", re.M)


def recap(output):
    match = RECAP.search(output)
    assert match, output[-3000:]
    return int(match.group(1)), int(match.group(2))


def test_bad_input_fails_before_anything_changes(server):
    before = snapshot(server)
    services = [
        {"name": "web", "port": "9002-9000", "sources": [CLIENT4 + "/32"]},
        {"name": "web", "port": 8443, "sources": ["10.0.0.300/24"]},
        {"name": "dns", "port": 70000, "protocol": "udp", "sources": ["192.168.1.1/24"]},
    ]
    rc, out = run_playbook(*extra_vars(test_services=services))
    assert rc != 0
    assert "firewall_services[1].sources[0]: '10.0.0.300/24' is not a valid CIDR" in out
    assert "firewall_services[0].port: '9002-9000' is not a valid range" in out
    assert "firewall_services[1].name: 'web' is already used by firewall_services[0]" in out
    assert "firewall_services[2].port: 70000 is out of range" in out
    assert "firewall_services[2].sources[0]: '192.168.1.1/24' has host bits set" in out
    assert snapshot(server) == before


def test_management_lockout_needs_consent(server):
    before = snapshot(server)
    rc, out = run_playbook(*extra_vars(firewall_management_sources=[]))
    assert rc != 0
    assert "firewall_management_sources: is empty" in out
    assert "set firewall_allow_management_lockout: true" in out
    assert snapshot(server) == before


def test_check_mode_shows_the_diff_and_changes_nothing(server):
    """Also: with consent, a ruleset without management sources passes validation."""
    before = snapshot(server)
    rc, out = run_playbook("--check", "--diff", *extra_vars(
        test_extra_services=EXTRA_8081, firewall_management_sources=[], firewall_allow_management_lockout=True))
    assert rc == 0, out[-3000:]
    assert recap(out)[0] > 0
    added = r'^\+\s*tcp dport 8081 ip saddr 198\.51\.100\.20/32 accept comment "extra"'
    assert re.search(added, out, re.M), out[-3000:]
    assert re.search(r'^-\s*tcp dport 22 ip saddr 198\.51\.100\.21/32 accept comment "management"', out, re.M)
    assert snapshot(server) == before


def test_unconfirmed_change_rolls_back_by_itself(server, client):
    before = snapshot(server)
    timeout = 30
    rc, out = run_playbook(*extra_vars(test_extra_services=EXTRA_8081, firewall_rollback_timeout=timeout,
                                       __firewall_skip_confirm=True))
    assert rc == 0, out[-3000:]
    # The change is live and persisted, and a rollback is pending...
    assert ctl_state(server) == "pending", "rolled back already: the playbook took longer than the timeout?"
    assert 'comment "extra"' in live_table(server)
    assert "8081" in server.file(RULESET).content_string
    assert is_open(probe(client, [TARGET_8081])[TARGET_8081])
    # ...until the host restores the previous table and file by itself.
    assert wait_for(lambda: ctl_state(server) != "pending", timeout + 15)
    assert snapshot(server) == before
    assert ctl_state(server) == "in-sync"
    assert not is_open(probe(client, [TARGET_8081])[TARGET_8081])
    journal = server.check_output("journalctl -u oscar-remote-access-firewall-rollback.service --no-pager")
    assert "restored the previous live table" in journal
