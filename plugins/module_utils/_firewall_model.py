# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module util is PRIVATE to the oscar_emr.remote_access collection. It can change at any time.
# Do not use it from other collections or standalone plugins.

"""The firewall role's input model: validation that argument specs cannot express, and the rules.

``build_model()`` takes the role's variables (without their ``firewall_`` prefix), checks them
(CIDRs, ports and port ranges, names, protocols, duplicates, management reachability) and returns
the normalised rule model the ruleset template renders. Every error names the role variable and
the offending value, for example ``firewall_services[1].sources[0]: '10.0.0.300/24' is not a
valid CIDR``, and all errors are reported at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import (
    CidrError,
    Problems,
    parse_cidr,
)

VAR_PREFIX = "firewall_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Interface names: at most 15 characters (IFNAMSIZ - 1); a trailing * is nftables' wildcard.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,15}\*?$")
PORT_RE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")
PROTOCOLS = ("tcp", "udp")
FORWARD_PROTOCOLS = ("tcp", "udp", "any")
ROLLBACK_TIMEOUT_RANGE = (5, 3600)

SERVICE_KEYS = ("name", "port", "protocol", "sources")
EGRESS_KEYS = ("name", "port", "protocol", "destinations")
FORWARD_KEYS = ("name", "iifname", "oifname", "sources", "destinations", "protocol", "port")

ANYWHERE = ("0.0.0.0/0", "::/0")
# Outbound needs a host has whatever it serves, selected by name in firewall_egress_essentials.
EGRESS_ESSENTIALS = {
    "dns": [
        {"name": "dns-udp", "protocol": "udp", "port": 53, "destinations": list(ANYWHERE)},
        {"name": "dns-tcp", "protocol": "tcp", "port": 53, "destinations": list(ANYWHERE)},
    ],
    "ntp": [
        {"name": "ntp", "protocol": "udp", "port": 123, "destinations": list(ANYWHERE)},
    ],
    "apt": [
        {"name": "apt-http", "protocol": "tcp", "port": 80, "destinations": list(ANYWHERE)},
        {"name": "apt-https", "protocol": "tcp", "port": 443, "destinations": list(ANYWHERE)},
    ],
    "dhcp": [
        {"name": "dhcpv4", "protocol": "udp", "port": 67, "destinations": ["0.0.0.0/0"]},
        {"name": "dhcpv6", "protocol": "udp", "port": 547, "destinations": ["::/0"]},
    ],
}

DEFAULT_EGRESS_ESSENTIALS = ("dns", "ntp", "apt", "dhcp")

# What another role of this collection needs through the firewall on a host: every such role publishes one fact,
# <role>_firewall_needs, a mapping with any of these keys; the firewall role passes them as role_needs, keyed by the
# fact's name, so an error points at the role that computed the entry. The lists join the firewall's own lists of
# the same name; a true forward_enabled turns the forward chain on.
NEED_LISTS = ("services", "egress_rules", "forward_rules")
NEED_FLAGS = ("forward_enabled",)
# Published only (no firewall_ variable): interfaces whose inbound traffic reaches the named services of the ruleset
# and nothing else, ping included unless allowed (a WireGuard server's tunnels: peers must not reach the host's SSH
# or anything else the LAN may reach).
NEED_ONLY = ("confined_interfaces",)
CONFINED_KEYS = ("name", "services", "allow_ping")


class FirewallConfigError(Exception):
    """Raised with every problem found; ``errors`` lists one message per problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(FirewallConfigError, self).__init__("; ".join(self.errors))


def _var(name):
    return VAR_PREFIX + name


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_port(value):
    """Return (low, high) for a port (443, "443") or an inclusive range ("8000-8010"); raise ValueError."""
    if _is_int(value):
        low = high = value
    elif isinstance(value, str):
        match = PORT_RE.match(value)
        if not match:
            raise ValueError("%r is not a port (1-65535) or a range 'low-high'" % (value,))
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
    else:
        raise ValueError("%r is not a port (1-65535) or a range 'low-high'" % (value,))
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise ValueError("%r is out of range: ports are 1-65535" % (value,))
    if low > high:
        raise ValueError("%r is not a valid range: %d is greater than %d" % (value, low, high))
    return low, high


