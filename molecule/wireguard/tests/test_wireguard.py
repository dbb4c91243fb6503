"""What the wireguard scenario must show after converge, the idempotence and check-mode runs, and
lifecycle.yml (run first by conftest.py).

The containers are reached with testinfra's podman backend (podman exec) rather than through Ansible: the
tests run many small commands and the scenario has a time budget. Test addresses: see molecule.yml.
"""

import json
import os
import time
from pathlib import Path

import pytest
import testinfra

PI, OSCAR, LAN = "wireguard-pi", "wireguard-oscar", "wireguard-lan"
CLIENT, LOCUM, TEMP = "wireguard-client", "wireguard-locum", "wireguard-temp"
PI_LAN, PI_PUBLIC, OSCAR_LAN, LAN_HOST = "192.0.2.10", "198.51.100.10", "192.0.2.30", "192.0.2.40"
OSCAR_NAME = "emr.clinic.test"
STATE = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "wireguard-test"
CLIENTS = STATE / "clients" / PI

# Connects to each (address, port) at once from the host it runs on; prints {"addr:port": "open" | error}.
PROBE = r"""
import json, socket, sys, threading
targets = json.loads(sys.argv[1]); result = {}
def probe(address, port):
    try:
        socket.create_connection((address, port), timeout=4).close(); result["%s:%d" % (address, port)] = "open"
    except OSError as error:
        result["%s:%d" % (address, port)] = type(error).__name__
threads = [threading.Thread(target=probe, args=tuple(t)) for t in targets]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps(result))
"""


def container(name):
    return testinfra.get_host("podman://" + name)


@pytest.fixture(scope="module")
def pi():
    return container(PI)


@pytest.fixture(scope="module")
def client():
    return container(CLIENT)


def probe(host, targets):
    return json.loads(host.check_output("python3 -c %s %s", PROBE, json.dumps(targets)))


def dump(text):
    """`wg show <if> dump` peers by public key."""
    peers = {}
    for line in text.strip().splitlines()[1:]:
        fields = line.split("\t")
        peers[fields[0]] = {"handshake": int(fields[4]), "rx": int(fields[5]), "tx": int(fields[6]),
                            "allowed": fields[3]}
    return peers


def conf_value(text, key):
    return [line.split("=", 1)[1].strip() for line in text.splitlines() if line.split("=", 1)[0].strip() == key]


def public_key_of(host, private_key):
    return host.check_output("echo %s | wg pubkey", private_key)


def device_public_key(name):
    host = container(name)
    if name == TEMP:
        return host.check_output("cat /etc/wireguard/device.pub")
    return host.check_output("wg show wgc public-key")


# The server ------------------------------------------------------------------------------------------------------

def test_tools_from_debian_without_recommends_and_wireguard_go_where_the_kernel_lacks_wireguard(pi):
    assert pi.package("wireguard-tools").is_installed
    assert pi.package("wireguard-go").is_installed  # the test bed's kernel has no WireGuard module
    assert not pi.run("dpkg -l 'linux-image-*' 2>/dev/null | grep -q '^ii'").succeeded


def test_both_interfaces_run_and_start_at_boot(pi):
    for name, port in (("wg0", 51820), ("wg-it", 51821)):
        service = pi.service("wg-quick@%s" % name)
        assert service.is_running and service.is_enabled
        assert pi.check_output("wg show %s listen-port", name) == str(port)
    assert '"mtu":1380' in pi.check_output("ip -j link show dev wg0").replace(" ", "")
    assert "10.74.1.1/24" in pi.check_output("ip -br address show dev wg0")


def test_keys_are_root_only_and_match_the_live_interface(pi):
    assert pi.file("/etc/wireguard").mode == 0o700
    keys = pi.file("/etc/wireguard/keys")
    assert keys.mode == 0o700 and keys.user == "root"
    for name in ("wg0", "wg-it"):
        key = pi.file("/etc/wireguard/keys/%s.key" % name)
        assert key.mode == 0o600 and key.user == "root" and key.group == "root"
        assert pi.file("/etc/wireguard/%s.conf" % name).mode == 0o600
        derived = pi.check_output("wg pubkey < /etc/wireguard/keys/%s.key", name)
        assert derived == pi.check_output("wg show %s public-key", name)
    psk = pi.file("/etc/wireguard/keys/wg0/client.psk")
    assert psk.mode == 0o600 and psk.user == "root"
    # Preshared keys of peers still in the inventory stay; it-laptop has none.
    assert not pi.file("/etc/wireguard/keys/wg-it/it-laptop.psk").exists


