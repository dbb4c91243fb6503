"""The firewall role's input model: validation messages, normalisation, management checks, rendering."""

import copy
import ipaddress
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.oscar_emr.remote_access.plugins.action.firewall_validate import ARGUMENT_SPEC
from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _firewall_model as fm
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._firewall_model import FirewallConfigError

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / "roles" / "firewall"

BASE = {
    "services": [
        {"name": "https", "port": 443, "sources": ["0.0.0.0/0", "::/0"]},
        {"name": "range", "port": "8000-8010", "protocol": "tcp", "sources": ["10.0.0.0/8", "10.1.0.0/16"]},
        {"name": "wg", "port": 51820, "protocol": "udp", "sources": ["2001:db8::/32"]},
    ],
    "management_sources": ["192.0.2.10/32", "2001:db8:100::/56"],
}


def params(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def errors_of(data, controller=None):
    with pytest.raises(FirewallConfigError) as info:
        fm.build_model(data, controller)
    return info.value.errors


def controller(address, port=22):
    return ipaddress.ip_address(address), port


# --- ports and networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (443, (443, 443)), ("443", (443, 443)), ("8000-8010", (8000, 8010)), (" 1 - 65535 ", (1, 65535)),
    ("22-22", (22, 22)),
])
def test_parse_port_accepts_ports_and_ranges(value, expected):
    assert fm.parse_port(value) == expected


@pytest.mark.parametrize("value, message", [
    (0, "0 is out of range: ports are 1-65535"),
    (65536, "65536 is out of range"),
    ("70000", "'70000' is out of range"),
    ("9002-9000", "'9002-9000' is not a valid range: 9002 is greater than 9000"),
    ("http", "'http' is not a port"),
    ("80,443", "'80,443' is not a port"),
    (True, "True is not a port"),
    (None, "None is not a port"),
    (44.3, "44.3 is not a port"),
])
def test_parse_port_rejects_with_the_value(value, message):
    with pytest.raises(ValueError, match=None) as info:
        fm.parse_port(value)
    assert message in str(info.value)


@given(st.integers(1, 65535), st.integers(1, 65535))
def test_port_ranges_round_trip(a, b):
    low, high = min(a, b), max(a, b)
    text = fm.port_expr(low, high)
    assert fm.parse_port(text) == (low, high)


@pytest.mark.parametrize("value", ["10.0.0.0/8", "192.0.2.1", "192.0.2.1/32", "::/0", "2001:db8::/32", "fe80::1"])
def test_parse_network_accepts_addresses_and_cidrs(value):
    assert fm.parse_network(value) == ipaddress.ip_network(value)


@pytest.mark.parametrize("value, message", [
    ("10.0.0.300/24", "'10.0.0.300/24' is not a valid CIDR"),
    ("10.0.0.0/33", "'10.0.0.0/33' is not a valid CIDR"),
    ("example.org", "'example.org' is not a valid CIDR"),
    ("", "'' is not a valid CIDR"),
    (42, "42 is not a valid CIDR"),
    ("192.168.1.1/24", "'192.168.1.1/24' has host bits set (did you mean '192.168.1.0/24'?)"),
    ("2001:db8::1/32", "has host bits set (did you mean '2001:db8::/32'?)"),
])
def test_parse_network_rejects_with_the_value(value, message):
    with pytest.raises(ValueError) as info:
        fm.parse_network(value)
    assert message in str(info.value)


# --- error messages name the variable and the value -------------------------------------------------------


def test_bad_cidr_message_names_the_variable_path_and_value():
    data = params()
    data["services"][1]["sources"] = ["10.0.0.300/24"]
    assert errors_of(data) == ["firewall_services[1].sources[0]: '10.0.0.300/24' is not a valid CIDR"]


