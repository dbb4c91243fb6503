"""The WireGuard role's model: key arithmetic, Vault text, validation (each error names its variable), firewall
variables, and the configuration texts."""

import base64
import datetime
import ipaddress
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _wireguard as wg
from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _wireguard_crypto as crypto

TODAY = datetime.date(2026, 6, 15)
KEY_A = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
KEY_B = "cYS5t5AqbvC5mSOJlBjKspHGs7wwUCWqx3oChRI3TA4="


def params(**overrides):
    base = {
        "mode": "gateway",
        "oscar_address": "192.168.1.20",
        "oscar_port": 443,
        "endpoint": "vpn.clinic.example",
        "lan_interface": "eth0",
        "masquerade": True,
        "interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}],
        "peers": [
            {"name": "laptop", "owner": "Dr. A", "address": "10.90.1.10"},
            {"name": "phone", "address": "10.90.1.11", "public_key": KEY_A, "expires": "2026-06-30"},
        ],
        "host_addresses": ["192.168.1.5"],
    }
    base.update(overrides)
    return base


def errors_of(**overrides):
    with pytest.raises(wg.ValidationError) as caught:
        wg.build_model(params(**overrides), today=TODAY)
    return caught.value.errors


def one_error(where, **overrides):
    errors = errors_of(**overrides)
    assert any(e.startswith(where + ":") for e in errors), errors
    return errors


# Keys --------------------------------------------------------------------------------------------------------------

def test_x25519_rfc7748_vectors():
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert crypto.x25519(scalar, u).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    scalar = bytes.fromhex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d")
    u = bytes.fromhex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
    assert crypto.x25519(scalar, u).hex() == "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"


