#!/usr/bin/env python3
"""Fleet runner benchmark: a no-op playbook through scripts/fleet.py (ansible-runner) for N simulated clinics.

    .venv/bin/python benchmarks/fleet_bench.py --sizes 1 5 10 20 [--parallel 4]     # patch.yml, one container each
    .venv/bin/python benchmarks/fleet_bench.py --site-demo                           # site.yml on the demo clinic

patch mode: each simulated clinic is one container (the test bed's Debian 12 image) with cloudflared 2026.8.2 from
../shared/cloudflared, a local apt repository holding it, and an OSCAR stand-in on Tomcat's port: the clinic the
fleet proof (tests/integration/test_fleet_patch.py) calls healthy. The playbook is run once to settle, then measured
on the no-op run. site-demo mode measures a no-op site.yml of the demo clinic (two hosts, the full stack; run
`flock /tmp/demo.lock bash scripts/demo.sh` first).

Prints, per size: wall time, controller CPU seconds per clinic (this process's children: the runner and every
ansible-playbook and connection process it started, and the podman_persist masters with their exec sessions) and
target CPU seconds per clinic (each container's cgroup cpuacct.usage, read before and after), plus the machine's load
average, which on a shared machine moves the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import test_fleet_patch as bed  # noqa: E402  the fleet proof's builders: repository, inventory, container setup

PREFIX = "fleet-bench-"
NETWORK = "oscar-fleet-bench"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def target_cpu(names: list[str]) -> float:
    total = 0
    for name in names:
        out = bed.podman("exec", name, "cat", "/sys/fs/cgroup/cpuacct/cpuacct.usage", check=False).stdout.strip()
        if not out:
            out = bed.podman("exec", name, "sh", "-c", "awk '/usage_usec/ {print $2 * 1000}' /sys/fs/cgroup/cpu.stat",
                             check=False).stdout.strip()
        total += int(float(out or 0))
    return total / 1e9


def make_clinics(tmp: Path, count: int) -> list[str]:
    names = []
    for index in range(count):
        clinic = f"c{index:02d}"
        name = PREFIX + clinic
        bed.podman("rm", "-f", name, check=False)
        bed.start_clinic(name, tmp / "repo", bed.NEW, network=NETWORK)
        bed.write_inventory(tmp / "inventories", clinic, host=name)
        names.append(name)
    return names


def persist_cpu() -> float:
    """CPU seconds so far of the podman_persist masters and their `podman exec` sessions: the connection starts them
    detached (they outlive a task, as SSH's ControlMaster does), so children_cpu() never sees them."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # After the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based from the state.
        stats[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]), b"podman_persist.py" in cmdline)
    masters = {pid for pid, (_ppid, _cpu, is_master) in stats.items() if is_master}
    return sum(cpu for pid, (ppid, cpu, _m) in stats.items() if pid in masters or ppid in masters) / ticks


def run_fleet(playbook: Path, inventories: Path, out: Path, parallel: int, *extra: str) -> tuple[int, float, float]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    cpu, start = children_cpu() + persist_cpu(), time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "fleet.py"), str(playbook), "--inventories",
                           str(inventories), "--out", str(out), "--parallel", str(parallel), *extra],
                          env=env, capture_output=True, text=True, check=False)
    return proc.returncode, time.monotonic() - start, children_cpu() + persist_cpu() - cpu


def bench_patch(sizes: list[int], parallel: int) -> None:
    if not bed.deb(bed.NEW).exists():
        raise SystemExit(f"{bed.SHARED} is not there")
    print(f"{'clinics':>7} {'wall s':>8} {'ctrl CPU s/clinic':>18} {'target CPU s/clinic':>20}"
          f" {'load (1/5/15 min)':>20}")
    for size in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
        bed.build_repository(tmp / "repo")
        bed.podman("network", "rm", "-f", NETWORK, check=False)
        bed.podman("network", "create", "--subnet", "10.89.215.0/24", NETWORK)
        names = []
        try:
            names = make_clinics(tmp, size)
            playbook = ROOT / "playbooks" / "patch.yml"
            rc, _wall, _cpu = run_fleet(playbook, tmp / "inventories", tmp / "settle", parallel)
            if rc != 0:
                raise SystemExit(f"the settling run failed: see {tmp / 'settle'}")
            before = target_cpu(names)
            rc, wall, cpu = run_fleet(playbook, tmp / "inventories", tmp / "measured", parallel)
            target = target_cpu(names) - before
            load = "/".join(f"{v:.1f}" for v in os.getloadavg())
            print(f"{size:>7} {wall:>8.1f} {cpu / size:>18.2f} {target / size:>20.2f} {load:>20}"
                  f"{'' if rc == 0 else '  (a clinic failed: see ' + str(tmp / 'measured') + ')'}", flush=True)
        finally:
            for name in names:
                bed.podman("rm", "-f", name, check=False)
            bed.podman("network", "rm", "-f", NETWORK, check=False)
            shutil.rmtree(tmp, ignore_errors=True)


def bench_site_demo() -> None:
    names = ["demo-oscar", "demo-pi"]
    for name in names:
        if bed.podman("container", "exists", name, check=False).returncode != 0:
            raise SystemExit("the demo clinic is not running: flock /tmp/demo.lock bash scripts/demo.sh")
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-site-"))
    (tmp / "inventories").mkdir()
    (tmp / "inventories" / "demo_clinic").symlink_to(ROOT / "inventories" / "demo_clinic")
    before = target_cpu(names)
    rc, wall, cpu = run_fleet(ROOT / "playbooks" / "site.yml", tmp / "inventories", tmp / "out", 1,
                              "--include-examples")
    target = target_cpu(names) - before
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    # A no-op is only a no-op when nothing changed: say so with the figures.
    report = tmp / "out" / "fleet-report.json"
    changed = json.loads(report.read_text())["clinics"][0]["changed"] if report.exists() else "?"
    print(f"site.yml no-op, demo clinic (2 hosts): wall {wall:.1f} s, controller CPU {cpu:.1f} s, "
          f"target CPU {target:.1f} s, changed {changed}, exit {rc}, load {load}; report {tmp / 'out'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--site-demo", action="store_true")
    parser.add_argument("--persist", action=argparse.BooleanOptionalAction, default=None,
                        help="one podman exec session per container (ControlPersist's stand-in) or one per command;"
                             " default: as the inventory says (the demo's: persist; the simulated clinics': not)")
    args = parser.parse_args()
    if args.persist is not None:
        # podman_pipelined's podman_persist option (tests/testbed/podman_persist.py), for every host of every run.
        os.environ["ANSIBLE_PODMAN_PERSIST"] = str(args.persist).lower()
    if args.site_demo:
        bench_site_demo()
    else:
        bench_patch(args.sizes, args.parallel)


if __name__ == "__main__":
    main()
