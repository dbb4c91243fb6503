"""Helpers for the front-door tests: run curl inside the scenario's containers and read what reached OSCAR.

Traffic goes only to the containers the scenario created (podman exec, then curl on the scenario network).
"""

import json
import subprocess
import uuid

PROBE = r"""
import json, os, subprocess, sys
out = []
for args in json.load(sys.stdin):
    for name in ("/tmp/probe.head", "/tmp/probe.body"):
        if os.path.exists(name):
            os.unlink(name)
    proc = subprocess.run(["curl", "-s", "--path-as-is", "--max-time", "30", "-o", "/tmp/probe.body",
                           "-D", "/tmp/probe.head", "-w", "%{http_code}"] + args, capture_output=True, text=True)
    head = open("/tmp/probe.head", errors="replace").read() if os.path.exists("/tmp/probe.head") else ""
    body = open("/tmp/probe.body", errors="replace").read(4000) if os.path.exists("/tmp/probe.body") else ""
    out.append({"rc": proc.returncode, "status": int(proc.stdout or 0), "head": head, "body": body,
                "stderr": proc.stderr[-500:]})
print(json.dumps(out))
"""


class Response:
    def __init__(self, raw):
        self.rc = raw["rc"]
        self.status = raw["status"]
        self.body = raw["body"]
        self.stderr = raw["stderr"]
        self.raw_head = raw["head"]
        self.headers = {}
        self.set_cookies = []
        for line in raw["head"].splitlines()[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
                if name.strip().lower() == "set-cookie":
                    self.set_cookies.append(value.strip())

    def __repr__(self):
        return "<Response rc=%s status=%s head=%r body=%r>" % (
            self.rc, self.status, self.raw_head[:300], self.body[:200])


def run(container, command, stdin=None, check=True):
    proc = subprocess.run(["podman", "exec", "-i", container, "bash", "-c", command], input=stdin,
                          capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError("%s: %s failed: %s" % (container, command, proc.stderr))
    return proc


def curl_many(container, arg_lists):
    proc = run(container, "python3 -c " + _quote(PROBE), stdin=json.dumps(arg_lists))
    return [Response(item) for item in json.loads(proc.stdout)]


def statuses(container, common_args, urls):
    """Status codes of many GETs made by one curl process (connections reused where nginx keeps them)."""
    args = ["curl", "-s", "--path-as-is", "--max-time", "60", *common_args]
    for url in urls:
        args += ["-o", "/dev/null", "-w", "%{http_code}\\n", url]
    proc = run(container, " ".join(_quote(a) for a in args))
    return [int(code) for code in proc.stdout.split()]


def curl(container, *args):
    return curl_many(container, [list(args)])[0]


def marker():
    return "probe" + uuid.uuid4().hex[:16]


def records(container, path):
    text = run(container, "cat %s 2>/dev/null || true" % path).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"
