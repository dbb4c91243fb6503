#!/usr/bin/env python3
"""Connection benchmark: the same playbook on one test-bed container with containers.podman.podman and with the
test bed's podman_pipelined (tests/testbed/connection_plugins), which Molecule, the demo and the fleet tests use.

    bash /work/wt/heavy.sh .venv/bin/python benchmarks/connection_bench.py [--rounds 3] [--tasks 20]

The playbook is a mix of what the roles do on a converged host (stat, copy, file, command), which change nothing
after the first run. The connections take turns, round by round, so a change in the machine's load touches both.
Prints, per connection, the median wall time and controller CPU seconds of a run (ansible-playbook and every podman
process it waited for) and the load average: on a shared machine the CPU seconds are the figure to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/oscar-testbed:bookworm"
CONNECTIONS = ("containers.podman.podman", "podman_pipelined")


def playbook(tasks: int) -> str:
    kinds = [
        "    - ansible.builtin.stat: {path: /etc/os-release}\n",
        "    - ansible.builtin.copy: {content: \"bench\\n\", dest: /tmp/bench.txt, mode: \"0644\"}\n",
        "    - ansible.builtin.file: {path: /tmp/bench-dir, state: directory, mode: \"0755\"}\n",
        "    - ansible.builtin.command: {cmd: \"true\"}\n      changed_when: false\n",
    ]
    body = "".join(kinds[i % len(kinds)] for i in range(tasks))
    return "- hosts: all\n  gather_facts: false\n  tasks:\n" + body


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of cmd and the processes it waited for)."""
    start = time.monotonic()
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(out[-3000:])
    return time.monotonic() - start, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()

    name = "connection-bench-%d" % os.getpid()
    subprocess.run(["podman", "run", "-d", "--rm", "--network", "none", "--name", name, IMAGE, "sleep", "infinity"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            book = Path(tmp) / "bench.yml"
            book.write_text(playbook(args.tasks))
            venv_bin = ROOT / ".venv" / "bin"
            env = dict(os.environ, PATH=f"{venv_bin}:{os.environ['PATH']}", ANSIBLE_PIPELINING="true",
                       ANSIBLE_CONNECTION_PLUGINS=str(ROOT / "tests" / "testbed" / "connection_plugins"),
                       ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
            figures: dict[str, list[tuple[float, float]]] = {c: [] for c in CONNECTIONS}
            for _round in range(args.rounds + 1):  # the first round settles the files and is not counted
                for connection in CONNECTIONS:
                    cmd = [str(venv_bin / "ansible-playbook"), "-i", name + ",", str(book),
                           "-e", "ansible_connection=" + connection,
                           "-e", "ansible_python_interpreter=/usr/bin/python3"]
                    result = run(cmd, env)
                    if _round:
                        figures[connection].append(result)
        load = os.getloadavg()
        print(f"{args.tasks} tasks, {args.rounds} rounds, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        for connection, runs in figures.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{connection:28s} wall {wall:6.1f} s  controller CPU {cpu:5.1f} s"
                  f"  ({cpu / args.tasks:.2f} s a task)")
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], check=False, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
