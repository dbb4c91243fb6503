"""Run every check of the collection and close with one line in pytest's style.

Stages: yamllint, ansible-lint (production), ruff, ansible-test sanity, pytest (unit and
loopback integration tests), then every Molecule scenario step by step. Each lint stage and
each scenario step counts as one test; pytest counts its own tests. Called by `make test`,
which has already made the virtual environment and prepared the container test bed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
COLLECTION_LINK = BUILD / "collections" / "ansible_collections" / "oscar_emr" / "remote_access"
SCENARIO_STEPS = ("syntax", "create", "prepare", "converge", "idempotence", "check", "side_effect", "verify")


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.passed = 0
        self.failed: list[str] = []
        self.skipped = 0

    def record(self, name: str, ok: bool, seconds: float, cpu: float | None = None) -> None:
        mark = "PASS" if ok else "FAIL"
        spent = f"{seconds:.0f}s" if cpu is None else f"{seconds:.0f}s, {cpu:.0f}s CPU"
        with self.lock:
            print(f"==> {mark} {name} ({spent})", flush=True)
            if ok:
                self.passed += 1
            else:
                self.failed.append(name)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = ROOT / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(BUILD / "collections")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["PY_COLORS"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def link_collection() -> None:
    """Make the checkout importable as ansible_collections.oscar_emr.remote_access."""
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    if COLLECTION_LINK.is_symlink() and COLLECTION_LINK.resolve() == ROOT:
        return
    if COLLECTION_LINK.is_symlink() or COLLECTION_LINK.exists():
        COLLECTION_LINK.unlink()
    COLLECTION_LINK.symlink_to(ROOT)


def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT, log: Path | None = None,
        echo: bool = True) -> tuple[bool, str, float]:
    """Run cmd; return (succeeded, output, CPU seconds of cmd and the processes it waited for). The CPU time is what
    a step costs whatever else the machine is doing (Ansible, podman's client; not the containers' own processes):
    wall times on a shared, busy machine say more about the others than about the step."""
    if echo:
        print("$ " + " ".join(cmd), flush=True)
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out)
    return proc.returncode == 0, out, usage.ru_utime + usage.ru_stime


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def stage(results: Results, name: str, cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> bool:
    start = time.monotonic()
    ok, out, cpu = run(cmd, env, cwd)
    if not ok or os.environ.get("VERBOSE"):
        print(tail(out, 120))
    results.record(name, ok, time.monotonic() - start, cpu)
    return ok


def sanity_tree(env: dict[str, str]) -> Path:
    """ansible-test checks the collection as it ships: build it and unpack it at ansible_collections/NS/NAME."""
    # One tree per run, so that two runs at once (two developers' sessions) never share one.
    work = BUILD / f"sanity-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    dest = work / "ansible_collections" / "oscar_emr" / "remote_access"
    dist = work / "dist"
    dest.mkdir(parents=True)
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(dist), str(ROOT)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    (tarball,) = dist.glob("oscar_emr-remote_access-*.tar.gz")
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    # ansible-test lists files with git when it finds a repository: give it one, which ignores the
    # virtual environments ansible-test itself creates under tests/output.
    (dest / ".gitignore").write_text("/tests/output/\n")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


def run_lint(results: Results, env: dict[str, str]) -> None:
    stage(results, "yamllint", ["yamllint", "--strict", "."], env)
    stage(results, "ansible-lint (production)", ["ansible-lint", "--offline", "-q"], env)
    stage(results, "ruff", ["ruff", "check", "."], env)


def install_pip_bootstrap() -> None:
    """Give ansible-test its pip bootstrap script, which it cannot download here (see the script's docstring)."""
    import ansible_test

    requirements = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", requirements.read_text())
    if not match:
        raise SystemExit(f"cannot find ansible-test's pip version in {requirements}")
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{match.group(1).replace('.', '_')}.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "scripts" / "ansible_test_get_pip.py", cache)


def run_sanity(results: Results, env: dict[str, str]) -> None:
    start = time.monotonic()
    install_pip_bootstrap()
    tree = sanity_tree(env)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    ok, out, cpu = run(["ansible-test", "sanity", "--venv", "--python", py, "--color", "no"], env, cwd=tree)
    shutil.rmtree(tree.parents[2])
    if not ok or os.environ.get("VERBOSE"):
        print(tail(out, 120))
    results.record("ansible-test sanity", ok, time.monotonic() - start, cpu)


def run_pytest(results: Results, env: dict[str, str], paths: list[str], workers: int) -> None:
    """Run pytest, on `workers` processes when above 1 (pytest-xdist; a test file stays on one worker, so a file's
    module-scoped fixtures, such as the fleet tests' containers, are made once)."""
    junit = BUILD / "junit-pytest.xml"
    start = time.monotonic()
    spread = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    ok, out, cpu = run([sys.executable, "-m", "pytest", "-q", *spread, f"--junitxml={junit}", *paths], env)
    print(tail(out, 80 if ok else 200))
    elapsed = time.monotonic() - start
    print(f"pytest: {elapsed:.0f}s, {cpu:.0f}s CPU", flush=True)
    if not junit.exists():
        results.record("pytest (no report)", False, elapsed)
        return
    root = ET.parse(junit).getroot()
    for case in root.iter("testcase"):
        name = f"pytest {case.get('classname')}::{case.get('name')}"
        if case.find("skipped") is not None:
            results.skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            results.failed.append(name)
        else:
            results.passed += 1
    if not ok and not any(n.startswith("pytest") for n in results.failed):
        results.record("pytest (run failed outside any test)", False, elapsed)


