# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run `cloudflared tunnel run` for a few seconds and report what it showed; for tests, inside a network namespace.

    python probe_run.py BINARY SECONDS PORT [--edge ADDRESS]

The tunnel token comes from TUNNEL_TOKEN in the environment (never the command line). systemd's notification
socket is stood in for by a datagram socket this script binds (NOTIFY_SOCKET), so READY=1 is seen as systemd would
see it. Prints JSON: whether the process was still running, the notifications, the /ready, /healthcheck and
/metrics answers, and the process's output streams.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return None, str(error)


def main(argv):
    binary, seconds, port = argv[0], float(argv[1]), argv[2]
    extra = argv[3:]
    with tempfile.TemporaryDirectory() as tmp:
        notify_path = os.path.join(tmp, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.setblocking(False)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        tunnel_flags = ["--metrics", "127.0.0.1:%s" % port]
        if extra[:1] == ["--edge"]:
            tunnel_flags += ["--edge", extra[1]]
        out, err = open(os.path.join(tmp, "out"), "w+"), open(os.path.join(tmp, "err"), "w+")
        proc = subprocess.Popen([binary, "--no-autoupdate", "tunnel", *tunnel_flags, "run"], env=env, stdout=out,
                                stderr=err)
        time.sleep(seconds)
        messages = []
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
        base = "http://127.0.0.1:%s" % port
        report = {
            "running": proc.poll() is None,
            "returncode": proc.poll(),
            "notifications": messages,
            "ready": get(base + "/ready"),
            "healthcheck": get(base + "/healthcheck"),
            "metrics": get(base + "/metrics"),
        }
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        out.seek(0)
        err.seek(0)
        report["stdout"], report["stderr"] = out.read(), err.read()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