def port_expr(low, high):
    return str(low) if low == high else "%d-%d" % (low, high)


def parse_network(value):
    """Return an ip_network for an IPv4/IPv6 address or CIDR; raise ValueError with the reason."""
    try:
        return parse_cidr(value)
    except CidrError as exc:
        if exc.network is None:
            raise ValueError("%r is not a valid CIDR" % (value,)) from None
        raise ValueError("%r has host bits set (did you mean '%s'?)" % (value, exc.network)) from None


def _collapse(networks):
    v4 = [n for n in networks if n.version == 4]
    v6 = [n for n in networks if n.version == 6]
    return (
        [str(n) for n in ipaddress.collapse_addresses(v4)],
        [str(n) for n in ipaddress.collapse_addresses(v6)],
    )


def _nft_set(items):
    items = list(items)
    if len(items) == 1:
        return items[0]
    return "{ " + ", ".join(items) + " }"


def _check_name(item, path, seen, c):
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.add(path + ".name", "%r is not a valid name (1-63 letters, digits, '.', '_' or '-', "
              "starting with a letter or digit)" % (name,))
        return None
    if name in seen:
        c.add(path + ".name", "%r is already used by %s" % (name, seen[name]))
        return None
    seen[name] = path
    return name


def _check_networks(values, path, c, required):
    if values is None:
        values = []
    if not isinstance(values, list):
        c.add(path, "%r is not a list of CIDRs" % (values,))
        return None
    if required and not values:
        c.add(path, "is empty: list at least one CIDR (0.0.0.0/0 and ::/0 mean everyone)")
        return None
    networks = []
    ok = True
    for index, value in enumerate(values):
        try:
            networks.append(parse_network(value))
        except ValueError as exc:
            c.add("%s[%d]" % (path, index), str(exc))
            ok = False
    return networks if ok else None


def _check_protocol(item, path, c, choices, default):
    protocol = item.get("protocol")
    if protocol is None:
        return default
    if protocol not in choices:
        c.add(path + ".protocol", "%r is not one of %s" % (protocol, ", ".join(choices)))
        return None
    return protocol


def _check_port(item, path, c, required=True):
    if item.get("port") is None:
        if required:
            c.add(path + ".port", "is required: a port (443) or an inclusive range ('8000-8010')")
        return None
    try:
        return parse_port(item["port"])
    except ValueError as exc:
        c.add(path + ".port", str(exc))
        return None


def _list_of_dicts(value, var, c):
    if value is None:
        return []
    if not isinstance(value, list):
        c.add(var, "%r is not a list" % (value,))
        return []
    good = []
    for index, item in enumerate(value):
        path = "%s[%d]" % (var, index)
        if not isinstance(item, dict):
            c.add(path, "%r is not a mapping" % (item,))
            continue
        good.append((path, item))
    return good


def _role_needs(params, c):
    """The published needs (role_needs) as [(fact name, mapping)], each checked for its shape once."""
    needs = params.get("role_needs") or {}
    if not isinstance(needs, dict):
        c.add("role_needs", "%r is not a mapping of published facts" % (needs,))
        return []
    good = []
    for fact in sorted(needs):
        need = needs[fact]
        if need is None:
            continue
        if not isinstance(need, dict):
            c.add(fact, "%r is not a mapping (keys: %s)" % (need, ", ".join(NEED_LISTS + NEED_FLAGS + NEED_ONLY)))
            continue
        for key in sorted(set(need) - set(NEED_LISTS + NEED_FLAGS + NEED_ONLY)):
            c.add("%s.%s" % (fact, key), "is not something the firewall role adds (known: %s)"
                  % ", ".join(NEED_LISTS + NEED_FLAGS + NEED_ONLY))
        good.append((fact, need))
    return good


