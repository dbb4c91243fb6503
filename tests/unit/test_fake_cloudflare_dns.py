"""The test DNS server Pebble asks during the ACME tests (tests/fake_cloudflare/dns.py), over real UDP on loopback.

It must answer as Cloudflare's name servers would for the fake API's zones: the TXT records written through the API,
nothing for names outside those zones, and nothing at all in a blackout (the failing-challenge test relies on it).
"""

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.fake_cloudflare.dns import FakeCloudflareDNS
from tests.fake_cloudflare.harness import running_fake


def ask(server, name, kind="TXT"):
    host, port = server.address.split(":")
    return dns.query.udp(dns.message.make_query(name, kind), host, port=int(port), timeout=5)


def txt_values(reply):
    return sorted(b"".join(r.strings).decode() for rrset in reply.answer for r in rrset)


def add_txt(fake, name, content):
    zone = fake.zone_id("clinic.test")
    fake.store["dns"][name + content] = {"id": name + content, "zone_id": zone, "zone_name": "clinic.test",
                                         "name": name, "type": "TXT", "content": content, "ttl": 60}


def test_answers_txt_records_from_the_fake_api_and_nothing_else():
    with running_fake(zones=("clinic.test",)) as fake, FakeCloudflareDNS(fake) as server:
        name = "_acme-challenge.emr.clinic.test"
        assert ask(server, name).answer == []
        assert ask(server, name).rcode() == dns.rcode.NOERROR
        add_txt(fake, name, "token-one")
        add_txt(fake, name, '"token-two"')  # Cloudflare keeps TXT content quoted or not
        reply = ask(server, name)
        assert reply.flags & dns.flags.AA
        assert txt_values(reply) == ["token-one", "token-two"]
        assert ask(server, name.upper()).answer  # DNS names are case-insensitive
        assert ask(server, name, "A").answer == []
        assert ask(server, "_acme-challenge.emr.other.test").rcode() == dns.rcode.REFUSED
        server.blackout = True
        assert ask(server, name).answer == []
        assert (name, "TXT") in server.queries