def test_public_keys_of_rfc7748_alice_and_bob():
    alice = base64.b64encode(bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")).decode()
    bob = base64.b64encode(bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")).decode()
    assert base64.b64decode(crypto.public_key(alice)).hex() == \
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert base64.b64decode(crypto.public_key(bob)).hex() == \
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"


@pytest.mark.skipif(shutil.which("wg") is None, reason="wireguard-tools not installed on this machine")
def test_public_key_agrees_with_wg_pubkey():
    for _attempt in range(3):
        private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
        expected = subprocess.run(["wg", "pubkey"], input=private, capture_output=True, text=True,
                                  check=True).stdout.strip()
        assert crypto.public_key(private) == expected


def test_public_key_agrees_with_the_cryptography_library():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    for _attempt in range(5):
        private = crypto.generate_private_key()
        theirs = X25519PrivateKey.from_private_bytes(base64.b64decode(private)).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert crypto.public_key(private) == base64.b64encode(theirs).decode()


def test_generated_keys_are_clamped_and_distinct():
    keys = {crypto.generate_private_key() for _attempt in range(20)}
    assert len(keys) == 20
    for key in keys:
        raw = base64.b64decode(key)
        assert len(raw) == 32 and raw[0] & 7 == 0 and raw[31] & 128 == 0 and raw[31] & 64 == 64
        assert crypto.is_key(crypto.public_key(key))
    assert crypto.is_key(crypto.generate_preshared_key())


@pytest.mark.parametrize("text", ["", "abc", KEY_A[:-1], KEY_A[:-2] + "!=", KEY_A + "=", 42, None,
                                  base64.b64encode(b"x" * 31).decode(), "not/a+wireguard=key"])
def test_malformed_keys_are_refused(text):
    assert not crypto.is_key(text)


def test_vault_text_opens_with_ansible_vault():
    from ansible.parsing.vault import VaultLib, VaultSecret

    text = crypto.vault_encrypt(b"[Interface]\nPrivateKey = x\n", "s3cret", vault_id="clinic")
    assert text.startswith(b"$ANSIBLE_VAULT;1.2;AES256;clinic\n")
    vault = VaultLib([("clinic", VaultSecret(b"s3cret"))])
    assert vault.decrypt(text) == b"[Interface]\nPrivateKey = x\n"
    assert crypto.vault_decrypt(text, "s3cret") == b"[Interface]\nPrivateKey = x\n"
    ours = vault.encrypt(b"from ansible", VaultSecret(b"pw"))
    assert crypto.vault_decrypt(ours, "pw") == b"from ansible"
    with pytest.raises(crypto.VaultError):
        crypto.vault_decrypt(text, "wrong")


# Validation ----------------------------------------------------------------------------------------------------------

def test_a_good_inventory_gives_the_model():
    model = wg.build_model(params(), today=TODAY)
    interface = model["interfaces"][0]
    assert interface["endpoint"] == "vpn.clinic.example:51820"
    laptop, phone = interface["peers"]
    assert laptop["generate"] and not phone["generate"]
    assert laptop["client_allowed_ips"] == ["192.168.1.20/32"] and laptop["allowed_ips"] == ["10.90.1.10/32"]
    assert phone["status"] == "active" and phone["expires"] == "2026-06-30"
    assert model["generated_peers"] == ["laptop"]


@pytest.mark.parametrize("overrides, where", [
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820},
                     {"name": "wg1", "address": "10.90.1.129/25", "listen_port": 51821}]},
     "wireguard_interfaces[1].address"),
    ({"interfaces": [{"name": "wg0", "address": "192.168.1.1/16", "listen_port": 51820}]},
     "wireguard_interfaces[0].address"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.0/24", "listen_port": 51820}]},
     "wireguard_interfaces[0].address"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1", "listen_port": 51820}]},
     "wireguard_interfaces[0].address"),
    ({"interfaces": [{"name": "wg0 with spaces", "address": "10.90.1.1/24", "listen_port": 51820}]},
     "wireguard_interfaces[0].name"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 70000}]},
     "wireguard_interfaces[0].listen_port"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820, "mtu": 900}]},
     "wireguard_interfaces[0].mtu"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820, "dns": ["nope"]}]},
     "wireguard_interfaces[0].dns[0]"),
    ({"interfaces": [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820, "colour": "red"}]},
     "wireguard_interfaces[0]"),
    ({"interfaces": []}, "wireguard_interfaces"),
    ({"oscar_address": "oscar.local"}, "wireguard_oscar_address"),
    ({"oscar_address": "192.168.1.5"}, "wireguard_oscar_address"),
    ({"oscar_port": 0}, "wireguard_oscar_port"),
    ({"mode": "router"}, "wireguard_mode"),
    ({"endpoint": "bad host name:51820"}, "wireguard_endpoint"),
    ({"endpoint": ""}, "wireguard_endpoint"),
    ({"lan_interface": ""}, "wireguard_lan_interface"),
    ({"reissue": ["phone"]}, "wireguard_reissue[0]"),
    ({"reissue": ["nobody"]}, "wireguard_reissue[0]"),
])
def test_each_bad_setting_is_named(overrides, where):
    one_error(where, **overrides)


@pytest.mark.parametrize("peer, where", [
    ({"name": "x", "address": "10.90.2.10"}, ".address"),            # outside the subnet
    ({"name": "x", "address": "10.90.1.1"}, ".address"),             # the server's own address
    ({"name": "x", "address": "10.90.1.255"}, ".address"),           # broadcast
    ({"name": "x", "address": "10.90.1.10"}, ".address"),            # laptop's address
    ({"name": "x", "address": "10.90.1.x"}, ".address"),
    ({"name": "x", "address": "10.90.1.12", "public_key": "abc"}, ".public_key"),
    ({"name": "x", "address": "10.90.1.12", "public_key": KEY_A}, ".public_key"),  # phone's key
    ({"name": "LAPTOP", "address": "10.90.1.12"}, ".name"),          # duplicates are case-insensitive
    ({"name": "-x", "address": "10.90.1.12"}, ".name"),
    ({"name": "x", "address": "10.90.1.12", "expires": "31/12/2026"}, ".expires"),
    ({"name": "x", "address": "10.90.1.12", "expires": "2026-02-30"}, ".expires"),
    ({"name": "x", "address": "10.90.1.12", "enabled": "yes"}, ".enabled"),
    ({"name": "x", "address": "10.90.1.12", "interface": "wg9"}, ".interface"),
    ({"name": "x", "address": "10.90.1.12", "destinations": [{"address": "192.168.1.30", "port": "ssh"}]},
     ".destinations[0].port"),
    ({"name": "x", "address": "10.90.1.12", "destinations": [{"address": "10.90.1.0/28", "port": 22}]},
     ".destinations[0].address"),
    ({"name": "x", "address": "10.90.1.12", "destinations": [{"address": "192.168.1.30", "port": 22,
                                                             "protocol": "icmp"}]}, ".destinations[0].protocol"),
    ({"name": "x", "address": "10.90.1.12", "colour": "red"}, ""),
])
def test_each_bad_peer_is_named(peer, where):
    peers = params()["peers"] + [peer]
    one_error("wireguard_peers[2]" + where, peers=peers)