def test_every_error_is_reported_at_once():
    data = params(
        services=[
            {"name": "web", "port": "9002-9000", "sources": ["10.0.0.0/8"]},
            {"name": "web", "port": 80, "protocol": "icmp", "sources": []},
            {"name": "bad name!", "sources": ["10.0.0.0/8"], "source": ["typo"]},
            "not-a-mapping",
        ],
        management_sources=["192.0.2.0/33"],
        management_ports=[22, 22, 0],
        trusted_interfaces=["podman0", "this-name-is-way-too-long"],
        rollback_timeout=2,
    )
    errors = errors_of(data)
    expected = [
        "firewall_services[0].port: '9002-9000' is not a valid range: 9002 is greater than 9000",
        "firewall_services[1].name: 'web' is already used by firewall_services[0]",
        "firewall_services[1].protocol: 'icmp' is not one of tcp, udp",
        "firewall_services[1].sources: is empty: list at least one CIDR (0.0.0.0/0 and ::/0 mean everyone)",
        "firewall_services[2]: unknown keys source (did you mean sources?) (allowed: name, port, protocol, sources)",
        "firewall_services[2].name: 'bad name!' is not a valid name",
        "firewall_services[2].port: is required",
        "firewall_services[3]: 'not-a-mapping' is not a mapping",
        "firewall_management_sources[0]: '192.0.2.0/33' is not a valid CIDR",
        "firewall_management_ports[1]: 22 is listed twice",
        "firewall_management_ports[2]: 0 is out of range",
        "firewall_trusted_interfaces[1]: 'this-name-is-way-too-long' is not a valid interface name",
        "firewall_rollback_timeout: 2 is not a number of seconds between 5 and 3600",
    ]
    for message in expected:
        assert any(error.startswith(message) for error in errors), (message, errors)
    assert len(errors) == len(expected)


@pytest.mark.parametrize("key, value, message", [
    ("allow_ping", "yes", "firewall_allow_ping: 'yes' is not a boolean"),
    ("rollback_timeout", True, "firewall_rollback_timeout: True is not a number"),
    ("rollback_timeout", 3601, "firewall_rollback_timeout: 3601 is not a number"),
    ("services", {"name": "x"}, "firewall_services: {'name': 'x'} is not a list"),
    ("management_ports", [], "firewall_management_ports: [] must be a non-empty list"),
    ("management_ports", ["ssh"], "firewall_management_ports[0]: 'ssh' is not a port number"),
    ("egress_essentials", ["dns", "smtp"], "firewall_egress_essentials[1]: 'smtp' is not one of apt, dhcp, dns, ntp"),
])
def test_scalar_and_list_checks(key, value, message):
    assert any(e.startswith(message) for e in errors_of(params(**{key: value})))


# --- the rule model ------------------------------------------------------------------------------------


def test_input_rules_split_families_collapse_and_keep_order():
    model, warnings = fm.build_model(params(management_sources=["192.0.2.10/32", "192.0.2.10", "192.0.2.11/32"]))
    assert warnings == []
    assert model["input_rules"] == [
        {"match": "tcp dport 22 ip saddr 192.0.2.10/31", "comment": "management"},
        {"match": "tcp dport 443 ip saddr 0.0.0.0/0", "comment": "https"},
        {"match": "tcp dport 443 ip6 saddr ::/0", "comment": "https"},
        {"match": "tcp dport 8000-8010 ip saddr 10.0.0.0/8", "comment": "range"},
        {"match": "udp dport 51820 ip6 saddr 2001:db8::/32", "comment": "wg"},
    ]
    assert model["egress"] == {"enabled": False, "rules": []}
    assert model["forward"] == {"enabled": False, "rules": []}
    assert model["allow_ping"] is True and model["allow_dhcpv6_client"] is True


def test_several_management_ports_become_a_set():
    model = fm.build_model(params(management_ports=[22, 2222]))[0]
    assert model["input_rules"][0]["match"] == "tcp dport { 22, 2222 } ip saddr 192.0.2.10/32"
    assert model["input_rules"][1]["match"] == "tcp dport { 22, 2222 } ip6 saddr 2001:db8:100::/56"


def test_model_is_plain_data():
    model = fm.build_model(params())[0]
    assert yaml.safe_load(yaml.safe_dump(model)) == model


# --- management lockout --------------------------------------------------------------------------------


def test_no_management_sources_is_refused():
    errors = errors_of(params(management_sources=[]))
    assert len(errors) == 1
    assert errors[0].startswith(
        "firewall_management_sources: is empty and no entry of firewall_services opens TCP port 22")
    assert errors[0].endswith("set firewall_allow_management_lockout: true")