def test_server_key_unchanged_across_runs(pi):
    """The configuration issued on the first converge still names the server's key after three more runs."""
    issued = (CLIENTS / "client.conf").read_text()
    assert conf_value(issued, "PublicKey") == [pi.check_output("wg show wg0 public-key")]
    before = pi.check_output("head -1 /root/wg0.before").split("\t")
    after = pi.check_output("head -1 /root/wg0.after").split("\t")
    assert before[1] == after[1]


def test_forwarding_only_on_the_wireguard_and_lan_interfaces(pi):
    def sysctl(key):
        return pi.check_output("cat /proc/sys/net/ipv4/%s", key.replace(".", "/"))

    assert sysctl("ip_forward") == "0"
    assert sysctl("conf.all.forwarding") == "0"
    for name in ("wg0", "wg-it", "eth0"):
        assert pi.check_output("cat /proc/sys/net/ipv4/conf/%s/forwarding", name) == "1"
    assert "net.ipv4.conf.wg0.forwarding = 1" in pi.file("/etc/sysctl.d/60-oscar-wireguard.conf").content_string


def test_masquerading_table_of_its_own_and_filtering_in_the_firewall_roles_forward_chain(pi):
    nat = pi.check_output("nft list table ip oscar_wireguard_nat")
    assert 'oifname "eth0" ip saddr 10.74.1.0/24 masquerade' in nat
    assert "filter" not in nat
    forward = pi.check_output("nft list chain inet oscar_remote_access forward")
    assert "policy drop;" in forward
    rules = [line.strip() for line in forward.splitlines() if "accept comment" in line and "wg-" in line]
    # Only the active staff laptop may reach the front door; the expired and revoked peers left the rule.
    front_door = 'iifname "wg0" oifname "eth0" tcp dport 443 ip saddr 10.74.1.10 ip daddr 192.0.2.30 accept'
    assert front_door in " ".join(rules)
    assert not any("10.74.1.11" in rule or "10.74.1.12" in rule for rule in rules)
    # wg-it holds only the management peer: SSH of the OSCAR host, no front door.
    assert any('iifname "wg-it"' in rule and "tcp dport 22 ip saddr 10.74.2.10 ip daddr 192.0.2.30" in rule
               for rule in rules)
    assert not any('iifname "wg-it"' in rule and "dport 443" in rule for rule in rules)
    assert len(rules) == 2


def test_expired_and_revoked_peers_are_gone_from_the_live_interface(pi):
    live = dump(pi.check_output("wg show wg0 dump"))
    assert device_public_key(CLIENT) in live
    assert device_public_key(LOCUM) not in live
    assert device_public_key(TEMP) not in live
    assert [peer["allowed"] for peer in live.values()] == ["10.74.1.10/32"]
    record = json.loads(pi.check_output("cat /etc/wireguard/wg0.peers.json"))
    status = {peer["name"]: peer["status"] for peer in record["peers"]}
    assert status == {"client": "active", "locum": "expired", "temp": "disabled"}


def test_the_laptops_session_stayed_up_while_the_others_were_removed(pi, client):
    key = device_public_key(CLIENT)
    before = dump(pi.check_output("cat /root/wg0.before"))[key]
    after = dump(pi.check_output("cat /root/wg0.after"))[key]
    # Removing and re-adding a peer resets its counters and handshake; they only grew.
    assert before["handshake"] > 0 and after["handshake"] >= before["handshake"]
    assert after["rx"] > before["rx"] and after["tx"] > before["tx"]
    # One HTTPS connection, opened before the runs, answered every second through all of them.
    lines = client.check_output("cat /root/longlived.log").splitlines()
    client.run("touch /root/longlived.stop")
    assert [line for line in lines if line.startswith("connect")] == [lines[0]]
    answers = [line.split() for line in lines[1:]]
    assert answers and all(fields[0] == "ok" and fields[2] == "200" for fields in answers), lines[-5:]
    assert len({fields[1] for fields in answers}) == 1
    # ...before the runs started and after they ended.
    started = int(pi.check_output("stat -c %Y /root/wg0.before"))
    ended = int(pi.check_output("stat -c %Y /root/wg0.after"))
    assert int(answers[0][3]) <= started and int(answers[-1][3]) >= ended


# The devices ------------------------------------------------------------------------------------------------------

def test_the_laptop_completes_a_handshake_and_reaches_the_front_door_through_the_tunnel(client):
    handshake = int(client.check_output("wg show wgc latest-handshakes").split()[1])
    assert time.time() - handshake < 180
    assert "dev wgc" in client.check_output("ip route get %s", OSCAR_LAN)
    code = client.check_output(
        "curl -sS -o /dev/null -w '%%{http_code}' --max-time 10 --resolve %s:443:%s https://%s/oscar/",
        OSCAR_NAME, OSCAR_LAN, OSCAR_NAME)
    assert code == "200"
    # The front door saw the request come from the gateway's LAN address (masquerading), TLS verified above.
    last = json.loads(container(OSCAR).check_output("tail -1 /var/log/nginx/oscar-access.log"))
    assert last["client"] == PI_LAN and last["path"] == "/oscar/"


