"""Benchmark of the access gateway on loopback, in one run.

Every nginx runs the nginx role's own configuration, rendered by Ansible from roles/nginx/templates/nginx.conf.j2
(tests/gateway/rendered_nginx.py) with loopback ports and paths as role variables.

Measures requests per second and p50/p99 latency of
  (a) nginx -> OSCAR stand-in, no auth_request (the role's configuration with nginx_gateway_enabled: false);
  (b) the same through the gateway (auth_request on every request);
  (c) the same with nginx's decision cache on (proxy_cache on the auth subrequest, keyed on the
      session cookie, the Access token, method, host, raw request URI and client address; short TTL);
and the ratios b/a and c/a; then the decision itself (the gateway's /auth over its decision socket, which nginx
uses; over the pages' waitress socket for comparison; and in process), and the gateway's memory (RSS now and peak,
after logins that run argon2). Each decision figure comes with the CPU time it cost: the gateway process's own (every
thread's time on a CPU, from /proc, over the socket decisions) or the calling thread's (in process). CPU per decision
moves far less with the machine's load than latency does.

Everything runs on 127.0.0.1 with bounded loops (a time limit and a request cap per worker).
Usage: .venv/bin/python benchmarks/gateway_bench.py [--seconds 5] [--workers 4] [--json FILE]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
sys.path.insert(0, str(ROOT / "roles" / "gateway" / "files"))

MAX_REQUESTS_PER_WORKER = 200000
XHR = {"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def _worker(port, path, headers, seconds, out):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    latencies, statuses = [], {}
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline and sent < MAX_REQUESTS_PER_WORKER:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        sent += 1
    conn.close()
    out.put((latencies, statuses))


def load(port, path, headers, seconds, workers):
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_worker, args=(port, path, headers, seconds, out))
             for _unused in range(workers)]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    results = [out.get(timeout=seconds + 60) for _unused in procs]
    for proc in procs:
        proc.join(30)
    elapsed = time.monotonic() - started
    latencies = [x for lat, _statuses in results for x in lat]
    statuses = {}
    for _latencies, st in results:
        for code, count in st.items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "requests": len(latencies), "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
        "statuses": statuses,
    }


def cpu_seconds(pid):
    """CPU time of every thread of process ``pid`` so far (nanosecond counters of /proc/PID/task/*/schedstat)."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def read_answer(sock, pending=b""):
    """(status, bytes after this answer) of one answer to an auth subrequest, read as nginx reads it: whole buffers
    (one recv for the gateway's short answers), not a line at a time, so the figure is the gateway's and not this
    client's Python."""
    while True:
        end = pending.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the gateway closed the connection mid-answer")
        pending += chunk
    head = pending[:end].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _colon, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    rest = pending[end + 4:]
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the gateway closed the connection mid-body")
        rest += chunk
    return status, rest[length:]


def unix_decisions(sock_path, headers, count, pid):
    """Round trips to the gateway's /auth on its UNIX socket, keep-alive, like nginx's upstream; the gateway process's
    CPU time per decision (all its threads, measured while the connection's thread is alive)."""
    lines = ["GET /auth HTTP/1.1", "Host: gateway"] + ["%s: %s" % kv for kv in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    latencies, statuses = [], {}
    cpu_before = None
    pending = b""
    for index in range(count + 1):  # the first round trip starts the connection's thread: not counted
        if index == 1:
            cpu_before = cpu_seconds(pid)
            latencies, statuses = [], {}
        started = time.perf_counter()
        sock.sendall(request)
        status, pending = read_answer(sock, pending)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    cpu_us = (cpu_seconds(pid) - cpu_before) / count * 1e6
    sock.close()
    return {"requests": count, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "statuses": statuses, "cpu_us_per_decision": cpu_us}


def in_process_decisions(tmp, count):
    from gwtest import Client, enroll_totp, login, make_gateway, set_password

    gateway = make_gateway(tmp)
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    latencies = []
    cpu_before = time.thread_time()
    for _unused in range(count):
        started = time.perf_counter()
        response = client.auth("/oscar/demographic/search.jsp", headers=XHR)
        latencies.append(time.perf_counter() - started)
        assert response.status == 200
    cpu_us = (time.thread_time() - cpu_before) / count * 1e6
    return {"requests": count, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "cpu_us_per_decision": cpu_us}


def rss(stack):
    pid = stack.procs["gw-sa"].pid
    values = {}
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return {"rss_mb": values.get("VmRSS"), "peak_rss_mb": values.get("VmHWM")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cache-ttl", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not 0 < args.seconds <= 60 or not 0 < args.workers <= 16:
        parser.error("keep it bounded: --seconds 0..60, --workers 1..16")

    from stack import Browser, Stack
    from test_nginx_integration import gateway_config, sign_in

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    for sub in ("plain", "cached", "inproc"):
        (tmp / sub).mkdir()
    results = {"seconds": args.seconds, "workers": args.workers, "cache_ttl": args.cache_ttl,
               "cpus": os.cpu_count()}
    # Production-like argon2 (the default 19 MiB) so the memory figure includes real logins.
    argon = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}

    cfg = gateway_config(tmp / "plain", login={"min_response_seconds": 0.0, "argon2": argon})
    stack = Stack(tmp / "plain" / "stack", {"sa": cfg}, plain={"no-auth": {"nginx_gateway_enabled": False}}).start()
    try:
        browser = Browser(stack.ports["sa"])
        for user in ("drsmith", "reception", "privacy"):
            sign_in(Browser(stack.ports["sa"]), cfg, user)
        sign_in(browser, cfg, "drsmith")
        cookie = {"Cookie": "__Host-oscar-gw=" + browser.jar["__Host-oscar-gw"], "Host": "emr.clinic.test"}
        headers_b = dict(XHR, **cookie)
        results["a_no_auth"] = load(stack.ports["no-auth"], "/oscar/", dict(XHR, Host="emr.clinic.test"), args.seconds,
                                    args.workers)
        results["b_gateway"] = load(stack.ports["sa"], "/oscar/", headers_b, args.seconds, args.workers)
        decision_headers = dict(XHR, **{"X-Original-URL": "https://emr.clinic.test/oscar/demographic/search.jsp",
                                        "X-Original-Method": "GET", "X-Real-IP": "127.0.0.1",
                                        "Cookie": cookie["Cookie"]})
        pid = stack.procs["gw-sa"].pid
        results["decision_unix_socket"] = unix_decisions(cfg["listen"]["auth_socket"], decision_headers,
                                                         args.decisions, pid)
        results["decision_waitress_socket"] = unix_decisions(cfg["listen"]["unix_socket"], decision_headers,
                                                             args.decisions, pid)
        results["gateway_memory"] = rss(stack)
    finally:
        stack.stop()

    cfg = gateway_config(tmp / "cached", login={"min_response_seconds": 0.0},
                         decision_cache={"max_age_seconds": args.cache_ttl})
    stack = Stack(tmp / "cached" / "stack", {"sa": cfg}, cache_ttl=args.cache_ttl).start()
    try:
        browser = Browser(stack.ports["sa"])
        sign_in(browser, cfg, "drsmith")
        headers_c = dict(XHR, **{"Cookie": "__Host-oscar-gw=" + browser.jar["__Host-oscar-gw"],
                                 "Host": "emr.clinic.test"})
        results["c_gateway_cached"] = load(stack.ports["sa"], "/oscar/", headers_c, args.seconds, args.workers)
    finally:
        stack.stop()

    results["decision_in_process"] = in_process_decisions(tmp / "inproc", args.decisions)
    a, b, c = (results[k]["rps"] for k in ("a_no_auth", "b_gateway", "c_gateway_cached"))
    results["ratio_b_over_a"] = b / a
    results["ratio_c_over_a"] = c / a

    results["load_average"] = os.getloadavg()
    print("gateway benchmark on loopback (%d CPUs, %d workers, %.0f s per run), load average at the end %s" % (
        results["cpus"], args.workers, args.seconds, "/".join("%.2f" % x for x in results["load_average"])))
    for key, label in (("a_no_auth", "(a) nginx -> stand-in, no auth"), ("b_gateway", "(b) with the gateway"),
                       ("c_gateway_cached", "(c) with the decision cache")):
        r = results[key]
        print("  %-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  statuses %s" % (
            label, r["rps"], r["p50_ms"], r["p99_ms"], r["statuses"]))
    print("  ratio b/a %.2f   ratio c/a %.2f" % (results["ratio_b_over_a"], results["ratio_c_over_a"]))
    for key, label in (("decision_unix_socket", "decision over its UNIX socket"),
                       ("decision_waitress_socket", "decision over waitress's socket"),
                       ("decision_in_process", "decision in process")):
        r = results[key]
        print("  %-34s p50 %6.3f ms  p99 %6.3f ms  CPU %4.0f us/decision  (%d requests)" % (
            label, r["p50_ms"], r["p99_ms"], r["cpu_us_per_decision"], r["requests"]))
    mem = results["gateway_memory"]
    print("  gateway memory: RSS %.1f MB, peak %.1f MB (after 4 logins with argon2id m=19 MiB)" % (
        mem["rss_mb"], mem["peak_rss_mb"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
