# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The WireGuard role's model: validation of its variables, and the text of server and client configurations.

PRIVATE to this collection: it may change without notice.

``build_model`` checks what argument specs cannot (addresses with the standard library's
``ipaddress``, overlaps, key format, duplicate names, dates) and reports every problem at once,
each naming the role variable, for example ``wireguard_peers[2].public_key``. It returns the
normalised model the modules and templates use: per interface the peers with their status
(active, disabled, expired) and the firewall role's variables that let active peers reach the
OSCAR front door and nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import ipaddress
import os
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._expiry import (
    expired_when_new,
    is_expired,
    not_a_date,
    parse_date,
)
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems, is_hostname
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._wireguard_crypto import is_key

IFNAME = re.compile(r"^[a-zA-Z0-9_=+.-]{1,15}$")
PEER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MODES = ("gateway", "local")
PROTOCOLS = ("tcp", "udp")
INTERFACE_KEYS = frozenset(("name", "address", "listen_port", "mtu", "endpoint", "dns", "persistent_keepalive",
                            "destinations", "listen_sources"))
PEER_KEYS = frozenset(("name", "interface", "owner", "address", "public_key", "preshared_key", "enabled", "expires",
                       "destinations", "kind"))
# staff: the front door (and its destinations); management: the provider's control node, SSH of the clinic's hosts only.
KINDS = ("staff", "management")
SSH_PORT = 22
DESTINATION_KEYS = frozenset(("address", "port", "protocol", "name"))
NAT_TABLE = "oscar_wireguard_nat"


class ValidationError(Exception):
    def __init__(self, errors):
        self.errors = list(errors)
        super(ValidationError, self).__init__("; ".join(self.errors))


def _is_bool(value):
    return isinstance(value, bool)