def test_a_service_that_opens_ssh_counts_as_management():
    data = params(management_sources=[])
    data["services"].append({"name": "ssh", "port": "20-30", "sources": ["198.51.100.0/24"]})
    fm.build_model(data)
    # ...but a UDP service on 22 does not.
    data["services"][-1]["protocol"] = "udp"
    assert errors_of(data)[0].startswith("firewall_management_sources: is empty")


def test_lockout_with_consent_is_a_warning():
    model, warnings = fm.build_model(params(management_sources=[], allow_management_lockout=True))
    assert any("firewall_management_sources: is empty" in w and "allowed by firewall_allow_management_lockout" in w
               for w in warnings)
    assert not any("dport 22" in r["match"] for r in model["input_rules"])


@pytest.mark.parametrize("address, port", [
    ("192.0.2.10", 22), ("2001:db8:100::5", 22), ("127.0.0.1", 22), ("::1", 2222),
])
def test_controller_inside_the_management_sources_passes(address, port):
    fm.build_model(params(), controller(address, port))


def test_controller_reached_through_a_service_passes():
    data = params()
    data["services"].append({"name": "ssh-alt", "port": 2222, "sources": ["203.0.113.0/24"]})
    fm.build_model(data, controller("203.0.113.9", 2222))


@pytest.mark.parametrize("address, port", [
    ("203.0.113.9", 22),  # not a management source
    ("192.0.2.10", 2222),  # a management source, but SSH listens on a port the ruleset does not open
    ("2001:db8:200::1", 22),  # IPv6, outside the /56
])
def test_controller_outside_is_refused_naming_address_and_port(address, port):
    errors = errors_of(params(), controller(address, port))
    assert len(errors) == 1
    assert errors[0].startswith(
        "firewall_management_sources: Ansible connects from %s to SSH port %d" % (address, port))
    assert "set firewall_allow_management_lockout: true" in errors[0]


def test_controller_lockout_with_consent_is_a_warning():
    warnings = fm.build_model(params(allow_management_lockout=True), controller("203.0.113.9"))[1]
    assert any("Ansible connects from 203.0.113.9" in w for w in warnings)


@pytest.mark.parametrize("value, expected", [
    ("192.0.2.10 51234 192.0.2.1 22", ("192.0.2.10", 22)),
    ("2001:db8::5 40000 2001:db8::1 2222", ("2001:db8::5", 2222)),
    ("fe80::5%eth0 40000 fe80::1%eth0 22", ("fe80::5", 22)),
    ("::ffff:192.0.2.10 40000 ::ffff:192.0.2.1 22", ("192.0.2.10", 22)),
    ("", None), ("garbage", None), ("1.2.3.4 1 5.6.7.8 ssh", None), ("999.1.1.1 1 1.1.1.1 22", None),
])
def test_parse_ssh_connection(value, expected):
    parsed = fm.parse_ssh_connection(value)
    if expected is None:
        assert parsed is None
    else:
        assert (str(parsed[0]), parsed[1]) == expected


# --- egress --------------------------------------------------------------------------------------------


def test_egress_essentials_and_rules():
    model, warnings = fm.build_model(params(
        egress_enabled=True, egress_essentials=["ntp", "dns", "ntp"],
        egress_rules=[{"name": "smtp", "port": 587, "destinations": ["203.0.113.25/32", "2001:db8:25::/48"]}],
    ))
    assert warnings == []
    comments = [r["comment"] for r in model["egress"]["rules"]]
    assert comments == ["ntp", "ntp", "dns-udp", "dns-udp", "dns-tcp", "dns-tcp", "smtp", "smtp"]
    assert {"match": "tcp dport 587 ip daddr 203.0.113.25/32", "comment": "smtp"} in model["egress"]["rules"]
    assert {"match": "udp dport 123 ip6 daddr ::/0", "comment": "ntp"} in model["egress"]["rules"]


def test_egress_rule_names_must_not_clash_with_essentials():
    errors = errors_of(params(egress_enabled=True, egress_rules=[
        {"name": "dns-udp", "port": 53, "protocol": "udp", "destinations": ["192.0.2.53/32"]},
        {"name": "proxy", "port": 3128},
    ]))
    assert errors[0] == "firewall_egress_rules[0].name: 'dns-udp' is already used by firewall_egress_essentials (dns)"
    assert errors[1].startswith("firewall_egress_rules[1].destinations: is empty")