def test_every_problem_is_reported_at_once():
    errors = errors_of(
        interfaces=[{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820},
                    {"name": "wg1", "address": "10.90.1.129/25", "listen_port": 51820}],
        peers=[{"name": "a", "interface": "wg0", "address": "10.90.1.10"},
               {"name": "a", "interface": "wg0", "address": "10.90.1.11"},
               {"name": "b", "interface": "wg0", "address": "10.90.1.12", "public_key": "nope"}])
    joined = "\n".join(errors)
    for where in ("wireguard_interfaces[1].address", "wireguard_interfaces[1].listen_port",
                  "wireguard_peers[1].name", "wireguard_peers[2].public_key"):
        assert where in joined
    assert "overlaps" in joined and "duplicate" in joined


def test_with_several_interfaces_a_peer_names_its_own():
    interfaces = [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820},
                  {"name": "wg-it", "address": "10.90.2.1/24", "listen_port": 51821}]
    one_error("wireguard_peers[0].interface", interfaces=interfaces)


def test_local_mode_needs_the_oscar_address_on_this_host_and_local_destinations():
    one_error("wireguard_oscar_address", mode="local")
    peers = [{"name": "it", "address": "10.90.1.10", "destinations": [{"address": "192.168.1.30", "port": 22}]}]
    one_error("wireguard_peers[0].destinations[0].address", mode="local", host_addresses=["192.168.1.20"],
              peers=peers)


def test_expiry_starts_on_the_date_and_disabled_peers_are_revoked():
    peers = [{"name": "a", "address": "10.90.1.10", "expires": "2026-06-15"},
             {"name": "b", "address": "10.90.1.11", "expires": datetime.date(2026, 6, 16)},
             {"name": "c", "address": "10.90.1.12", "enabled": False},
             {"name": "d", "address": "10.90.1.13", "expires": "2026-06-14"}]
    model = wg.build_model(params(peers=peers), today=TODAY)
    status = {p["name"]: p["status"] for p in model["interfaces"][0]["peers"]}
    assert status == {"a": "expired", "b": "active", "c": "disabled", "d": "expired"}


def test_a_past_expiry_on_a_peer_never_issued_is_refused_naming_it():
    """Issue 20: expires: '2020-01-01' on a new peer was recorded as expired and never went live, without a word."""
    peers = [{"name": "new", "address": "10.90.1.10", "expires": "2020-01-01"},
             {"name": "old", "address": "10.90.1.11", "expires": "2026-06-01"}]
    errors = errors_of(peers=peers, recorded_peers=["old"])
    assert errors == ["wireguard_peers[0].expires: '2020-01-01' is not after today (2026-06-15 on the host) and this "
                      "peer was never issued, so it would never work; correct the date (the year?) or leave the peer "
                      "out"]
    # Once issued, expiry is what it is for: the peer is recorded as expired, no error.
    model = wg.build_model(params(peers=peers, recorded_peers=["old", "new"]), today=TODAY)
    assert [p["status"] for p in model["interfaces"][0]["peers"]] == ["expired", "expired"]


# Firewall variables --------------------------------------------------------------------------------------------------

