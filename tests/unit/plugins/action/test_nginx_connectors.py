"""The nginx check learns where the clinic's connectors are from the inventory (the cloudflared_connectors group, its
hosts' addresses) and which network each uses from the gathered facts, so that a trusted-proxy range wider than that
network is refused (issue 20)."""

import ipaddress
from unittest.mock import MagicMock

from ansible_collections.oscar_emr.remote_access.plugins.action import nginx_validate


def facts(interface, address, prefix, ipv6=()):
    return {"interfaces": ["lo", interface], "lo": {"ipv4": {"address": "127.0.0.1", "prefix": "8"}},
            interface.replace("-", "_"): {"ipv4": {"address": address, "prefix": str(prefix)},
                                          "ipv6": [{"address": a, "prefix": str(p)} for a, p in ipv6]}}


def connectors(hostvars, this_host="oscar", own_facts=None, group=("pi",)):
    plugin = nginx_validate.ActionModule(MagicMock(), MagicMock(), MagicMock(), loader=None, templar=MagicMock(),
                                         shared_loader_obj=None)
    plugin._templar.template.side_effect = lambda value: value
    plugin.task_vars = {"groups": {"cloudflared_connectors": list(group)}, "hostvars": hostvars,
                        "inventory_hostname": this_host, "ansible_facts": own_facts or {}}
    return plugin.connector_addresses()


def test_the_pis_network_comes_from_its_own_facts():
    pi = {"ansible_host": "192.168.1.20", "ansible_facts": facts("eth0", "192.168.1.20", 24,
                                                                 [("fe80::1", 64), ("fd00:1::20", 64)])}
    assert connectors({"pi": pi}) == [ipaddress.ip_interface("192.168.1.20/24")]
    assert nginx_validate.fact_networks(pi["ansible_facts"]) == {
        ipaddress.ip_address("127.0.0.1"): ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_address("192.168.1.20"): ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_address("fd00:1::20"): ipaddress.ip_network("fd00:1::/64")}


def test_without_the_pis_facts_the_front_doors_own_lan_holding_it_serves():
    own = facts("enp1s0", "192.168.1.10", 24)
    assert connectors({"pi": {"ansible_host": "192.168.1.20"}}, own_facts=own) == [
        ipaddress.ip_interface("192.168.1.20/24")]
    # No facts at all: the address alone.
    assert connectors({"pi": {"ansible_host": "192.168.1.20"}}) == [ipaddress.ip_interface("192.168.1.20/32")]


def test_a_connector_on_this_host_is_loopback_and_one_named_by_dns_is_unknown():
    assert connectors({}, this_host="pi") == [ipaddress.ip_interface("127.0.0.1/32"), ipaddress.ip_interface("::1/128")]
    assert connectors({"pi": {"ansible_host": "pi.clinic.lan"}}) is None
    assert connectors({}, group=()) is None