def test_egress_rules_while_disabled_warn_and_are_not_rendered():
    model, warnings = fm.build_model(params(egress_rules=[{"name": "x", "port": 1, "destinations": ["::/0"]}]))
    assert model["egress"] == {"enabled": False, "rules": []}
    assert warnings == ["firewall_egress_rules lists rules but firewall_egress_enabled is false: they are not applied"]


# --- forward -------------------------------------------------------------------------------------------


def test_forward_rules():
    model = fm.build_model(params(forward_enabled=True, forward_rules=[
        {"name": "wg-oscar", "iifname": "wg0", "sources": ["10.66.0.0/24", "fd66::/64"],
         "destinations": ["192.168.1.20/32"], "protocol": "tcp", "port": 443},
        {"name": "wg-any", "iifname": "wg*", "oifname": "eth0"},
        {"name": "dual", "sources": ["10.66.0.0/24", "fd66::/64"], "protocol": "udp"},
    ]))[0]
    assert model["forward"]["rules"] == [
        {"match": 'iifname "wg0" tcp dport 443 ip saddr 10.66.0.0/24 ip daddr 192.168.1.20/32', "comment": "wg-oscar"},
        {"match": 'iifname "wg*" oifname "eth0"', "comment": "wg-any"},
        {"match": "meta l4proto udp ip saddr 10.66.0.0/24", "comment": "dual"},
        {"match": "meta l4proto udp ip6 saddr fd66::/64", "comment": "dual"},
    ]


@pytest.mark.parametrize("rule, message", [
    ({"name": "a", "port": 443}, "firewall_forward_rules[0].port: needs protocol tcp or udp"),
    ({"name": "a"}, "firewall_forward_rules[0]: matches all forwarded traffic"),
    ({"name": "a", "sources": ["10.0.0.0/8"], "destinations": ["fd00::/8"]},
     "firewall_forward_rules[0]: sources and destinations share no address family"),
    ({"name": "a", "iifname": "wg 0"}, "firewall_forward_rules[0].iifname: 'wg 0' is not a valid interface name"),
    ({"name": "a", "oifname": "eth0", "destinations": ["10.0.0.1/8"]},
     "firewall_forward_rules[0].destinations[0]: '10.0.0.1/8' has host bits set"),
    ({"name": "a", "oifname": "eth0", "protocol": "sctp"}, "firewall_forward_rules[0].protocol: 'sctp' is not one of"),
])
def test_forward_rule_errors(rule, message):
    errors = errors_of(params(forward_enabled=True, forward_rules=[rule]))
    assert any(e.startswith(message) for e in errors), errors


def test_forward_rules_while_disabled_warn():
    model, warnings = fm.build_model(params(forward_rules=[{"name": "a", "iifname": "wg0"}]))
    assert model["forward"] == {"enabled": False, "rules": []}
    assert warnings
    assert warnings[0].startswith("firewall_forward_rules lists rules but firewall_forward_enabled is false")


# --- the role's interface and the action's options agree -------------------------------------------------


def test_action_options_match_the_role_defaults():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = {"firewall_" + name: spec.get("default") for name, spec in ARGUMENT_SPEC.items() if name != "role_needs"}
    # role_needs is not a role variable: the role passes other roles' facts when firewall_role_needs_enabled is on.
    assert defaults.pop("firewall_role_needs_enabled") is True
    assert options == defaults


def test_essentials_choices_match_the_model():
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(spec["firewall_egress_essentials"]["choices"]) == sorted(fm.EGRESS_ESSENTIALS)


@pytest.mark.parametrize("variable,keys", [("firewall_services", fm.SERVICE_KEYS),
                                           ("firewall_egress_rules", fm.EGRESS_KEYS),
                                           ("firewall_forward_rules", fm.FORWARD_KEYS)])
def test_the_entries_keys_are_the_models_alone(variable, keys):
    """Issue 20: with sub-options in the spec, Ansible's argument check refused a misspelt key first, with a generic
    'Unsupported parameters'; the model is the one place for the keys, and the spec's description names each."""
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert "options" not in spec[variable]
    description = " ".join(spec[variable]["description"])
    assert all("C(%s)" % key in description for key in keys), description


# --- rendering: what the template makes of a model is valid nftables ----------------------------------------


