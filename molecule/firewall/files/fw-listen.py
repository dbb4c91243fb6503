"""Test listeners for the firewall scenario: TCP ports answer a line and close, UDP ports echo.

Usage: python3 fw-listen.py tcp:8080 tcp:9000 udp:10053 ...   (each bound dual-stack on ::)
"""

import socket
import sys
import threading


def tcp(port):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    sock.listen(16)
    while True:
        conn = sock.accept()[0]
        with conn:
            conn.sendall(b"open %d\n" % port)


def udp(port):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    while True:
        data, peer = sock.recvfrom(512)
        sock.sendto(b"echo " + data, peer)


def main():
    threads = []
    for spec in sys.argv[1:]:
        proto, port = spec.split(":")
        target = tcp if proto == "tcp" else udp
        thread = threading.Thread(target=target, args=(int(port),), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
