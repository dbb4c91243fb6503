"""The converged firewall: who gets in, who does not, what else is left alone, and that it persists."""

import re

from conftest import (
    ADMIN4,
    ADMIN6,
    CLIENT4,
    CLIENT6,
    CTL,
    OTHER4,
    OTHER6,
    RULESET,
    SERVER,
    SERVER4,
    SERVER6,
    TABLE,
    ctl_state,
    is_open,
    live_table,
    probe,
    restart_container,
)

# (proto, source, destination, port) -> expected to connect
FROM_CLIENT = {
    ("tcp", CLIENT4, SERVER4, 8080): True,  # web: the client is in its sources
    ("tcp", CLIENT6, SERVER6, 8080): True,  # ... over IPv6 too (needs neighbour discovery)
    ("tcp", CLIENT4, SERVER4, 8081): False,  # a listener no service names
    ("tcp", CLIENT4, SERVER4, 9000): True,  # first port of the range 9000-9002
    ("tcp", CLIENT4, SERVER4, 9002): True,  # last port of the range
    ("tcp", CLIENT4, SERVER4, 9003): False,  # just outside it
    ("udp", CLIENT4, SERVER4, 10053): True,  # a UDP service
    ("udp", CLIENT4, SERVER4, 10054): False,  # a UDP listener no service names
    ("tcp", CLIENT4, SERVER4, 22): False,  # SSH: only the admin workstation
    ("tcp", CLIENT6, SERVER6, 22): False,
    ("tcp", ADMIN4, SERVER4, 22): True,  # management sources
    ("tcp", ADMIN6, SERVER6, 22): True,
    ("tcp", ADMIN4, SERVER4, 8080): False,  # management sources get SSH, not the services
    ("tcp", CLIENT4, OTHER4, 8080): True,  # the other host's own allowlist; its replies pass its egress filter
    ("tcp", CLIENT6, OTHER6, 8080): False,  # ... which lists only the client's IPv4 address
}

FROM_OTHER = {
    ("tcp", OTHER4, SERVER4, 8080): False,  # not in web's sources (its egress filter allows it: see below)
    ("tcp", OTHER6, SERVER6, 8080): False,
    ("tcp", OTHER4, SERVER4, 9000): True,  # in app-range's sources, and allowed out
    ("tcp", OTHER6, SERVER6, 9002): True,
    ("tcp", OTHER4, CLIENT4, 8080): False,  # the client has no firewall: the other host's egress filter stops it
    ("tcp", OTHER6, CLIENT6, 9000): False,
}


def check(host, expected):
    answers = probe(host, list(expected))
    wrong = {t: answers[t] for t, want in expected.items() if is_open(answers[t]) != want}
    assert not wrong, f"unexpected results (proto, source, destination, port): {wrong}"


def test_client_reaches_exactly_what_the_allowlist_says(client):
    check(client, FROM_CLIENT)


def test_host_not_in_the_sources_is_refused_and_egress_is_filtered(other):
    check(other, FROM_OTHER)
    rules = live_table(other)
    # The refusal of other -> server:8080 is the server's doing: the other host lets it out.
    assert 'tcp dport 8080 ip daddr 198.51.100.10 accept comment "to-server-web"' in rules


def test_loopback_and_the_servers_own_connections_are_allowed(server):
    check(server, {
        ("tcp", "", "127.0.0.1", 8081): True,
        ("tcp", "", "::1", 8081): True,
        ("tcp", SERVER4, CLIENT4, 8080): True,  # no egress filter by default
    })


def test_other_tables_are_untouched(server):
    tables = server.check_output("nft list tables").splitlines()
    assert "table inet podman_like" in tables
    assert "table ip fail2ban_like" in tables
    assert f"table inet {TABLE}" in tables
    podman_like = server.check_output("nft list table inet podman_like")
    assert 'ip saddr 10.88.0.0/16 accept comment "podman_like container traffic"' in podman_like
    fail2ban_like = server.check_output("nft list table ip fail2ban_like")
    assert "192.0.2.66" in fail2ban_like and "ip saddr @banned drop" in fail2ban_like


def test_persisted_file_replaces_only_its_own_table(server):
    ruleset = server.file(RULESET)
    assert ruleset.user == "root" and ruleset.mode == 0o600
    lines = [line.strip() for line in ruleset.content_string.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[:3] == [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    assert not re.search(r"^\s*flush\s", ruleset.content_string, re.M)
    # nothing but its own table, at the start of a line or elsewhere
    assert set(re.findall(r"table\s+(\w+\s+\w+)", ruleset.content_string)) == {f"inet {TABLE}"}
    server.check_output("nft -c -f %s", RULESET)


def test_inbound_is_default_deny_and_nothing_else_is_filtered_by_default(server):
    rules = live_table(server)
    assert "type filter hook input priority filter; policy drop;" in rules
    assert "hook output" not in rules  # egress filtering is off by default
    assert "hook forward" not in rules  # so are forward rules: podman/docker forwarding keeps working
    # duplicate management sources were collapsed into one address per family
    assert 'tcp dport 22 ip saddr 198.51.100.21 accept comment "management"' in rules
    assert 'tcp dport 22 ip6 saddr 2001:db8:71::21 accept comment "management"' in rules


def test_egress_and_forward_chains_when_enabled(other):
    rules = live_table(other)
    assert "type filter hook output priority filter; policy drop;" in rules
    assert "type filter hook forward priority filter; policy drop;" in rules
    wg_rule = 'iifname "wg0" tcp dport 443 ip saddr 10.66.0.0/24 ip daddr 198.51.100.10 accept comment "wg-to-oscar"'
    assert wg_rule in rules
    assert 'iifname "wg*" oifname "eth0" accept comment "wg-any"' in rules
    assert 'udp dport 53 ip daddr 0.0.0.0/0 accept comment "dns-udp"' in rules
    assert "dhcpv4" not in rules  # firewall_egress_essentials leaves dhcp out on this host
    assert 'icmp type echo-request accept comment "ping"' not in rules  # firewall_allow_ping: false


def test_boot_unit_is_enabled_hardened_and_nothing_is_pending(server):
    unit = server.service("oscar-remote-access-firewall.service")
    assert unit.is_enabled and unit.is_running
    show = server.check_output(
        "systemctl show oscar-remote-access-firewall.service -p ExecStart -p ExecReload -p ProtectSystem "
        "-p CapabilityBoundingSet -p NoNewPrivileges -p RestrictAddressFamilies -p WantedBy")
    assert f"{CTL} boot" in show and f"{CTL} load" in show
    assert "ProtectSystem=strict" in show and "NoNewPrivileges=yes" in show
    assert "CapabilityBoundingSet=cap_net_admin" in show
    assert "WantedBy=sysinit.target" in show
    assert ctl_state(server) == "in-sync"
    assert not server.file("/var/lib/oscar-remote-access/firewall/pending").exists
    assert "oscar-remote-access-firewall-rollback" not in server.check_output("systemctl list-timers --all")
    assert not server.service("nftables.service").is_enabled  # Debian's unit (flush ruleset) stays off


def test_ruleset_survives_a_restart(server):
    before = live_table(server)
    restarted = restart_container(SERVER)
    assert live_table(restarted) == before
    assert "table inet podman_like" in restarted.check_output("nft list tables")
    assert ctl_state(restarted) == "in-sync"