def render(model):
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), trim_blocks=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    variables = dict(role_vars, __firewall_model=model, ansible_managed="Ansible managed")
    # vars/main.yml refers to itself (paths built from the config dir): resolve one level.
    for key, value in list(variables.items()):
        if isinstance(value, str) and "{{" in value:
            variables[key] = env.from_string(value).render(variables)
    return env.get_template("ruleset.nft.j2").render(variables)


FULL = params(
    trusted_interfaces=["podman0", "veth*"],
    allow_ping=False,
    egress_enabled=True,
    egress_rules=[{"name": "smtp", "port": "587-588", "destinations": ["203.0.113.25/32", "2001:db8:25::/48"]}],
    forward_enabled=True,
    forward_rules=[
        {"name": "wg-oscar", "iifname": "wg0", "sources": ["10.66.0.0/24"], "destinations": ["192.168.1.20/32"],
         "protocol": "tcp", "port": 443},
        {"name": "wg-any", "iifname": "wg*", "oifname": "eth0"},
    ],
)


def test_rendered_ruleset_replaces_only_its_own_table():
    text = render(fm.build_model(FULL)[0])
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body[:3] == ["table inet oscar_remote_access", "delete table inet oscar_remote_access",
                        "table inet oscar_remote_access {"]
    assert not any("flush" in line for line in body)
    assert 'iifname { "podman0", "veth*" } accept comment "trusted interfaces"' in text
    assert "type filter hook output priority filter; policy drop;" in text
    assert "type filter hook forward priority filter; policy drop;" in text
    assert "echo-request accept comment \"ping\"" not in text


def test_default_ruleset_has_no_output_or_forward_chain():
    text = render(fm.build_model(params())[0])
    assert "hook input" in text and "hook output" not in text and "hook forward" not in text


def _nft_check_available():
    if not shutil.which("nft") or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


NO_MANAGEMENT = params(management_sources=[], allow_management_lockout=True, services=[])


WG_LISTEN = {"name": "wireguard-wg0", "port": 51820, "protocol": "udp", "sources": ["0.0.0.0/0"]}
WG_FRONT_DOOR = {"name": "wg-wg0-front-door", "port": 443, "protocol": "tcp", "sources": ["10.74.1.10/32"]}
CONFINED = params(role_needs={"wireguard_firewall_needs": {
    "services": [WG_LISTEN, WG_FRONT_DOOR],
    "confined_interfaces": [{"name": "wg0", "services": ["wg-wg0-front-door"], "allow_ping": False},
                            {"name": "wg-it", "services": [], "allow_ping": True}]}})