def test_gateway_forward_rules_admit_only_active_peers_to_the_front_door_and_their_destinations():
    interfaces = [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820},
                  {"name": "wg-it", "address": "10.90.2.1/24", "listen_port": 51821,
                   "destinations": [{"address": "192.168.1.20", "port": 9100}]}]
    peers = [{"name": "laptop", "interface": "wg0", "address": "10.90.1.10"},
             {"name": "gone", "interface": "wg0", "address": "10.90.1.11", "enabled": False},
             {"name": "rdp", "interface": "wg0", "address": "10.90.1.12",
              "destinations": [{"address": "192.168.1.30", "port": 3389}]},
             {"name": "it", "interface": "wg-it", "address": "10.90.2.10"}]
    firewall = wg.build_model(params(interfaces=interfaces, peers=peers), today=TODAY)["firewall"]
    assert firewall["forward_enabled"] is True
    assert [s["name"] for s in firewall["services"]] == ["wireguard-wg0", "wireguard-wg-it"]
    assert firewall["services"][0] == {"name": "wireguard-wg0", "port": 51820, "protocol": "udp",
                                       "sources": ["0.0.0.0/0", "::/0"]}
    rules = {r["name"]: r for r in firewall["forward_rules"]}
    assert rules["wg-wg0-front-door"] == {
        "name": "wg-wg0-front-door", "iifname": "wg0", "oifname": "eth0",
        "sources": ["10.90.1.10/32", "10.90.1.12/32"], "destinations": ["192.168.1.20/32"],
        "protocol": "tcp", "port": 443}
    assert rules["wg-wg0-rdp-0"]["sources"] == ["10.90.1.12/32"]
    assert rules["wg-wg0-rdp-0"]["destinations"] == ["192.168.1.30/32"] and rules["wg-wg0-rdp-0"]["port"] == 3389
    assert rules["wg-wg-it-dest0"]["sources"] == ["10.90.2.10/32"] and rules["wg-wg-it-dest0"]["port"] == 9100
    assert len(rules) == 4
    assert firewall["masquerade"] == [
        {"interface": "wg0", "source": "10.90.1.0/24", "oifname": "eth0"},
        {"interface": "wg-it", "source": "10.90.2.0/24", "oifname": "eth0"}]


def test_no_active_peer_means_no_forward_rule():
    peers = [{"name": "a", "address": "10.90.1.10", "enabled": False}]
    firewall = wg.build_model(params(peers=peers), today=TODAY)["firewall"]
    assert firewall["forward_rules"] == [] and firewall["masquerade"] == []


def test_local_mode_uses_input_services_only():
    firewall = wg.build_model(params(mode="local", host_addresses=["192.168.1.20"]), today=TODAY)["firewall"]
    assert firewall["forward_enabled"] is False and firewall["forward_rules"] == []
    assert firewall["services"][1] == {"name": "wg-wg0-front-door", "port": 443, "protocol": "tcp",
                                       "sources": ["10.90.1.10/32", "10.90.1.11/32"]}


def test_rule_names_stay_valid_for_long_names():
    name = wg._rule_name("wg", "wg-staff-long", "a" * 40 + "-12")
    assert len(name) <= 63 and wg.re.match(r"^[A-Za-z0-9._-]+$", name)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from([None, "2026-06-14", "2026-06-15", "2026-06-16"])),
                min_size=1, max_size=12))
def test_forward_sources_are_exactly_the_active_peers(flags):
    peers = [{"name": "p%d" % i, "address": "10.90.1.%d" % (10 + i), "enabled": enabled,
              **({"expires": expires} if expires else {})} for i, (enabled, expires) in enumerate(flags)]
    model = wg.build_model(params(peers=peers), today=TODAY)
    active = ["10.90.1.%d/32" % (10 + i) for i, (enabled, expires) in enumerate(flags)
              if enabled and (expires is None or expires > "2026-06-15")]
    rules = model["firewall"]["forward_rules"]
    assert (rules[0]["sources"] if rules else []) == active


# Texts ---------------------------------------------------------------------------------------------------------------

def test_server_configuration_and_its_redacted_form():
    private, psk = crypto.generate_private_key(), crypto.generate_preshared_key()
    peers = [{"name": "laptop", "owner": "Dr. A", "expires": "2026-06-30", "public_key": KEY_A, "preshared_key": psk,
              "allowed_ips": ["10.90.1.10/32"]}]
    interface = {"address": "10.90.1.1/24", "listen_port": 51820, "mtu": 1420}
    text = wg.render_server_config(interface, private, peers, post_up=["echo up"])
    parsed = wg.parse_config(text)
    assert parsed["interface"]["privatekey"] == [private] and parsed["interface"]["mtu"] == ["1420"]
    assert parsed["peers"][0]["presharedkey"] == [psk] and parsed["peers"][0]["allowedips"] == ["10.90.1.10/32"]
    assert "# laptop (Dr. A), expires 2026-06-30" in text
    redacted = wg.render_server_config(interface, private, peers, redact=True)
    assert private not in redacted and psk not in redacted and wg.fingerprint(psk) in redacted
    assert KEY_A in redacted