def _entries(params, key, c):
    """(path, item) of the inventory's list, then of what other roles need (role_needs) that the inventory
    does not already list. An entry the inventory repeats verbatim (the older way of wiring roles together) is
    taken once; the same name with other settings is an error naming both."""
    var = _var(key)
    entries = _list_of_dicts(params.get(key), var, c)
    by_name = {item.get("name"): (path, item) for path, item in entries}
    for fact, need in params.get("_role_needs", ()):
        need_var = "%s.%s" % (fact, key)
        for path, item in _list_of_dicts(need.get(key), need_var, c):
            listed = by_name.get(item.get("name"))
            if listed is None:
                entries.append((path, item))
                by_name[item.get("name")] = (path, item)
            elif listed[1] != item:
                c.add(listed[0] + ".name", "%r is also an entry of %s (%s) with other settings; leave it out of %s, "
                      "the role supplies it" % (item.get("name"), need_var, path, var))
    return entries


def _needed_flag(params, key, c):
    """Whether a role published that it needs this switch on (for example a forward chain)."""
    needed = False
    for fact, need in params.get("_role_needs", ()):
        value = need.get(key)
        if value is not None and not isinstance(value, bool):
            # A string "true" from -e would otherwise read as off and silently drop the forward chain.
            c.add("%s.%s" % (fact, key), "%r is not a boolean" % (value,))
        needed = needed or value is True
    return needed


def _family_rules(match, v4, v6, field, comment):
    """One rule per address family that has addresses, e.g. 'tcp dport 443 ip saddr { ... }'."""
    rules = []
    if v4:
        rules.append({"match": "%s ip %s %s" % (match, field, _nft_set(v4)), "comment": comment})
    if v6:
        rules.append({"match": "%s ip6 %s %s" % (match, field, _nft_set(v6)), "comment": comment})
    return rules


def _services(params, c):
    seen = {}
    services = []
    for path, item in _entries(params, "services", c):
        c.unknown_keys(path, item, SERVICE_KEYS)
        name = _check_name(item, path, seen, c)
        protocol = _check_protocol(item, path, c, PROTOCOLS, "tcp")
        ports = _check_port(item, path, c)
        networks = _check_networks(item.get("sources"), path + ".sources", c, required=True)
        if None in (name, protocol, ports, networks):
            continue
        v4, v6 = _collapse(networks)
        services.append({
            "path": path, "name": name, "protocol": protocol, "low": ports[0], "high": ports[1],
            "port": port_expr(*ports), "networks": networks, "ipv4": v4, "ipv6": v6,
        })
    return services


def _ports_list(value, var, c):
    if not isinstance(value, list) or not value:
        c.add(var, "%r must be a non-empty list of TCP ports" % (value,))
        return []
    ports = []
    for index, port in enumerate(value):
        path = "%s[%d]" % (var, index)
        if not _is_int(port) and not (isinstance(port, str) and port.strip().isdigit()):
            c.add(path, "%r is not a port number (1-65535)" % (port,))
            continue
        port = int(port)
        if not 1 <= port <= 65535:
            c.add(path, "%r is out of range: ports are 1-65535" % (port,))
        elif port in ports:
            c.add(path, "%r is listed twice" % (port,))
        else:
            ports.append(port)
    return ports


def _interfaces(value, var, c):
    if value is None:
        return []
    if not isinstance(value, list):
        c.add(var, "%r is not a list of interface names" % (value,))
        return []
    names = []
    for index, name in enumerate(value):
        if not isinstance(name, str) or not IFNAME_RE.match(name):
            c.add("%s[%d]" % (var, index), "%r is not a valid interface name (at most 15 characters of letters, "
                  "digits and _.:@+-, optionally ending in *)" % (name,))
        elif name not in names:
            names.append(name)
    return names


