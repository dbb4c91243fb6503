"""Nothing left the machine: after every run above, the real connectors sent no packet to any address but loopback.

prepare.yml gives system users (uid 100-999: the connector runs as one; root and apt's _apt, uid 42, are outside)
no route off the host and counts, in nftables, every packet they send to anything but loopback. cloudflared looks up
Cloudflare's names and tries DNS over TLS to 1.1.1.1 even when pinned to a local edge: without a route those
attempts fail on the host. The counters stay 0; the control below shows they count what such a user does send.
"""

import pytest
from conftest import HOSTS, container, isolation_counters


@pytest.mark.parametrize("name", HOSTS)
def test_no_connector_packet_left_the_host(name):
    counters = isolation_counters(container(name))
    assert counters and counters == [0] * len(counters), counters


@pytest.mark.parametrize("name", HOSTS)
def test_the_isolation_covers_the_connectors_user_and_the_counter_counts(name):
    host = container(name)
    # A system user like the connector's (which is gone from the Pi by now): its uid is in the isolated range.
    user = "isolation-check"
    host.run("useradd --system --no-create-home --shell /usr/sbin/nologin %s", user)
    try:
        uid = int(host.check_output("id -u %s", user))
        assert 100 <= uid <= 999
        # The test network's gateway: off this container, still on the machine.
        gateway = host.check_output("ip -4 route show default").split()[2]
        probe = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                 "s.sendto(b'x', ('%s', 7844))" % gateway)
        result = host.run("runuser -u %s -- python3 -c %s", user, probe)  # the connector's situation
        # The route type "unreachable" answers EHOSTUNREACH on the host itself: nothing is sent.
        assert result.rc != 0 and ("No route to host" in result.stderr or "Network is unreachable" in result.stderr), \
            result.stderr
        # Control: without the routing rule, the same send leaves and is counted (then the rule comes back).
        before = sum(isolation_counters(host))
        host.check_output("ip rule del uidrange 100-999 lookup 7844 priority 100")
        try:
            host.run("runuser -u %s -- python3 -c %s", user, probe)
        finally:
            host.check_output("ip rule add uidrange 100-999 lookup 7844 priority 100")
        assert sum(isolation_counters(host)) == before + 1  # (runs after the 0 check above, in file order)
    finally:
        host.run("userdel %s", user)