def test_client_configuration_is_a_split_tunnel():
    peer = {"client_address": "10.90.1.10/32", "client_allowed_ips": ["192.168.1.20/32"]}
    text = wg.render_client_config(peer, "PRIVATE", KEY_B, "vpn.clinic.example:51820", preshared_key="PSK",
                                   dns=["192.168.1.1"], comment="who\nwhere")
    parsed = wg.parse_config(text)
    assert parsed["interface"] == {"privatekey": ["PRIVATE"], "address": ["10.90.1.10/32"], "dns": ["192.168.1.1"]}
    assert parsed["peers"] == [{"publickey": [KEY_B], "presharedkey": ["PSK"], "endpoint": ["vpn.clinic.example:51820"],
                                "allowedips": ["192.168.1.20/32"], "persistentkeepalive": ["25"]}]
    assert text.startswith("# who\n# where\n")
    own = wg.render_client_config(peer, None, KEY_B, "vpn.clinic.example:51820", persistent_keepalive=0)
    assert "privatekey" not in wg.parse_config(own)["interface"] and "PersistentKeepalive" not in own


def test_wg_show_dump_parsing():
    dump = ("PRIV\tPUB\t51820\toff\n"
            "%s\t(none)\t198.51.100.5:4444\t10.90.1.10/32\t1767225600\t100\t200\t25\n"
            "%s\tPSK\t(none)\t10.90.1.12/32,10.1.0.0/24\t0\t0\t0\toff\n" % (KEY_A, KEY_B))
    parsed = wg.parse_dump(dump)
    assert parsed["listen_port"] == 51820 and parsed["public_key"] == "PUB"
    assert parsed["peers"][KEY_A]["endpoint"] == "198.51.100.5:4444" and parsed["peers"][KEY_A]["transfer_tx"] == 200
    assert parsed["peers"][KEY_B]["allowed_ips"] == ["10.1.0.0/24", "10.90.1.12/32"]
    assert parsed["peers"][KEY_B]["persistent_keepalive"] is None


def test_routes_only_for_allowed_ips_outside_the_subnet():
    peers = [{"allowed_ips": ["10.90.1.10/32"]}, {"allowed_ips": ["10.90.1.11/32", "172.16.5.0/24"]}]
    assert wg.routes_needed("10.90.1.1/24", peers) == ["172.16.5.0/24"]


def test_free_address_skips_the_server_and_used_ones():
    interfaces = [{"name": "wg0", "address": "10.90.1.1/29", "listen_port": 51820}]
    peers = [{"address": "10.90.1.2"}, {"address": "10.90.1.4"}]
    assert wg.free_address(interfaces, peers) == "10.90.1.3"
    full = [{"address": str(a)} for a in ipaddress.ip_network("10.90.1.0/29").hosts()]
    assert wg.free_address(interfaces, full) is None
    assert wg.free_address([*interfaces, {"name": "wg1", "address": "10.90.2.1/24"}], peers) is None


def test_check_peers_reports_only_peer_and_interface_problems():
    interfaces = [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}]
    assert wg.check_peers(interfaces, [{"name": "a", "address": "10.90.1.10"}]) == []
    peers = [{"name": "a", "address": "10.90.1.10"}, {"name": "b", "address": "10.90.1.10"}]
    errors = wg.check_peers(interfaces, peers)
    assert len(errors) == 1 and errors[0].startswith("wireguard_peers[1].address")


# A revoked key never comes back (issue 15) ---------------------------------------------------------------------------