def test_the_laptop_reaches_nothing_else_even_when_it_routes_more_into_the_tunnel(pi, client):
    """A client that widens its own AllowedIPs still gets only the front door: the gateway's filter decides."""
    server = client.check_output("wg show wgc peers")
    wider = [OSCAR_LAN + "/32", LAN_HOST + "/32", PI_LAN + "/32", "10.74.1.1/32"]
    forbidden = [[LAN_HOST, 80], [LAN_HOST, 22], [OSCAR_LAN, 8443], [OSCAR_LAN, 8080], [OSCAR_LAN, 22],
                 [PI_LAN, 22], ["10.74.1.1", 22]]
    client.check_output("wg set wgc peer %s allowed-ips %s", server, ",".join(wider))
    try:
        for target in wider[1:]:
            client.check_output("ip route replace %s dev wgc", target)
        answers = probe(client, [*forbidden, [OSCAR_LAN, 443]])
    finally:
        client.run("wg set wgc peer %s allowed-ips %s/32", server, OSCAR_LAN)
        for target in wider[1:]:
            client.run("ip route del %s dev wgc", target)
    assert answers.pop("%s:443" % OSCAR_LAN) == "open"
    assert all(answer == "TimeoutError" for answer in answers.values()), answers
    # The same services answer on the clinic LAN itself (from the gateway): only the tunnel is refused.
    local = probe(pi, [t for t in forbidden if t[0] != "10.74.1.1" and t[0] != PI_LAN])
    assert set(local.values()) == {"open"}, local


@pytest.mark.parametrize("name", [LOCUM, TEMP])
def test_expired_and_revoked_devices_can_no_longer_connect(name):
    device = container(name)
    assert device.service("wg-quick@wgc").is_running  # the device still tries
    result = device.run("curl -sS -o /dev/null --max-time 5 --resolve %s:443:%s https://%s/oscar/",
                        OSCAR_NAME, OSCAR_LAN, OSCAR_NAME)
    assert result.rc != 0


# The controller ---------------------------------------------------------------------------------------------------

def test_client_files_on_the_controller_are_private_and_split_tunnel(pi):
    assert CLIENTS.stat().st_mode & 0o777 == 0o700
    files = sorted(p.name for p in CLIENTS.iterdir())
    # temp was revoked (its files removed); locum expired (kept, like its entry); no pending keys left.
    assert files == ["client.conf", "client.png", "it-laptop.conf", "locum.conf", "locum.png"]
    for path in CLIENTS.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    conf = (CLIENTS / "client.conf").read_text()
    assert conf_value(conf, "AllowedIPs") == [OSCAR_LAN + "/32"]
    assert conf_value(conf, "Endpoint") == [PI_PUBLIC + ":51820"]
    assert conf_value(conf, "Address") == ["10.74.1.10/32"]
    assert len(conf_value(conf, "PresharedKey")) == 1 and not conf_value(conf, "DNS")
    assert public_key_of(pi, conf_value(conf, "PrivateKey")[0]) == device_public_key(CLIENT)
    assert (CLIENTS / "client.png").read_bytes().startswith(b"\x89PNG")
    own = (CLIENTS / "it-laptop.conf").read_text()
    assert not conf_value(own, "PrivateKey") and "# PrivateKey = (the device's own key" in own
    assert conf_value(own, "DNS") == ["192.0.2.1"] and conf_value(own, "Endpoint") == [PI_PUBLIC + ":51821"]
    # A management peer's configuration routes SSH targets only: the server's tunnel address and the OSCAR host.
    assert conf_value(own, "AllowedIPs") == ["10.74.2.1/32, %s/32" % OSCAR_LAN]


def test_the_peers_playbook_lists_status_and_handshakes():
    listing = " ".join((STATE / "peers-list.txt").read_text().split())
    assert "client 10.74.1.10 active, handshake " in listing
    assert "locum 10.74.1.11 expired " in listing
    assert "temp 10.74.1.12 disabled, no handshake" in listing
    peers = (STATE / "wireguard_peers.yml").read_text()
    assert "enabled: false" in peers


# Issue 15: what peers reach of the server itself, and the management peer ------------------------------------------