def _egress(params, c):
    seen = {}
    rules = []
    essentials = params.get("egress_essentials", list(DEFAULT_EGRESS_ESSENTIALS))
    if essentials is None:
        essentials = []
    if not isinstance(essentials, list):
        c.add(_var("egress_essentials"), "%r is not a list" % (essentials,))
        essentials = []
    chosen = []
    for index, key in enumerate(essentials):
        if key not in EGRESS_ESSENTIALS:
            c.add("%s[%d]" % (_var("egress_essentials"), index),
                  "%r is not one of %s" % (key, ", ".join(sorted(EGRESS_ESSENTIALS))))
        elif key not in chosen:
            chosen.append(key)
    for key in chosen:
        for rule in EGRESS_ESSENTIALS[key]:
            seen[rule["name"]] = "%s (%s)" % (_var("egress_essentials"), key)
            networks = [ipaddress.ip_network(n) for n in rule["destinations"]]
            v4, v6 = _collapse(networks)
            rules.append({"name": rule["name"], "protocol": rule["protocol"],
                          "port": port_expr(rule["port"], rule["port"]), "ipv4": v4, "ipv6": v6})
    for path, item in _entries(params, "egress_rules", c):
        c.unknown_keys(path, item, EGRESS_KEYS)
        name = _check_name(item, path, seen, c)
        protocol = _check_protocol(item, path, c, PROTOCOLS, "tcp")
        ports = _check_port(item, path, c)
        networks = _check_networks(item.get("destinations"), path + ".destinations", c, required=True)
        if None in (name, protocol, ports, networks):
            continue
        v4, v6 = _collapse(networks)
        rules.append({"name": name, "protocol": protocol, "port": port_expr(*ports), "ipv4": v4, "ipv6": v6})
    return rules


def _forward(params, c):
    seen = {}
    rules = []
    for path, item in _entries(params, "forward_rules", c):
        c.unknown_keys(path, item, FORWARD_KEYS)
        name = _check_name(item, path, seen, c)
        protocol = _check_protocol(item, path, c, FORWARD_PROTOCOLS, "any")
        ports = _check_port(item, path, c, required=False)
        if protocol == "any" and ports is not None:
            c.add(path + ".port", "needs protocol tcp or udp (protocol is 'any')")
            ports = None
            protocol = None
        sources = _check_networks(item.get("sources"), path + ".sources", c, required=False)
        destinations = _check_networks(item.get("destinations"), path + ".destinations", c, required=False)
        interfaces = {}
        for key in ("iifname", "oifname"):
            value = item.get(key)
            if value is not None and (not isinstance(value, str) or not IFNAME_RE.match(value)):
                c.add("%s.%s" % (path, key), "%r is not a valid interface name" % (value,))
                value = False
            interfaces[key] = value
        if None in (name, protocol, sources, destinations) or False in interfaces.values():
            continue
        parts = []
        for key in ("iifname", "oifname"):
            if interfaces[key]:
                parts.append('%s "%s"' % (key, interfaces[key]))
        if protocol != "any" and ports is None:
            parts.append("meta l4proto %s" % protocol)
        elif protocol != "any":
            parts.append("%s dport %s" % (protocol, port_expr(*ports)))
        base = " ".join(parts)
        s4, s6 = _collapse(sources)
        d4, d6 = _collapse(destinations)
        matches = []
        for family, src, dst in (("ip", s4, d4), ("ip6", s6, d6)):
            if (sources and not src) or (destinations and not dst):
                continue  # this rule names addresses of the other family only
            if not src and not dst:
                continue
            expr = []
            if src:
                expr.append("%s saddr %s" % (family, _nft_set(src)))
            if dst:
                expr.append("%s daddr %s" % (family, _nft_set(dst)))
            matches.append(" ".join([base, *expr]).strip())
        if not sources and not destinations:
            if not base:
                c.add(path, "matches all forwarded traffic: give at least one of iifname, oifname, sources, "
                      "destinations, protocol")
                continue
            matches.append(base)
        if not matches:
            c.add(path, "sources and destinations share no address family, so the rule can never match")
            continue
        for match in matches:
            rules.append({"match": match, "comment": name})
    return rules


