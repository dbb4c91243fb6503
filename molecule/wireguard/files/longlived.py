"""Test probe: one HTTPS connection through the tunnel, kept open, with a request every second.

Logs one line per request to the log file: "ok <local port> <status>" or "error <what>". The local port stays
the same as long as the TCP connection lives, so the log shows whether a re-run of the role dropped it.
Stops when the stop file appears or after the time limit.
"""

import http.client
import os
import ssl
import sys
import time

HOST, NAME, LOG, STOP = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
LIMIT = 1200


def connect():
    context = ssl.create_default_context()
    connection = http.client.HTTPSConnection(HOST, 443, timeout=10, context=context)
    connection.sock = context.wrap_socket(
        __import__("socket").create_connection((HOST, 443), timeout=10), server_hostname=NAME)
    return connection


def main():
    started = time.time()
    connection = None
    with open(LOG, "a", buffering=1) as log:
        while time.time() - started < LIMIT and not os.path.exists(STOP):
            try:
                if connection is None:
                    connection = connect()
                    log.write("connect %d\n" % connection.sock.getsockname()[1])
                connection.request("GET", "/oscar/", headers={"Host": NAME})
                response = connection.getresponse()
                response.read()
                log.write("ok %d %d %.0f\n" % (connection.sock.getsockname()[1], response.status, time.time()))
            except (OSError, http.client.HTTPException) as error:
                log.write("error %s %.0f\n" % (type(error).__name__, time.time()))
                connection = None
            time.sleep(1)


if __name__ == "__main__":
    main()