# One ICMP echo request from the host it runs on; prints "reply" or "none" after 3 seconds. A ping socket (SOCK_DGRAM):
# the containers have no CAP_NET_RAW, and podman sets net.ipv4.ping_group_range to "0 0" for root; the kernel fills in
# the identifier and the checksum and hands back only the replies to this socket.
PING = r"""
import socket, sys, time
target = sys.argv[1]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); sock.settimeout(0.5)
sock.sendto(bytes([8, 0, 0, 0, 0, 0, 0, 1]) + b"oscar-test", (target, 0)); deadline = time.time() + 3
while time.time() < deadline:
    try:
        data, source = sock.recvfrom(2048)
    except socket.timeout:
        continue
    if source[0] == target and data[0] == 0:
        print("reply"); sys.exit(0)
print("none")
"""


def ping(host, target):
    return host.check_output("python3 -c %s %s", PING, target)


@pytest.fixture(scope="module")
def management():
    """The IT provider's control node: it-laptop's configuration (management peer of wg-it, issued by the role) on
    the temp device, with its own key (prepare.yml). Table = off: the device's other tunnel keeps its routes; the
    tests route what they probe."""
    device = container(TEMP)
    issued = (CLIENTS / "it-laptop.conf").read_text()
    conf = issued.replace("# PrivateKey = (the device's own key; it never left the device)",
                          "PostUp = wg set %i private-key /etc/wireguard/management.key\nTable = off")
    # No resolvconf on the test devices: the interface's DNS line (a client setting) is left out.
    conf = "\n".join(line for line in conf.splitlines() if not line.startswith("DNS =")) + "\n"
    assert "PostUp" in conf
    device.check_output("printf '%%s' %s > /etc/wireguard/wgm.conf && chmod 600 /etc/wireguard/wgm.conf", conf)
    device.check_output("wg-quick up wgm")
    server = device.check_output("wg show wgm peers")
    # Route (and let through the device's own tunnel) every address probed: the server must be what refuses.
    device.check_output("wg set wgm peer %s allowed-ips 10.74.0.0/16,192.0.2.0/24", server)
    targets = ["10.74.2.1/32", "10.74.1.1/32", OSCAR_LAN + "/32", LAN_HOST + "/32", PI_LAN + "/32"]
    for target in targets:
        device.check_output("ip route replace %s dev wgm", target)
    try:
        yield device
    finally:
        for target in targets:
            device.run("ip route del %s dev wgm", target)
        device.run("ip route replace %s/32 dev wgc", OSCAR_LAN)
        device.run("wg-quick down wgm")


def test_the_management_peer_reaches_ssh_of_the_server_and_the_oscar_host_and_nothing_else(management):
    answers = probe(management, [["10.74.2.1", 22], [OSCAR_LAN, 22],
                                 [OSCAR_LAN, 443], [OSCAR_LAN, 8443], [OSCAR_LAN, 8080],
                                 [LAN_HOST, 22], [LAN_HOST, 80], ["10.74.2.1", 80], ["10.74.2.1", 443]])
    assert answers.pop("10.74.2.1:22") == "open"
    assert answers.pop("%s:22" % OSCAR_LAN) == "open"
    # Not the front door (the staff kind's reach), not Tomcat, not another host's SSH, not the server's other ports
    # (closed there: a refusal instead of a timeout would mean the firewall let the packet through).
    assert all(answer == "TimeoutError" for answer in answers.values()), answers
    assert ping(management, "10.74.2.1") == "none"


def test_a_staff_peer_reaches_neither_ssh_nor_the_servers_tunnel_address_not_even_by_ping(pi, client):
    """The laptop (staff) routes the server's tunnel address into its tunnel and tries SSH of the server and of the
    OSCAR host, and ping: all dropped. The Pi's tunnel address answered ping from peers before (wireguard_allow_ping
    is false here)."""
    server = client.check_output("wg show wgc peers")
    client.check_output("wg set wgc peer %s allowed-ips %s/32,10.74.1.1/32", server, OSCAR_LAN)
    client.check_output("ip route replace 10.74.1.1/32 dev wgc")
    try:
        answers = probe(client, [["10.74.1.1", 22], [OSCAR_LAN, 22], [OSCAR_LAN, 443]])
        echo = ping(client, "10.74.1.1")
    finally:
        client.run("ip route del 10.74.1.1/32 dev wgc")
        client.run("wg set wgc peer %s allowed-ips %s/32", server, OSCAR_LAN)
    assert answers == {"10.74.1.1:22": "TimeoutError", "%s:22" % OSCAR_LAN: "TimeoutError",
                       "%s:443" % OSCAR_LAN: "open"}
    assert echo == "none"
    # The same probe gets an answer where the firewall allows ping (firewall_allow_ping: the Pi's public address).
    assert ping(client, PI_PUBLIC) == "reply"
    chain = pi.check_output("nft list chain inet oscar_remote_access input")
    assert 'iifname "wg0" drop' in chain and 'iifname "wg-it" drop' in chain