@pytest.mark.skipif(not _nft_check_available(), reason="needs nft and unshare --net (root)")
@pytest.mark.parametrize("data", [params(), FULL, NO_MANAGEMENT, CONFINED])
def test_rendered_ruleset_passes_nft_check(tmp_path, data):
    """nft -c in a private, empty network namespace: the host's own ruleset is neither read nor touched."""
    path = tmp_path / "ruleset.nft"
    path.write_text(render(fm.build_model(data)[0]))
    result = subprocess.run(["unshare", "--net", "nft", "-c", "-f", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


# --- what other roles publish (role_needs) ----------------------------------------------------------------

WG_SERVICE = {"name": "wireguard-wg0", "port": 51820, "protocol": "udp", "sources": ["0.0.0.0/0"]}
WG_FORWARD = {"name": "wg0-to-oscar", "iifname": "wg0", "oifname": "eth0", "sources": ["10.74.1.0/24"],
              "destinations": ["192.0.2.30/32"], "protocol": "tcp", "port": 443}
CF_EGRESS = {"name": "cloudflared-quic", "port": 7844, "protocol": "udp", "destinations": ["0.0.0.0/0", "::/0"]}


def needs(wireguard=None, cloudflared=None):
    """role_needs as the firewall role passes it: each provider's one fact, {} where the role published nothing."""
    return {"wireguard_firewall_needs": wireguard or {}, "cloudflared_firewall_needs": cloudflared or {}}


def test_role_needs_join_the_inventory_lists_and_turn_the_forward_chain_on():
    model, _warnings = fm.build_model(params(egress_enabled=True, role_needs=needs(
        wireguard={"services": [WG_SERVICE], "forward_rules": [WG_FORWARD], "forward_enabled": True},
        cloudflared={"egress_rules": [CF_EGRESS]})))
    assert [s["name"] for s in model["services"]] == ["https", "range", "wg", "wireguard-wg0"]
    assert model["forward"]["enabled"] is True
    assert [r["comment"] for r in model["forward"]["rules"]] == ["wg0-to-oscar"]
    assert 'iifname "wg0" oifname "eth0" tcp dport 443 ip saddr 10.74.1.0/24 ip daddr 192.0.2.30' in \
        model["forward"]["rules"][0]["match"]
    assert {"match": "udp dport 7844 ip daddr 0.0.0.0/0", "comment": "cloudflared-quic"} in model["egress"]["rules"]


def test_published_egress_rules_stay_off_while_egress_is_not_filtered_and_warn_about_nothing():
    model, warnings = fm.build_model(params(role_needs=needs(cloudflared={"egress_rules": [CF_EGRESS]})))
    assert model["egress"] == {"enabled": False, "rules": []}
    assert warnings == []


def test_an_inventory_entry_repeated_verbatim_is_taken_once():
    data = params(services=BASE["services"] + [WG_SERVICE], role_needs=needs(wireguard={"services": [WG_SERVICE]}))
    model, _warnings = fm.build_model(data)
    assert [s["name"] for s in model["services"]].count("wireguard-wg0") == 1


def test_the_same_name_with_other_settings_is_an_error_naming_both():
    mine = dict(WG_SERVICE, sources=["192.0.2.0/24"])
    errors = errors_of(params(services=BASE["services"] + [mine],
                              role_needs=needs(wireguard={"services": [WG_SERVICE]})))
    assert errors == ["firewall_services[3].name: 'wireguard-wg0' is also an entry of "
                      "wireguard_firewall_needs.services (wireguard_firewall_needs.services[0]) with other settings; "
                      "leave it out of firewall_services, the role supplies it"]


def test_errors_in_a_published_entry_name_the_fact():
    bad = dict(WG_FORWARD, destinations=["192.0.2.300/32"])
    errors = errors_of(params(role_needs=needs(wireguard={"forward_rules": [bad]})))
    assert len(errors) == 1 and errors[0].startswith("wireguard_firewall_needs.forward_rules[0].destinations[0]: ")


def test_a_published_switch_that_is_not_a_boolean_is_an_error_not_off():
    errors = errors_of(params(role_needs=needs(wireguard={"forward_enabled": "true"})))
    assert errors == ["wireguard_firewall_needs.forward_enabled: 'true' is not a boolean"]


def test_a_published_fact_has_one_shape_for_every_role():
    errors = errors_of(params(role_needs={"nginx_firewall_needs": {"services": [], "masquerade": []},
                                          "gateway_firewall_needs": ["443"]}))
    assert errors == [
        "gateway_firewall_needs: ['443'] is not a mapping (keys: services, egress_rules, forward_rules, "
        "forward_enabled, confined_interfaces)",
        "nginx_firewall_needs.masquerade: is not something the firewall role adds (known: services, egress_rules, "
        "forward_rules, forward_enabled, confined_interfaces)",
    ]


def test_any_role_can_publish_needs_the_model_names_none():
    """The model knows the fact's shape, not which roles publish one: a new provider is one entry in the firewall
    role's __firewall_need_providers."""
    model, _warnings = fm.build_model(params(role_needs={"newrole_firewall_needs": {"services": [WG_SERVICE]}}))
    assert "wireguard-wg0" in [s["name"] for s in model["services"]]
    source = Path(fm.__file__).read_text()
    assert "wireguard" not in source and "cloudflared" not in source


def test_without_role_needs_the_model_is_what_the_inventory_says():
    with_needs, _warnings = fm.build_model(params(role_needs=needs()))
    without, _unused = fm.build_model(params())
    assert with_needs == without


# --- confined interfaces (issue 15): a tunnel's traffic to this host reaches its services only, ICMP included ----

def input_chain(text):
    lines = [line.strip() for line in text.split("chain input {")[1].splitlines()]
    return [line for line in lines[:lines.index("}")] if line]


def test_a_confined_interface_reaches_its_services_and_nothing_else_before_any_other_rule():
    """Issue 15: the Pi's tunnel address answered ping from peers (and SSH from a tunnel address inside
    firewall_management_sources was open to them)."""
    model, _warnings = fm.build_model(dict(CONFINED, management_sources=["10.0.0.0/8"]))
    chain = input_chain(render(model))
    wg0 = [line for line in chain if line.startswith('iifname "wg0"')]
    assert wg0 == ['iifname "wg0" tcp dport 443 ip saddr 10.74.1.10/32 accept comment "wg-wg0-front-door"',
                   'iifname "wg0" drop comment "wg0: confined to the services above"']
    assert 'iifname "wg-it" icmp type echo-request accept comment "wg-it: ping"' in chain
    assert chain.index('iifname "wg-it" drop comment "wg-it: confined to the services above"') > \
        chain.index('iifname "wg-it" icmp type echo-request accept comment "wg-it: ping"')
    # Before the ping, ICMP error, management and service rules that would otherwise admit a peer.
    first_general = min(i for i, line in enumerate(chain) if "icmp type" in line and "iifname" not in line)
    assert all(chain.index(line) < first_general for line in wg0)
    assert chain.index(wg0[-1]) < chain.index(next(line for line in chain if 'comment "management"' in line))
    assert 'icmp type echo-request accept comment "ping"' in chain  # the LAN still may ping (firewall_allow_ping)
    # Replies to connections this host opened still come back: the confinement comes after "ct state established".
    assert chain.index("ct state established,related accept comment \"replies\"") < chain.index(wg0[0])


def test_without_confined_interfaces_nothing_changes():
    assert "confined" not in render(fm.build_model(params())[0])


@pytest.mark.parametrize("entry, where, message", [
    ({"name": "wg0", "services": ["nope"]}, ".services[0]", "'nope' is not the name of a service"),
    ({"name": "wg 0", "services": []}, ".name", "is not an interface name"),
    ({"name": "wg*", "services": []}, ".name", "is not an interface name"),
    ({"name": "wg0", "services": [], "allow_ping": "yes"}, ".allow_ping", "is not a boolean"),
    ({"name": "wg0", "services": [], "colour": 1}, "", "unknown key"),
    ({"name": "podman0", "services": []}, ".name", "cannot be confined"),
])
def test_bad_confined_interfaces_name_the_fact(entry, where, message):
    data = params(trusted_interfaces=["podman0"], role_needs={"wireguard_firewall_needs": {
        "confined_interfaces": [entry]}})
    errors = errors_of(data)
    path = "wireguard_firewall_needs.confined_interfaces[0]" + where
    assert any(e.startswith(path + ":") and message in e for e in errors), errors


# --- SSH never open to everyone (issue 15) ----------------------------------------------------------------------

@pytest.mark.parametrize("data, where", [
    (params(management_sources=["192.0.2.10/32", "0.0.0.0/0"]), "firewall_management_sources[1]"),
    (params(management_sources=["::/0"]), "firewall_management_sources[0]"),
    (params(services=[{"name": "all", "port": "1-1024", "sources": ["10.0.0.0/8", "0.0.0.0/0"]}]),
     "firewall_services[0].sources[1]"),
    (params(management_ports=[2222], services=[{"name": "ssh2", "port": 2222, "sources": ["::/0"]}]),
     "firewall_services[0].sources[0]"),
    (params(role_needs={"some_firewall_needs": {"services": [{"name": "ssh", "port": 22, "sources": ["0.0.0.0/0"]}]}}),
     "some_firewall_needs.services[0].sources[0]"),
])
def test_ssh_from_everyone_is_refused_naming_the_variable(data, where):
    errors = errors_of(data)
    assert any(e.startswith(where + ":") and "SSH must not be open to everyone" in e for e in errors), errors


def test_everyone_on_other_ports_and_narrow_ssh_sources_are_fine():
    model, _warnings = fm.build_model(params(management_sources=["10.74.2.10/32", "192.168.1.0/24"],
                                             services=[{"name": "https", "port": 443, "sources": ["0.0.0.0/0"]},
                                                       {"name": "wg", "port": 51820, "protocol": "udp",
                                                        "sources": ["0.0.0.0/0", "::/0"]}]))
    assert model["management"]["ipv4"] == ["10.74.2.10/32", "192.168.1.0/24"]