def test_an_own_key_peer_enabled_again_with_its_revoked_key_is_refused_naming_it():
    errors = errors_of(revoked_keys=[KEY_A])
    assert len(errors) == 1 and errors[0].startswith("wireguard_peers[1].public_key: is a revoked key (phone")
    assert "peer_public_key" in errors[0]
    # Still revoked: nothing to refuse. With a new key: enabled.
    revoked = [*params()["peers"][:1], dict(params()["peers"][1], enabled=False)]
    assert wg.build_model(params(peers=revoked, revoked_keys=[KEY_A]), today=TODAY)
    renewed = [*params()["peers"][:1], dict(params()["peers"][1], public_key=KEY_B)]
    assert wg.build_model(params(peers=renewed, revoked_keys=[KEY_A]), today=TODAY)


def test_a_generated_peer_enabled_again_is_reissued_and_an_active_one_is_not():
    model = wg.build_model(params(revoked_keys=[KEY_B], recorded_keys={"laptop": KEY_B}), today=TODAY)
    assert model["interfaces"][0]["peers"][0]["reissue"] is True
    kept = wg.build_model(params(revoked_keys=[KEY_A + "x"], recorded_keys={"laptop": KEY_B}), today=TODAY)
    assert kept["interfaces"][0]["peers"][0]["reissue"] is False


def test_reissue_of_a_revoked_peer_is_refused_saying_to_enable_it():
    peers = [dict(params()["peers"][0], enabled=False)]
    errors = errors_of(peers=peers, reissue=["laptop"])
    assert len(errors) == 1 and errors[0].startswith("wireguard_reissue[0]: 'laptop' is revoked")
    assert "peer_action=enable" in errors[0]


def test_the_revoked_keys_record_only_grows():
    previous = {"revoked_keys": [KEY_A], "peers": [{"name": "x", "status": "disabled", "public_key": KEY_B}]}
    assert wg.revoked_keys(previous, []) == sorted([KEY_A, KEY_B])
    assert wg.revoked_keys({}, [{"name": "y", "status": "disabled", "public_key": KEY_A},
                                {"name": "z", "status": "active", "public_key": KEY_B}]) == [KEY_A]
    assert wg.revoked_keys(None, [{"name": "n", "status": "disabled", "public_key": None}]) == []


# Peers reach the front door and nothing else on this host, ICMP included (issue 15) ----------------------------------

def test_every_tunnel_is_confined_to_the_peers_services_without_ping_by_default():
    gateway = wg.build_model(params(), today=TODAY)["firewall"]
    assert gateway["confined_interfaces"] == [{"name": "wg0", "allow_ping": False, "services": []}]
    local = wg.build_model(params(mode="local", host_addresses=["192.168.1.20"]), today=TODAY)["firewall"]
    assert local["confined_interfaces"] == [{"name": "wg0", "allow_ping": False, "services": ["wg-wg0-front-door"]}]
    assert "wg-wg0-front-door" in [s["name"] for s in local["services"]]
    # An interface without active peers is confined too: nothing of this host is reached through it.
    idle = wg.build_model(params(peers=[]), today=TODAY)["firewall"]
    assert idle["confined_interfaces"] == [{"name": "wg0", "allow_ping": False, "services": []}]


def test_the_clinic_may_allow_ping_and_a_non_boolean_is_named():
    allowed = wg.build_model(params(allow_ping=True), today=TODAY)["firewall"]
    assert allowed["confined_interfaces"][0]["allow_ping"] is True
    one_error("wireguard_allow_ping", allow_ping="yes")


def test_the_firewall_model_accepts_what_the_wireguard_model_publishes():
    from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _firewall_model as fm

    published = wg.build_model(params(mode="local", host_addresses=["192.168.1.20"]), today=TODAY)["firewall"]
    needs = {key: published[key] for key in ("services", "forward_rules", "forward_enabled", "confined_interfaces")}
    model, _warnings = fm.build_model({"management_sources": ["192.168.1.0/24"],
                                       "role_needs": {"wireguard_firewall_needs": needs}})
    assert model["confined_interfaces"] == [{"name": "wg0", "allow_ping": False, "rules": [
        {"match": "tcp dport 443 ip saddr 10.90.1.10/31", "comment": "wg-wg0-front-door"}]}]


# The management peer kind (issue 15): the provider's control node reaches SSH of the clinic's hosts, nothing else ----

MANAGED = [{"name": "laptop", "address": "10.90.1.10"},
           {"name": "provider", "kind": "management", "address": "10.90.1.20", "public_key": KEY_B}]