# Scenarios left out of the default run, each with the reason, printed on every run and counted as
# skipped. Naming one with --scenario still runs it. Keep this empty: an entry is a known defect.
QUARANTINED: dict[str, str] = {}


# Scenarios start longest first (their time on a quiet machine, last measured), so the two lanes finish together
# instead of one long scenario starting last; a scenario not listed here starts after these.
LONGEST_FIRST = ("gateway", "wireguard", "cloudflared", "nginx", "nginx_separate_host", "firewall")


def scenarios(results: Results) -> list[str]:
    names = sorted((p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")),
                   key=lambda n: (LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST), n))
    for name in names:
        if name in QUARANTINED:
            print(f"==> QUARANTINED molecule {name}: {QUARANTINED[name]}")
            results.skipped += 1
    return [name for name in names if name not in QUARANTINED]


RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", re.M)


def run_scenario(env: dict[str, str], name: str) -> list[tuple[str, bool, float, str]]:
    """Run a scenario step by step so each step is reported, and always destroy at the end.

    The `check` step is a converge in check mode on a converged host, which must report no change;
    Molecule's own `check` action does not assert that, so the recap is read here. Returns one
    (test name, passed, seconds, CPU seconds, output to show) per step, so scenarios can run side by side.
    """
    logs = BUILD / "molecule-logs" / name
    base = ["molecule"]
    steps: list[tuple[str, bool, float, float, str]] = []
    try:
        run([*base, "destroy", "-s", name], env, log=logs / "destroy-stale.log", echo=False)
        for step in SCENARIO_STEPS:
            if step in ("prepare", "side_effect") and not (ROOT / "molecule" / name / f"{step}.yml").exists():
                continue
            start = time.monotonic()
            shown = ""
            if step == "check":
                ok, out, cpu = run([*base, "converge", "-s", name, "--", "--check", "--diff"], env,
                                   log=logs / f"{step}.log", echo=False)
                changed = [(host, int(n)) for host, n in RECAP.findall(out)]
                if ok and (not changed or any(count for _host, count in changed)):
                    shown = f"check mode reported changes on a converged host: {changed}\n"
                    ok = False
            else:
                ok, out, cpu = run([*base, step, "-s", name], env, log=logs / f"{step}.log", echo=False)
            if not ok:
                shown = tail(out, 150) + "\n" + shown
            steps.append((f"molecule {name}: {step}", ok, time.monotonic() - start, cpu, shown))
            if not ok:
                break
    finally:
        run([*base, "destroy", "-s", name], env, log=logs / "destroy.log", echo=False)
    return steps


def run_scenarios(results: Results, env: dict[str, str], names: list[str], jobs: int) -> None:
    """Scenarios have their own containers and networks, so a few can run at once; most of their
    time is spent waiting on package downloads and container start-up, not on the CPU."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_scenario, env, name): name for name in names}
        for future in as_completed(futures):
            for test, ok, seconds, cpu, shown in future.result():
                if shown:
                    print(shown)
                results.record(test, ok, seconds, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["lint", "sanity", "pytest", "molecule"], action="append")
    parser.add_argument("--scenario", action="append", help="run only these Molecule scenarios")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")),
                        help="Molecule scenarios run at once (default 2, or $MOLECULE_JOBS)")
    parser.add_argument("--pytest-workers", type=int, default=int(os.environ.get("PYTEST_WORKERS", "2")),
                        help="pytest worker processes (default 2, or $PYTEST_WORKERS; 1 runs pytest alone)")
    args = parser.parse_args()
    only = set(args.only or ["lint", "sanity", "pytest", "molecule"])

    link_collection()
    env = environment()
    results = Results()
    started = time.monotonic()

    # Lint and sanity side by side: ansible-test sanity runs its tests one after another on one core (117 s on a quiet
    # machine), the lint stages take the other (50 s), so both end in about the time of sanity alone.
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = []
        if "sanity" in only:
            checks.append(pool.submit(run_sanity, results, env))
        if "lint" in only:
            checks.append(pool.submit(run_lint, results, env))
        for check in checks:
            check.result()
    if "pytest" in only:
        run_pytest(results, env, ["tests"], args.pytest_workers)
    if "molecule" in only:
        run_scenarios(results, env, args.scenario or scenarios(results), args.jobs)

    minutes = (time.monotonic() - started) / 60
    print(f"\ntotal time {minutes:.1f} min")
    for name in results.failed:
        print(f"FAILED {name}")
    summary = f"{results.passed} passed, {len(results.failed)} failed"
    if results.skipped:
        summary += f", {results.skipped} skipped"
    print(summary)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