def _int(value, low, high):
    """An int in [low, high] from an int or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def _ipv4(value):
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except (ipaddress.AddressValueError, ValueError):
        return None


def _ipv4_network(value):
    """An IPv4 network from "a.b.c.d" (a /32) or a CIDR without host bits, else None."""
    text = str(value).strip()
    try:
        return ipaddress.IPv4Network(text if "/" in text else text + "/32", strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        return None


def _endpoint(value):
    """(host, port or None) from "host", "host:port", "a.b.c.d:port" or "[v6]:port", else None."""
    text = str(value).strip()
    match = re.match(r"^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$", text)
    if match:
        try:
            ipaddress.IPv6Address(match.group(1))
        except ValueError:
            return None
        host, port = "[%s]" % match.group(1), match.group(2)
    else:
        host, _sep, port = text.partition(":")
        if ":" in port or not (_ipv4(host) or is_hostname(host)):
            return None
        port = port or None
    if port is not None:
        port = _int(port, 1, 65535)
        if port is None:
            return None
    return host, port


def _ssh_ports(params):
    """The ports that count as SSH: 22 and wireguard_management_ssh_port (checked in build_model)."""
    port = _int(params.get("ssh_port", SSH_PORT), 1, 65535)
    return set([SSH_PORT] + ([port] if port else []))


def _refuse_ssh(destinations, where, params, errors):
    """A staff peer (or an interface's staff peers) given SSH: refused, naming the port."""
    for number, destination in enumerate(destinations):
        if destination["protocol"] == "tcp" and destination["port"] in _ssh_ports(params):
            errors.add("%s[%d].port" % (where, number), "%d is SSH, which only a management peer reaches: put the"
                       " provider's control node in wireguard_peers with kind: management (it reaches SSH of the"
                       " clinic's hosts and nothing else) instead" % destination["port"])


def _destinations(raw, where, errors):
    result = []
    if raw is None:
        return result
    for _index, here, item in errors.entries(where, raw, DESTINATION_KEYS,
                                             "must be a list of mappings with address, port and protocol",
                                             "must be a mapping with address, port and protocol"):
        network = _ipv4_network(item.get("address", ""))
        if network is None:
            errors.add(here + ".address", "%r is not an IPv4 address or CIDR" % (item.get("address"),))
        port = _int(item.get("port"), 1, 65535)
        if port is None:
            errors.add(here + ".port", "%r is not a port (1-65535)" % (item.get("port"),))
        protocol = item.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            errors.add(here + ".protocol", "%r is not one of %s" % (protocol, ", ".join(PROTOCOLS)))
        if network is not None and port is not None and protocol in PROTOCOLS:
            result.append({"address": str(network), "port": port, "protocol": protocol})
    return result


def _interfaces(raw, params, errors):
    result = []
    if raw == []:
        errors.add("wireguard_interfaces", "must list at least one interface on a WireGuard server")
    names, ports = {}, {}
    for index, where, item in errors.entries("wireguard_interfaces", raw, INTERFACE_KEYS):
        name = item.get("name")
        if not isinstance(name, str) or not IFNAME.match(name):
            errors.add(where + ".name", "%r is not an interface name (1-15 of letters, digits, _=+.-)" % (name,))
            name = None
        elif name in names:
            errors.add(where + ".name", "%r is also wireguard_interfaces[%d].name" % (name, names[name]))
        else:
            names[name] = index
        try:
            address = ipaddress.IPv4Interface(str(item.get("address", "")).strip())
            if address.network.prefixlen > 30:
                errors.add(where + ".address", "%s leaves no room for peers (use a /30 or wider)" % address)
                address = None
            elif address.ip in (address.network.network_address, address.network.broadcast_address):
                errors.add(where + ".address", "%s is the network or broadcast address of its subnet" % address)
                address = None
        except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
            errors.add(where + ".address", "%r is not an IPv4 address with a prefix, such as 10.90.1.1/24"
                       % (item.get("address"),))
            address = None
        port = _int(item.get("listen_port"), 1, 65535)
        if port is None:
            errors.add(where + ".listen_port", "%r is not a port (1-65535)" % (item.get("listen_port"),))
        elif port in ports:
            errors.add(where + ".listen_port", "%d is also wireguard_interfaces[%d].listen_port" % (port, ports[port]))
        else:
            ports[port] = index
        mtu = item.get("mtu")
        if mtu is not None:
            mtu = _int(mtu, 1280, 9000)
            if mtu is None:
                errors.add(where + ".mtu", "%r is not an MTU between 1280 and 9000" % (item.get("mtu"),))
        endpoint_raw = item.get("endpoint") or params.get("endpoint") or ""
        endpoint = None
        if endpoint_raw:
            parsed = _endpoint(endpoint_raw)
            field = (where + ".endpoint") if item.get("endpoint") else "wireguard_endpoint"
            if parsed is None:
                errors.add(field, "%r is not a host name or address, with an optional :port" % (endpoint_raw,))
            else:
                endpoint = "%s:%d" % (parsed[0], parsed[1] or port or 0)
        dns = []
        for position, server in enumerate(item.get("dns") or []):
            try:
                dns.append(str(ipaddress.ip_address(str(server).strip())))
            except ValueError:
                errors.add("%s.dns[%d]" % (where, position), "%r is not an IP address" % (server,))
        keepalive = _int(item.get("persistent_keepalive", 25), 0, 65535)
        if keepalive is None:
            errors.add(where + ".persistent_keepalive", "%r is not 0-65535 seconds"
                       % (item.get("persistent_keepalive"),))
        sources = item.get("listen_sources", ["0.0.0.0/0", "::/0"])
        listen_sources = []
        if not isinstance(sources, list) or not sources:
            errors.add(where + ".listen_sources", "must be a non-empty list of CIDRs")
        else:
            for position, source in enumerate(sources):
                try:
                    listen_sources.append(str(ipaddress.ip_network(str(source).strip(), strict=True)))
                except ValueError:
                    errors.add("%s.listen_sources[%d]" % (where, position), "%r is not a CIDR" % (source,))
        destinations = _destinations(item.get("destinations"), where + ".destinations", errors)
        _refuse_ssh(destinations, where + ".destinations", params, errors)
        result.append({
            "index": index, "name": name, "address": str(address) if address else None,
            "network": address.network if address else None, "server_ip": address.ip if address else None,
            "listen_port": port, "mtu": mtu, "endpoint": endpoint, "dns": dns, "persistent_keepalive": keepalive,
            "destinations": destinations, "listen_sources": listen_sources, "peers": [],
        })
    valid = [i for i in result if i["network"] is not None]
    for position, first in enumerate(valid):
        for second in valid[position + 1:]:
            if first["network"].overlaps(second["network"]):
                errors.add("wireguard_interfaces[%d].address" % second["index"],
                           "%s overlaps %s of wireguard_interfaces[%d]"
                           % (second["network"], first["network"], first["index"]))
    return result


def _peers(raw, interfaces, params, today, errors):
    by_name = dict((i["name"], i) for i in interfaces if i["name"])
    names, addresses, keys = {}, {}, {}
    peers = []
    for index, where, item in errors.entries("wireguard_peers", raw, PEER_KEYS):
        name = item.get("name")
        if not isinstance(name, str) or not PEER_NAME.match(name):
            errors.add(where + ".name", "%r is not a peer name (1-40 of letters, digits, ._- starting with a letter or"
                       " digit)" % (name,))
            name = None
        elif name.lower() in names:
            errors.add(where + ".name", "%r is a duplicate of wireguard_peers[%d].name" % (name, names[name.lower()]))
        else:
            names[name.lower()] = index
        iface_name = item.get("interface")
        if iface_name is None and len(interfaces) == 1:
            interface = interfaces[0]
        else:
            interface = by_name.get(iface_name)
            if interface is None:
                errors.add(where + ".interface", "%r is not the name of one of wireguard_interfaces (%s)"
                           % (iface_name, ", ".join(sorted(by_name)) or "none"))
        address = _ipv4(item.get("address", ""))
        if address is None:
            errors.add(where + ".address", "%r is not an IPv4 address" % (item.get("address"),))
        elif interface is not None and interface["network"] is not None:
            network = interface["network"]
            if address not in network:
                errors.add(where + ".address", "%s is outside %s, the subnet of interface %s"
                           % (address, network, interface["name"]))
            elif address in (network.network_address, network.broadcast_address):
                errors.add(where + ".address", "%s is the network or broadcast address of %s" % (address, network))
            elif address == interface["server_ip"]:
                errors.add(where + ".address", "%s is the server's own address on %s" % (address, interface["name"]))
        if address is not None:
            if address in addresses:
                errors.add(where + ".address", "%s is also the address of wireguard_peers[%d]"
                           % (address, addresses[address]))
            else:
                addresses[address] = index
        public_key = item.get("public_key")
        if public_key in ("", None):
            public_key = None
        elif not is_key(public_key):
            errors.add(where + ".public_key", "is not a WireGuard public key (44 characters of base64 ending in '=',"
                       " as `wg pubkey` prints)")
            public_key = None
        else:
            public_key = public_key.strip()
            if public_key in keys:
                errors.add(where + ".public_key", "is also the public key of wireguard_peers[%d]" % keys[public_key])
            keys[public_key] = index
        for flag, default in (("preshared_key", True), ("enabled", True)):
            if not _is_bool(item.get(flag, default)):
                errors.add("%s.%s" % (where, flag), "%r is not true or false" % (item.get(flag),))
        expires = parse_date(item.get("expires"))
        if not_a_date(item.get("expires")):
            errors.add(where + ".expires", not_a_date(item.get("expires")))
        owner = item.get("owner", "")
        if owner is None:
            owner = ""
        if not isinstance(owner, str) or "\n" in owner:
            errors.add(where + ".owner", "must be one line of text")
            owner = ""
        destinations = _destinations(item.get("destinations"), where + ".destinations", errors)
        kind = item.get("kind", "staff")
        if kind not in KINDS:
            errors.add(where + ".kind", "%r is not one of %s" % (kind, ", ".join(KINDS)))
            kind = "staff"
        if kind == "management" and item.get("destinations"):
            errors.add(where + ".destinations", "a management peer (kind: management) reaches SSH of the clinic's"
                       " hosts and nothing else: leave out destinations (the front door and other services are for"
                       " staff peers)")
            destinations = []
        elif kind == "staff":
            _refuse_ssh(destinations, where + ".destinations", params, errors)
        enabled = item.get("enabled", True) is True
        if not enabled:
            status = "disabled"
        elif is_expired(expires, today):
            status = "expired"
            recorded = params.get("recorded_peers")
            if recorded is not None and name not in recorded:
                # Never issued: an expiry already past can only be a mistake (most likely the year), and the peer
                # would be recorded as expired and never work, without a word.
                errors.add(where + ".expires", expired_when_new(item.get("expires"), today, "peer", "was never issued"))
        else:
            status = "active"
        peers.append({
            "index": index, "name": name, "owner": owner, "interface": interface["name"] if interface else None,
            "address": str(address) if address else None, "public_key": public_key,
            "generate": public_key is None, "preshared_key": item.get("preshared_key", True) is True,
            "enabled": enabled, "expires": expires.isoformat() if expires else None, "status": status,
            "destinations": destinations, "kind": kind, "_interface": interface,
        })
    return peers


def revoked_keys(previous, peers):
    """The public keys an interface's record keeps as revoked: those it already kept, those of peers it recorded as
    revoked (disabled), and those of the peers revoked now. A key, once in this list, never goes live again."""
    keys = set((previous or {}).get("revoked_keys") or [])
    for entry in list((previous or {}).get("peers") or []) + list(peers):
        if isinstance(entry, dict) and entry.get("status") == "disabled" and entry.get("public_key"):
            keys.add(entry["public_key"])
    return sorted(keys)


def _revoked_key_problems(peers, params, errors):
    """A revoked key never comes back. A device with its own key that is enabled again with the key it had when it
    was revoked is refused; a generated peer enabled again gets a new key (returned: the names to re-issue)."""
    revoked = set(params.get("revoked_keys") or [])
    recorded = params.get("recorded_keys") or {}
    renew = []
    for peer in peers:
        if peer["status"] == "disabled":
            continue
        if peer["public_key"] is not None and peer["public_key"] in revoked:
            errors.add("wireguard_peers[%d].public_key" % peer["index"],
                       "is a revoked key (%s was revoked with it), and a revoked key never comes back: have the device"
                       " make a new key pair and put its new public key here (peer_action=enable -e peer_public_key=..."
                       " with playbooks/wireguard_peers.yml)" % peer["name"])
        elif peer["generate"] and recorded.get(peer["name"]) in revoked:
            renew.append(peer["name"])
    return renew


def _rule_name(*parts):
    """A firewall rule name (1-63 of letters, digits, ._-) from its parts; long ones end in a short hash."""
    name = "-".join(parts)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if len(name) > 63:
        name = name[:54] + "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return name


def _firewall(interfaces, params):
    """The firewall role's variables that let active peers reach the front door and their destinations, and no more."""
    mode = params["mode"]
    oscar = params.get("oscar_network")
    port = params.get("oscar_port")
    lan = params.get("lan_interface") or None
    services, forward, masquerade, confined = [], [], [], []
    for interface in interfaces:
        services.append({"name": _rule_name("wireguard", interface["name"]), "port": interface["listen_port"],
                         "protocol": "udp", "sources": list(interface["listen_sources"])})
        # Whatever arrives on the tunnel for this host itself reaches only the services listed here (in local mode the
        # front door and the peers' destinations); ping only where the clinic allows it (wireguard_allow_ping).
        tunnel_services = []
        confined.append({"name": interface["name"], "allow_ping": params.get("allow_ping") is True,
                         "services": tunnel_services})
        active = [p for p in interface["peers"] if p["status"] == "active" and p["kind"] == "staff"]
        managers = [p for p in interface["peers"] if p["status"] == "active" and p["kind"] == "management"]
        if managers:
            # The provider's control node: SSH of this host (through its tunnel address, an input service) and, in
            # gateway mode, of the OSCAR host (forwarded); nothing else, the front door included.
            name = _rule_name("wg", interface["name"], "management-ssh")
            manager_sources = ["%s/32" % p["address"] for p in managers]
            services.append({"name": name, "port": params["ssh_port"], "protocol": "tcp", "sources": manager_sources})
            tunnel_services.append(name)
            if mode == "gateway":
                rule = {"name": name, "iifname": interface["name"], "sources": manager_sources,
                        "destinations": [str(oscar)], "protocol": "tcp", "port": params["ssh_port"]}
                if lan:
                    rule["oifname"] = lan
                forward.append(rule)
        if (active or managers) and mode == "gateway" and params.get("masquerade"):
            masquerade.append({"interface": interface["name"], "source": str(interface["network"]), "oifname": lan})
        if not active:
            continue
        sources = ["%s/32" % p["address"] for p in active]
        wanted = [("front-door", sources, {"address": str(oscar), "port": port, "protocol": "tcp"})]
        for number, destination in enumerate(interface["destinations"]):
            wanted.append(("dest%d" % number, sources, destination))
        for peer in active:
            for number, destination in enumerate(peer["destinations"]):
                wanted.append(("%s-%d" % (peer["name"], number), ["%s/32" % peer["address"]], destination))
        for label, rule_sources, destination in wanted:
            name = _rule_name("wg", interface["name"], label)
            if mode == "gateway":
                rule = {"name": name, "iifname": interface["name"], "sources": rule_sources,
                        "destinations": [destination["address"]], "protocol": destination["protocol"],
                        "port": destination["port"]}
                if lan:
                    rule["oifname"] = lan
                forward.append(rule)
            else:
                services.append({"name": name, "port": destination["port"], "protocol": destination["protocol"],
                                 "sources": rule_sources})
                tunnel_services.append(name)
    return {"services": services, "forward_rules": forward, "masquerade": masquerade,
            "forward_enabled": mode == "gateway", "confined_interfaces": confined}


def build_model(params, today=None):
    """Validate the role's variables; return the model or raise ValidationError listing every problem."""
    errors = Problems()
    today = today or datetime.date.today()
    mode = params.get("mode", "gateway")
    if mode not in MODES:
        errors.add("wireguard_mode", "%r is not one of %s" % (mode, ", ".join(MODES)))
    oscar = _ipv4(params.get("oscar_address") or "")
    if oscar is None:
        errors.add("wireguard_oscar_address", "%r is not an IPv4 address: set the OSCAR front door's address on the"
                   " clinic network" % (params.get("oscar_address"),))
    oscar_port = _int(params.get("oscar_port", 443), 1, 65535)
    if oscar_port is None:
        errors.add("wireguard_oscar_port", "%r is not a port (1-65535)" % (params.get("oscar_port"),))
    ssh_port = _int(params.get("ssh_port", SSH_PORT), 1, 65535)
    if ssh_port is None:
        errors.add("wireguard_management_ssh_port", "%r is not a port (1-65535)" % (params.get("ssh_port"),))
    elif ssh_port == oscar_port:
        errors.add("wireguard_management_ssh_port", "%d is also wireguard_oscar_port, the front door's port" % ssh_port)
    if not _is_bool(params.get("allow_ping", False)):
        errors.add("wireguard_allow_ping", "%r is not true or false" % (params.get("allow_ping"),))
    lan = params.get("lan_interface") or ""
    if lan and not IFNAME.match(lan):
        errors.add("wireguard_lan_interface", "%r is not an interface name" % (lan,))
    if mode == "gateway" and params.get("masquerade") and not lan:
        errors.add("wireguard_lan_interface", "is empty and the host's default route gives none: masquerading in"
                   " gateway mode needs the interface that leads to the OSCAR host")
    host_addresses = set()
    for text in params.get("host_addresses") or []:
        found = _ipv4(text)
        if found is not None:
            host_addresses.add(found)
    interfaces = _interfaces(params.get("interfaces"), params, errors)
    peers = _peers(params.get("peers"), interfaces, params, today, errors)
    for interface in interfaces:
        if interface["network"] is None:
            continue
        here = "wireguard_interfaces[%d].address" % interface["index"]
        if oscar is not None and oscar in interface["network"]:
            errors.add(here, "%s contains wireguard_oscar_address %s: the tunnel subnet must not overlap the clinic"
                       " network" % (interface["network"], oscar))
        for address in sorted(host_addresses):
            if address in interface["network"] and address != interface["server_ip"]:
                errors.add(here, "%s overlaps this host's address %s" % (interface["network"], address))
        for number, destination in enumerate(interface["destinations"]):
            if ipaddress.IPv4Network(destination["address"]).overlaps(interface["network"]):
                errors.add("wireguard_interfaces[%d].destinations[%d].address" % (interface["index"], number),
                           "%s is inside the tunnel subnet %s" % (destination["address"], interface["network"]))
    for peer in peers:
        interface = peer.pop("_interface")
        for number, destination in enumerate(peer["destinations"]):
            network = ipaddress.IPv4Network(destination["address"])
            for other in interfaces:
                if other["network"] is not None and network.overlaps(other["network"]):
                    errors.add("wireguard_peers[%d].destinations[%d].address" % (peer["index"], number),
                               "%s is inside the tunnel subnet %s" % (network, other["network"]))
        if interface is not None:
            interface["peers"].append(peer)
    if mode == "local" and oscar is not None and host_addresses and oscar not in host_addresses:
        errors.add("wireguard_oscar_address", "%s is not an address of this host, but wireguard_mode is local (the"
                   " WireGuard server on the OSCAR host); use gateway for a separate server" % oscar)
    if mode == "gateway" and oscar is not None and oscar in host_addresses:
        errors.add("wireguard_oscar_address", "%s is an address of this host, but wireguard_mode is gateway; use"
                   " local when the WireGuard server is the OSCAR host" % oscar)
    if mode == "local":
        for interface in interfaces:
            for number, destination in enumerate(interface["destinations"]):
                if oscar is not None and destination["address"] != "%s/32" % oscar:
                    errors.add("wireguard_interfaces[%d].destinations[%d].address" % (interface["index"], number),
                               "in local mode peers can only reach ports of this host (%s)" % oscar)
            for peer in interface["peers"]:
                for number, destination in enumerate(peer["destinations"]):
                    if oscar is not None and destination["address"] != "%s/32" % oscar:
                        errors.add("wireguard_peers[%d].destinations[%d].address" % (peer["index"], number),
                                   "in local mode peers can only reach ports of this host (%s)" % oscar)
    known = dict((p["name"], p) for p in peers if p["name"])
    renew = _revoked_key_problems(peers, params, errors)
    reissue = params.get("reissue") or []
    if not isinstance(reissue, list):
        errors.add("wireguard_reissue", "must be a list of peer names")
        reissue = []
    for position, name in enumerate(reissue):
        peer = known.get(name)
        if peer is None:
            errors.add("wireguard_reissue[%d]" % position, "%r is not the name of one of wireguard_peers" % (name,))
        elif not peer["generate"]:
            errors.add("wireguard_reissue[%d]" % position, "%r has its own public_key: only peers whose keys this role"
                       " generates can be re-issued; ask the device for a new public key instead" % (name,))
        elif peer["status"] == "disabled":
            errors.add("wireguard_reissue[%d]" % position, "%r is revoked (enabled: false), so a new key would go"
                       " nowhere; enable it instead (peer_action=enable with playbooks/wireguard_peers.yml), which"
                       " issues it a new key" % (name,))
    for interface in interfaces:
        if interface["endpoint"] is None and any(p["generate"] for p in interface["peers"]):
            errors.add("wireguard_endpoint", "is empty, but interface %s has peers whose client configuration this role"
                       " writes: set wireguard_endpoint (or the interface's endpoint) to the clinic's public name or"
                       " address" % interface["name"])
    if errors.errors:
        raise ValidationError(errors.errors)

    params = dict(params, mode=mode, oscar_network="%s/32" % oscar, oscar_port=oscar_port, lan_interface=lan,
                  ssh_port=ssh_port)
    model_interfaces = []
    for interface in interfaces:
        peers_out = []
        for peer in interface["peers"]:
            if peer["kind"] == "management":
                # SSH of this host through its tunnel address, and of the OSCAR host behind a gateway.
                client_allowed = ["%s/32" % interface["server_ip"]] + (["%s/32" % oscar] if mode == "gateway" else [])
            else:
                client_allowed = ["%s/32" % oscar]
                for destination in interface["destinations"] + peer["destinations"]:
                    if destination["address"] not in client_allowed:
                        client_allowed.append(destination["address"])
            peer = dict(peer)
            peer.pop("index")
            peer["allowed_ips"] = ["%s/32" % peer["address"]]
            peer["client_allowed_ips"] = client_allowed
            peer["client_address"] = "%s/32" % peer["address"]
            peer["reissue"] = peer["name"] in reissue or peer["name"] in renew
            peers_out.append(peer)
        model_interfaces.append({
            "name": interface["name"], "address": interface["address"], "network": str(interface["network"]),
            "listen_port": interface["listen_port"], "mtu": interface["mtu"], "endpoint": interface["endpoint"],
            "dns": interface["dns"], "persistent_keepalive": interface["persistent_keepalive"],
            "destinations": interface["destinations"], "peers": peers_out,
        })
    firewall = _firewall([dict(i, peers=list(m["peers"])) for i, m in zip(interfaces, model_interfaces)], params)
    return {
        "mode": mode, "oscar_address": str(oscar), "oscar_port": oscar_port, "lan_interface": lan,
        "today": today.isoformat(), "interfaces": model_interfaces, "firewall": firewall,
        "generated_peers": [p["name"] for i in model_interfaces for p in i["peers"] if p["generate"]],
    }


def check_peers(interfaces, peers, today=None):
    """Validate only interfaces and peers (as the peer-list editor needs); return the errors, empty when fine."""
    errors = Problems()
    checked = _interfaces(interfaces, {}, errors)
    _peers(peers, checked, {}, today or datetime.date.today(), errors)
    return errors.errors


def free_address(interfaces, peers, interface_name=None):
    """The first unused peer address in an interface's subnet (after the server's), or None."""
    candidates = [i for i in interfaces
                  if isinstance(i, dict) and (interface_name is None or i.get("name") == interface_name)]
    if len(candidates) != 1:
        return None
    try:
        server = ipaddress.IPv4Interface(str(candidates[0].get("address", "")).strip())
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        return None
    used = set([server.ip])
    for peer in peers:
        found = _ipv4(peer.get("address", "")) if isinstance(peer, dict) else None
        if found is not None:
            used.add(found)
    for host in server.network.hosts():
        if host not in used and host > server.ip:
            return str(host)
    for host in server.network.hosts():
        if host not in used:
            return str(host)
    return None


# Configuration text ---------------------------------------------------------------------------------------------

USERSPACE_SETTINGS = ("auto", "always", "never")


def kernel_has_wireguard(sys_root="/sys", modules_root="/lib/modules", release=None):
    """Whether the running kernel has WireGuard: loaded, built in, or as a module file it can load."""
    if os.path.isdir(os.path.join(sys_root, "module", "wireguard")):
        return True
    base = os.path.join(modules_root, release or os.uname()[2])
    try:
        with open(os.path.join(base, "modules.builtin")) as handle:
            if any(line.strip().endswith("/wireguard.ko") for line in handle):
                return True
    except (OSError, IOError):
        pass
    for sub in ("kernel/drivers/net/wireguard", "updates", "extra"):
        for _root, _dirs, files in os.walk(os.path.join(base, sub)):
            if any(f.startswith("wireguard.ko") for f in files):
                return True
    return False


def userspace_plan(setting, kernel_module):
    """What wireguard_userspace means on a host: whether to install wireguard-go, and whether wg-quick will run it.

    wg-quick always tries the kernel first and falls back to wireguard-go only when the kernel has no WireGuard and
    wireguard-go is installed. Only then does a process hold the tunnel, one that can crash and leave the unit
    (oneshot) active with no interface: that is when the role supervises it. With the kernel's WireGuard nothing
    changes, whatever the setting ('always' installs wireguard-go, which wg-quick then never uses).
    """
    if setting not in USERSPACE_SETTINGS:
        raise ValueError("wireguard_userspace: %r is not one of %s" % (setting, ", ".join(USERSPACE_SETTINGS)))
    install = setting == "always" or (setting == "auto" and not kernel_module)
    return {"install_wireguard_go": install, "supervise_wireguard_go": install and not kernel_module}


def fingerprint(secret):
    """A short, non-reversible label for a secret, so diffs show that it changed without showing it."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def _secret(value, redact):
    return "(secret %s)" % fingerprint(value) if redact else value


def render_server_config(interface, private_key, peers, post_up=(), pre_down=(), redact=False, header=None):
    """wg-quick text for a server interface; ``peers`` are dicts with name, owner, public_key, preshared_key
    (the key itself or None), allowed_ips, expires."""
    lines = []
    header = header or "Managed by Ansible (role oscar_emr.remote_access.wireguard): edits are overwritten."
    lines.append("# %s" % header)
    lines.append("[Interface]")
    lines.append("Address = %s" % interface["address"])
    lines.append("ListenPort = %d" % interface["listen_port"])
    if interface.get("mtu"):
        lines.append("MTU = %d" % interface["mtu"])
    lines.append("PrivateKey = %s" % _secret(private_key, redact))
    for command in post_up:
        lines.append("PostUp = %s" % command)
    for command in pre_down:
        lines.append("PreDown = %s" % command)
    for peer in peers:
        lines.append("")
        label = peer["name"]
        if peer.get("owner"):
            label += " (%s)" % peer["owner"]
        if peer.get("expires"):
            label += ", expires %s" % peer["expires"]
        lines.append("# %s" % label)
        lines.append("[Peer]")
        lines.append("PublicKey = %s" % peer["public_key"])
        if peer.get("preshared_key"):
            lines.append("PresharedKey = %s" % _secret(peer["preshared_key"], redact))
        lines.append("AllowedIPs = %s" % ", ".join(peer["allowed_ips"]))
    return "\n".join(lines) + "\n"


def render_setconf(private_key, listen_port, peers):
    """The `wg setconf`/`wg syncconf` text (no wg-quick keys) for a live interface."""
    lines = ["[Interface]", "PrivateKey = %s" % private_key, "ListenPort = %d" % listen_port]
    for peer in peers:
        lines.append("[Peer]")
        lines.append("PublicKey = %s" % peer["public_key"])
        if peer.get("preshared_key"):
            lines.append("PresharedKey = %s" % peer["preshared_key"])
        lines.append("AllowedIPs = %s" % ", ".join(peer["allowed_ips"]))
    return "\n".join(lines) + "\n"


def render_client_config(peer, private_key, server_public_key, endpoint, preshared_key=None, dns=(),
                         persistent_keepalive=25, comment=None):
    """A client's wg-quick text: its own address, the server as the only peer, a split tunnel to the allowed IPs.

    ``private_key`` None writes a configuration for a device that keeps its own key (a comment stands in)."""
    lines = []
    if comment:
        for line in comment.splitlines():
            lines.append("# %s" % line)
    lines.append("[Interface]")
    if private_key:
        lines.append("PrivateKey = %s" % private_key)
    else:
        lines.append("# PrivateKey = (the device's own key; it never left the device)")
    lines.append("Address = %s" % peer["client_address"])
    if dns:
        lines.append("DNS = %s" % ", ".join(dns))
    lines.append("")
    lines.append("[Peer]")
    lines.append("PublicKey = %s" % server_public_key)
    if preshared_key:
        lines.append("PresharedKey = %s" % preshared_key)
    lines.append("Endpoint = %s" % endpoint)
    lines.append("AllowedIPs = %s" % ", ".join(peer["client_allowed_ips"]))
    if persistent_keepalive:
        lines.append("PersistentKeepalive = %d" % persistent_keepalive)
    return "\n".join(lines) + "\n"


def parse_config(text):
    """A wg(-quick) configuration as {"interface": {key: [values]}, "peers": [{key: [values]}]}; comments dropped."""
    result = {"interface": {}, "peers": []}
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.lower() == "[interface]":
            section = result["interface"]
            continue
        if line.lower() == "[peer]":
            section = {}
            result["peers"].append(section)
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            continue
        section.setdefault(key.strip().lower(), []).append(value.strip())
    return result


def parse_dump(text):
    """`wg show <interface> dump` as {"private_key", "public_key", "listen_port", "peers": {public_key: {...}}}."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    head = lines[0].split("\t")
    result = {"private_key": None if head[0] == "(none)" else head[0],
              "public_key": None if head[1] == "(none)" else head[1],
              "listen_port": int(head[2]) if head[2].isdigit() else None, "peers": {}}
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) < 8:
            continue
        allowed = [] if fields[3] == "(none)" else sorted(a.strip() for a in fields[3].split(",") if a.strip())
        result["peers"][fields[0]] = {
            "preshared_key": None if fields[1] == "(none)" else fields[1],
            "endpoint": None if fields[2] == "(none)" else fields[2],
            "allowed_ips": allowed,
            "latest_handshake": int(fields[4]) if fields[4].isdigit() else 0,
            "transfer_rx": int(fields[5]) if fields[5].isdigit() else 0,
            "transfer_tx": int(fields[6]) if fields[6].isdigit() else 0,
            "persistent_keepalive": None if fields[7] in ("off", "0") else fields[7],
        }
    return result


def routes_needed(address, peers):
    """The peers' allowed IPs that the interface's own subnet does not already route."""
    network = ipaddress.IPv4Interface(address).network
    needed = []
    for peer in peers:
        for allowed in peer["allowed_ips"]:
            candidate = ipaddress.ip_network(allowed, strict=False)
            if candidate.version == 4 and candidate.subnet_of(network):
                continue
            if str(candidate) not in needed:
                needed.append(str(candidate))
    return sorted(needed)