def test_a_management_peer_reaches_ssh_of_the_server_and_the_oscar_host_only():
    model = wg.build_model(params(peers=MANAGED), today=TODAY)
    laptop, provider = model["interfaces"][0]["peers"]
    assert provider["kind"] == "management" and laptop["kind"] == "staff"
    assert provider["client_allowed_ips"] == ["10.90.1.1/32", "192.168.1.20/32"]
    firewall = model["firewall"]
    forward = {r["name"]: r for r in firewall["forward_rules"]}
    assert forward["wg-wg0-management-ssh"] == {
        "name": "wg-wg0-management-ssh", "iifname": "wg0", "oifname": "eth0", "sources": ["10.90.1.20/32"],
        "destinations": ["192.168.1.20/32"], "protocol": "tcp", "port": 22}
    # The front door is for staff only.
    assert forward["wg-wg0-front-door"]["sources"] == ["10.90.1.10/32"]
    assert len(forward) == 2
    services = {s["name"]: s for s in firewall["services"]}
    assert services["wg-wg0-management-ssh"] == {"name": "wg-wg0-management-ssh", "port": 22, "protocol": "tcp",
                                                 "sources": ["10.90.1.20/32"]}
    assert firewall["confined_interfaces"] == [{"name": "wg0", "allow_ping": False,
                                                "services": ["wg-wg0-management-ssh"]}]


def test_local_mode_management_reaches_this_hosts_ssh_and_the_ssh_port_follows_the_variable():
    model = wg.build_model(params(mode="local", host_addresses=["192.168.1.20"], peers=MANAGED, ssh_port=2222),
                           today=TODAY)
    assert model["interfaces"][0]["peers"][1]["client_allowed_ips"] == ["10.90.1.1/32"]
    services = {s["name"]: s for s in model["firewall"]["services"]}
    assert services["wg-wg0-management-ssh"]["port"] == 2222
    assert services["wg-wg0-front-door"]["sources"] == ["10.90.1.10/32"]
    assert model["firewall"]["forward_rules"] == []


def test_an_expired_or_revoked_management_peer_loses_ssh_and_the_staff_rules_stay():
    peers = [MANAGED[0], dict(MANAGED[1], enabled=False)]
    firewall = wg.build_model(params(peers=peers), today=TODAY)["firewall"]
    assert [r["name"] for r in firewall["forward_rules"]] == ["wg-wg0-front-door"]
    assert "wg-wg0-management-ssh" not in [s["name"] for s in firewall["services"]]


@pytest.mark.parametrize("peer, where, words", [
    # A management peer given the staff kind's reach (the front door, or anything else).
    (dict(MANAGED[1], destinations=[{"address": "192.168.1.20", "port": 443}]), "wireguard_peers[1].destinations",
     "a management peer (kind: management) reaches SSH"),
    # A staff peer given SSH.
    ({"name": "it", "address": "10.90.1.20", "destinations": [{"address": "192.168.1.20", "port": 22}]},
     "wireguard_peers[1].destinations[0].port", "22 is SSH, which only a management peer reaches"),
    ({"name": "it", "address": "10.90.1.20", "kind": "admin"}, "wireguard_peers[1].kind", "'admin' is not one of"),
])
def test_each_kind_keeps_to_its_reach_and_the_refusal_names_the_variable(peer, where, words):
    errors = one_error(where, peers=[MANAGED[0], peer])
    assert any(words in e for e in errors), errors


def test_ssh_for_every_staff_peer_of_an_interface_is_refused_too():
    interfaces = [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820,
                   "destinations": [{"address": "192.168.1.30", "port": 2222}]}]
    one_error("wireguard_interfaces[0].destinations[0].port", interfaces=interfaces, ssh_port=2222)
    one_error("wireguard_management_ssh_port", ssh_port=443)
    one_error("wireguard_management_ssh_port", ssh_port="ssh")


def test_the_peer_list_editor_refuses_ssh_for_staff_too():
    assert any("wireguard_peers[0].destinations[0].port" in e for e in wg.check_peers(
        [{"name": "wg0", "address": "10.90.1.1/24", "listen_port": 51820}],
        [{"name": "it", "address": "10.90.1.20", "destinations": [{"address": "192.168.1.20", "port": 22}]}]))
