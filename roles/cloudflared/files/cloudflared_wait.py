# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait, on the connector's host, until cloudflared.service is ready, at most --timeout seconds; print JSON.

Ready (--want ready) is what Type=notify means: systemd got READY=1 (cloudflared sends it after its first edge
connection, so the unit is "active"), for an invocation other than --before (the one a restart replaced), and
/ready answers 200. With --want started (isolated tests, cloudflared_test_edge) the connector cannot be ready: it
must be running (the unit "activating", not failed or restarting) with its metrics server answering /healthcheck.
Exit 0 when that happened, 1 when the time ran out, with the service's state and the last HTTP answer.
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

PROPERTIES = ("InvocationID", "ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus")


def unit_state():
    argv = ["systemctl", "show", "cloudflared.service"] + ["--property=%s" % name for name in PROPERTIES]
    # A fixed argv, no shell, nothing from outside.
    output = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,  # noqa: S603
                            check=False).stdout
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def http_status(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError) as error:
        return "no answer (%s)" % getattr(error, "reason", error)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", required=True, help="host:port of the metrics server")
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--want", choices=("ready", "started"), default="ready")
    parser.add_argument("--before", default="", help="InvocationID of the process a restart replaced")
    args = parser.parse_args()
    host, _sep, port = args.metrics.rpartition(":")
    base = "http://%s:%s" % (host, port)
    url = base + ("/ready" if args.want == "ready" else "/healthcheck")
    deadline = time.monotonic() + args.timeout
    while True:
        state = unit_state()
        invocation = state.get("InvocationID", "")
        new = bool(invocation) and invocation != args.before
        answer = http_status(url) if new else "not asked (the restarted process has not started yet)"
        if args.want == "ready":
            done = new and state.get("ActiveState") == "active" and answer == 200
        else:
            done = new and (state.get("ActiveState"), state.get("SubState")) in (
                ("activating", "start"), ("active", "running")) and answer == 200
        if done or time.monotonic() >= deadline:
            print(json.dumps({"done": done, "want": args.want, "url": url, "answer": answer, "state": state}))
            return 0 if done else 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
