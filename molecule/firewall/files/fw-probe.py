"""Connection probe for the firewall scenario.

Usage: python3 fw-probe.py '[["tcp", "SOURCE", "DEST", PORT], ["udp", ...], ...]'
Prints a JSON list with, for each target in order, the listener's answer ("open 8080", "echo ping")
or "closed: <error>" when nothing answered within 2 seconds. SOURCE "" lets the kernel choose.
"""

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def probe(target):
    proto, source, dest, port = target
    family = socket.AF_INET6 if ":" in dest else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        if source:
            sock.bind((source, 0))
        if proto == "tcp":
            sock.connect((dest, port))
            return sock.recv(64).decode().strip()
        sock.sendto(b"ping", (dest, port))
        return sock.recvfrom(64)[0].decode().strip()
    except OSError as exc:
        return "closed: %s" % type(exc).__name__
    finally:
        sock.close()


def main():
    targets = json.loads(sys.argv[1])
    with ThreadPoolExecutor(max(1, len(targets))) as pool:
        print(json.dumps(list(pool.map(probe, targets))))


if __name__ == "__main__":
    main()
