"""A small DNS server that answers from the fake Cloudflare API's DNS records (tests only).

Pebble, the ACME test server, is started with ``-dnsserver`` pointing here, so a DNS-01 challenge is checked
against exactly the TXT records a playbook wrote through the (fake) Cloudflare API: what Cloudflare's own name
servers would answer for a zone it hosts. UDP on 127.0.0.1, an ephemeral port; messages parsed and built with
dnspython. Names in none of the fake's zones are REFUSED (nothing is forwarded anywhere); a name in a zone with
no record of the asked type gets an empty answer. ``blackout`` makes it answer every TXT question with no
record, as a name server would before a record has reached it: the challenge then fails.
"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class FakeCloudflareDNS:
    """Authoritative answers for the zones of a FakeCloudflare. Use as a context manager."""

    def __init__(self, fake):
        self.fake = fake
        self.blackout = False
        self.queries = []
        self.sock = None
        self.thread = None

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, name="fake-cloudflare-dns", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        sock, self.sock = self.sock, None
        sock.close()
        self.thread.join(timeout=5)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def _serve(self):
        while self.sock is not None:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001 - a malformed packet gets no answer, as from a real server
                continue
            reply = self.answer(query)
            try:
                self.sock.sendto(reply.to_wire(), peer)
            except OSError:
                return

    def _zone_of(self, name):
        zones = [z["name"] for z in self.fake.objects("zones")]
        matches = [z for z in zones if name == z or name.endswith("." + z)]
        return max(matches, key=len) if matches else None

    def answer(self, query):
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, kind))
        if self._zone_of(name) is None:
            reply.set_rcode(dns.rcode.REFUSED)
            return reply
        if self.blackout and kind == "TXT":
            return reply
        values = [r["content"] for r in self.fake.objects("dns")
                  if r["name"].lower().rstrip(".") == name and r["type"] == kind]
        if values:
            if kind == "TXT":
                # Cloudflare keeps TXT content with or without quotes; DNS carries it as one character string.
                values = ['"%s"' % v.strip('"').replace('"', '\\"') for v in values]
            ttl = 60
            reply.answer.append(dns.rrset.from_text_list(question.name, ttl, dns.rdataclass.IN, kind, values))
        return reply