def _confined(params, services, trusted, c):
    """Published confined interfaces: [{"name", "allow_ping", "rules": [input rules of the named services]}]."""
    by_name = dict((service["name"], service) for service in services)
    result, seen = [], {}
    for fact, need in params.get("_role_needs", ()):
        for path, item in _list_of_dicts(need.get("confined_interfaces"), "%s.confined_interfaces" % fact, c):
            c.unknown_keys(path, item, CONFINED_KEYS)
            name = item.get("name")
            if not isinstance(name, str) or not IFNAME_RE.match(name) or name.endswith("*"):
                c.add(path + ".name", "%r is not an interface name" % (name,))
                continue
            if name in seen:
                c.add(path + ".name", "%r is also %s" % (name, seen[name]))
                continue
            seen[name] = path
            if name in trusted:
                c.add(path + ".name", "%r is in %s, which accepts everything from it; it cannot be confined"
                      % (name, _var("trusted_interfaces")))
            allow_ping = item.get("allow_ping", False)
            if not isinstance(allow_ping, bool):
                c.add(path + ".allow_ping", "%r is not a boolean" % (allow_ping,))
                allow_ping = False
            names = item.get("services") or []
            if not isinstance(names, list):
                c.add(path + ".services", "%r is not a list of service names" % (names,))
                names = []
            rules = []
            for index, service_name in enumerate(names):
                service = by_name.get(service_name)
                if service is None:
                    c.add("%s.services[%d]" % (path, index), "%r is not the name of a service of this ruleset"
                          % (service_name,))
                    continue
                match = "%s dport %s" % (service["protocol"], service["port"])
                rules.extend(_family_rules(match, service["ipv4"], service["ipv6"], "saddr", service["name"]))
            result.append({"name": name, "allow_ping": allow_ping, "rules": rules})
    return result


def _bool(params, key, c, default=False):
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        c.add(_var(key), "%r is not a boolean" % (value,))
        return default
    return value


def parse_ssh_connection(value):
    """Parse $SSH_CONNECTION ('client_ip client_port server_ip server_port') into (ip_address, server_port)."""
    if not value:
        return None
    fields = value.split()
    if len(fields) != 4:
        return None
    try:
        address = ipaddress.ip_address(fields[0].split("%", 1)[0])
        port = int(fields[3])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, port


def management_paths(model, ports):
    """The rules that admit SSH on any of ``ports``, as (networks, [(low, high), ...]) pairs.

    That is the management rule and every TCP service whose port range covers one of the ports.
    """
    paths = []
    if model["management"]["networks"]:
        paths.append((model["management"]["networks"], [(p, p) for p in model["management"]["ports"]]))
    for service in model["_services"]:
        if service["protocol"] == "tcp" and any(service["low"] <= p <= service["high"] for p in ports):
            paths.append((service["networks"], [(service["low"], service["high"])]))
    return paths


def reaches_ssh(model, address, port):
    """True when the ruleset admits a new TCP connection from ``address`` to ``port``."""
    if address.is_loopback:
        return True
    for networks, ranges in management_paths(model, [port]):
        in_range = any(low <= port <= high for low, high in ranges)
        if in_range and any(address in n for n in networks if n.version == address.version):
            return True
    return False


def _refuse_ssh_from_everyone(mgmt_networks, services, mgmt_ports, c):
    """SSH open to the whole Internet is what this collection exists to avoid: 0.0.0.0/0 or ::/0 as a source of the
    management rule, or of a service whose ports cover SSH, is refused (a management path gives a narrow source)."""
    hint = ("SSH must not be open to everyone: list the management path's sources (the provider's address, the "
            "WireGuard management peer's tunnel address, the clinic LAN); see the README, 'How your control node "
            "reaches the clinic'")
    for index, network in enumerate(mgmt_networks or []):
        if network.prefixlen == 0:
            c.add("%s[%d]" % (_var("management_sources"), index), "%r: %s" % (str(network), hint))
    for service in services:
        if service["protocol"] != "tcp" or not any(service["low"] <= p <= service["high"] for p in mgmt_ports):
            continue
        for index, network in enumerate(service["networks"]):
            if network.prefixlen == 0:
                c.add("%s.sources[%d]" % (service["path"], index), "%r opens TCP %s, which covers SSH: %s"
                      % (str(network), service["port"], hint))


def build_model(params, controller=None):
    """Validate the role's variables and return the rule model.

    ``params`` holds the variables without the ``firewall_`` prefix. ``controller`` is
    ``(ip_address, ssh_port)`` when Ansible reaches the host over SSH, else None.
    Returns ``(model, warnings)``; raises FirewallConfigError listing every problem.
    """
    c = Problems()
    params = dict(params, _role_needs=_role_needs(params, c))
    services = _services(params, c)
    mgmt_networks = _check_networks(params.get("management_sources"), _var("management_sources"), c, required=False)
    mgmt_ports = _ports_list(params.get("management_ports", [22]), _var("management_ports"), c)
    trusted = _interfaces(params.get("trusted_interfaces"), _var("trusted_interfaces"), c)
    allow_ping = _bool(params, "allow_ping", c, True)
    allow_dhcpv6 = _bool(params, "allow_dhcpv6_client", c, True)
    allow_lockout = _bool(params, "allow_management_lockout", c, False)
    egress_enabled = _bool(params, "egress_enabled", c, False)
    forward_enabled = _bool(params, "forward_enabled", c, False) or _needed_flag(params, "forward_enabled", c)
    egress_rules = _egress(params, c)
    forward_rules = _forward(params, c)
    confined = _confined(params, services, trusted, c)

    timeout = params.get("rollback_timeout", 90)
    low, high = ROLLBACK_TIMEOUT_RANGE
    if not _is_int(timeout) or not low <= timeout <= high:
        c.add(_var("rollback_timeout"), "%r is not a number of seconds between %d and %d" % (timeout, low, high))

    if params.get("egress_rules") and not egress_enabled:
        c.warnings.append("%s lists rules but %s is false: they are not applied"
                          % (_var("egress_rules"), _var("egress_enabled")))
    if params.get("forward_rules") and not forward_enabled:
        c.warnings.append("%s lists rules but %s is false: this role adds no forward chain, so forwarding "
                          "is not filtered by it" % (_var("forward_rules"), _var("forward_enabled")))

    _refuse_ssh_from_everyone(mgmt_networks, services, mgmt_ports, c)

    if c.errors:
        raise FirewallConfigError(c.errors)

    mgmt_v4, mgmt_v6 = _collapse(mgmt_networks)
    model = {
        "management": {"ports": mgmt_ports, "networks": mgmt_networks, "ipv4": mgmt_v4, "ipv6": mgmt_v6},
        "_services": services,
    }

    # Anti-lockout: someone must be able to reach SSH, and over SSH it must be this controller.
    lockout = []
    if not management_paths(model, mgmt_ports):
        lockout.append("%s: is empty and no entry of %s opens TCP port %s, so nobody could reach SSH once this "
                       "ruleset is applied" % (_var("management_sources"), _var("services"),
                                               ", ".join(str(p) for p in mgmt_ports)))
    elif controller is not None:
        address, port = controller
        if not reaches_ssh(model, address, port):
            lockout.append("%s: Ansible connects from %s to SSH port %d, and neither %s (ports %s) nor %s "
                           "allows it, so this run would lock the controller out"
                           % (_var("management_sources"), address, port, _var("management_sources"),
                              ", ".join(str(p) for p in mgmt_ports), _var("services")))
    if lockout and not allow_lockout:
        raise FirewallConfigError([m + "; fix the allowlist or set %s: true" % _var("allow_management_lockout")
                                   for m in lockout])
    c.warnings.extend(m + " (allowed by %s)" % _var("allow_management_lockout") for m in lockout)

    input_rules = []
    mgmt_match = "tcp dport %s" % _nft_set(str(p) for p in mgmt_ports)
    input_rules.extend(_family_rules(mgmt_match, mgmt_v4, mgmt_v6, "saddr", "management"))
    for service in services:
        match = "%s dport %s" % (service["protocol"], service["port"])
        input_rules.extend(_family_rules(match, service["ipv4"], service["ipv6"], "saddr", service["name"]))
    output_rules = []
    for rule in egress_rules:
        match = "%s dport %s" % (rule["protocol"], rule["port"])
        output_rules.extend(_family_rules(match, rule["ipv4"], rule["ipv6"], "daddr", rule["name"]))

    result = {
        "trusted_interfaces": trusted,
        "confined_interfaces": confined,
        "allow_ping": allow_ping,
        "allow_dhcpv6_client": allow_dhcpv6,
        "management": {"ports": mgmt_ports, "ipv4": mgmt_v4, "ipv6": mgmt_v6},
        "services": [
            {"name": s["name"], "protocol": s["protocol"], "port": s["port"], "ipv4": s["ipv4"], "ipv6": s["ipv6"]}
            for s in services
        ],
        "input_rules": input_rules,
        "egress": {"enabled": egress_enabled, "rules": output_rules if egress_enabled else []},
        "forward": {"enabled": forward_enabled, "rules": forward_rules if forward_enabled else []},
    }
    return result, c.warnings
