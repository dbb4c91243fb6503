"""Run one playbook across many clinics with ansible-runner, one run per clinic inventory, and report.

    scripts/fleet.py playbooks/patch.yml [--parallel 4] [--timeout 3600] [--drift] [-- ansible-playbook options]

Why one run per clinic: passing several inventories to one ansible-playbook merges them, and one clinic's
group_vars (all, clinic) would override another's. Each clinic runs in its own ansible-runner private data
directory with its own artifacts (<out>/artifacts/<clinic>/: stdout, events, status), at most --parallel at
once, each stopped after --timeout seconds; one clinic failing or unreachable never stops the others.

Clinics are the directories under --inventories (default inventories/, $CLINIC_INVENTORIES) holding hosts.yml;
this collection's example inventories (a .example-inventory file naming the directory itself) are skipped
unless --include-examples ($CLINIC_INCLUDE_EXAMPLES=1); a clinic copied from one under its own name still runs.

A run that did nothing is a failed run, not a quiet success: a clinic fails when no task ran on any of its hosts,
when a play's host pattern names a group or host its inventory does not have (Ansible only warns and skips the
play: a clinic half-applied), with --require-hosts when any play matched no hosts at all (a declared but empty group,
such as cloudflared_connectors of a WireGuard-only clinic, is otherwise fine), and with --expect-change when the run
changed nothing (a fresh clinic). The report says which play and why.

After every run: <out>/fleet-report.json, <out>/fleet-report.html and a table on the terminal, failed clinics
first (see fleet_report.py). Exit status: 0 every clinic succeeded, 1 one or more failed, 2 nothing to run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ansible_runner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_report  # (next to this file)

ROOT = Path(__file__).resolve().parent.parent
HEALTH_ACTION = "clinic_health"


def list_clinics(inventories: Path, include_examples: bool) -> list[Path]:
    clinics = []
    for hosts in sorted(inventories.glob("*/hosts.yml")):
        directory = hosts.parent
        marker = directory / ".example-inventory"
        if marker.exists() and not include_examples:
            first = (marker.read_text().splitlines() or [""])[0].strip()
            if first == directory.name:
                print(f"skipped example {directory.name} (--include-examples runs it)", file=sys.stderr)
                continue
        clinics.append(directory)
    return clinics


class Progress:
    """Clinics done, running and failed, and where each running clinic is (its play, how many tasks it has
    started): printed as clinics start and finish, as each play starts, and every --progress-every seconds."""

    def __init__(self, total: int):
        self.total, self.running, self.done, self.failed = total, set(), 0, 0
        self.where: dict[str, tuple[str, int]] = {}
        self.lock = threading.Lock()

    def line(self) -> str:
        running = ", ".join(self._where(name) for name in sorted(self.running)) or "-"
        return f"[{self.done}/{self.total} done, {len(self.running)} running, {self.failed} failed] running: {running}"

    def _where(self, name: str) -> str:
        play, tasks = self.where.get(name, ("", 0))
        return f"{name} ({play}, {tasks} tasks)" if play else name

    def start(self, name: str) -> None:
        with self.lock:
            self.running.add(name)
            print(f"{self.line()}", flush=True)

    def event(self, name: str, event: dict) -> None:
        """ansible-runner's event_handler for one clinic: follows its plays and counts the tasks it starts."""
        kind, data = event.get("event"), event.get("event_data") or {}
        with self.lock:
            play, tasks = self.where.get(name, ("", 0))
            if kind == "playbook_on_play_start":
                self.where[name] = (f"play '{data.get('play', '')}'", tasks)
                print(self.line(), flush=True)
            elif kind == "playbook_on_task_start":
                self.where[name] = (play, tasks + 1)

    def finish(self, name: str, ok: bool, summary: str) -> None:
        with self.lock:
            self.running.discard(name)
            self.where.pop(name, None)
            self.done += 1
            self.failed += 0 if ok else 1
            print(summary, flush=True)
            print(self.line(), flush=True)


def runner_env() -> dict[str, str]:
    env = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    cfg = ROOT / "ansible.cfg"
    if "ANSIBLE_CONFIG" in os.environ:
        env["ANSIBLE_CONFIG"] = os.environ["ANSIBLE_CONFIG"]
    elif cfg.exists():
        env["ANSIBLE_CONFIG"] = str(cfg)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".build" / "collections"))
    return env


RUN_MARKER = "OSCAR_FLEET_RUN"
# Ansible's warning when a play's hosts pattern names nothing in the inventory (it then skips the play).
UNMATCHED_PATTERN = re.compile(r"Could not match supplied host pattern, ignoring: (.+)$")
TASK_RESULTS = ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable")


def did_nothing(events: list[dict], changed: int, require_hosts: bool, expect_change: bool) -> list[str]:
    """Why a run that Ansible calls successful did not do its job, from its events: plays whose pattern names no
    group or host of the inventory (or, with require_hosts, plays that matched no hosts), no task run on any host,
    nothing changed where a change was expected. An empty list when it did its job."""
    unknown, problems, plays, tasks = set(), [], [], 0
    for event in events:
        kind, data = event.get("event"), event.get("event_data") or {}
        if kind == "warning":
            # The warning's text is the event's stdout (event_data only flags it).
            match = UNMATCHED_PATTERN.search(str(event.get("stdout", "")).strip())
            if match:
                unknown.add(match.group(1).strip())
        elif kind == "playbook_on_play_start":
            plays.append(data)
        elif kind == "playbook_on_no_hosts_matched":
            play = plays[-1] if plays else data
            name = play.get("name") or data.get("play", "")
            pattern = play.get("pattern") or data.get("play_pattern", "")
            names = {p.strip() for p in re.split(r"[,:]", str(pattern)) if p.strip()}
            missing = sorted(n for n in names if n in unknown)
            if missing:
                problems.append(f"play '{name}' matched no hosts: the inventory has no group or host "
                                f"{', '.join(repr(m) for m in missing)}")
            elif require_hosts:
                problems.append(f"play '{name}' matched no hosts (pattern '{pattern}')")
        elif kind in TASK_RESULTS:
            tasks += 1
    if not tasks:
        problems.append("no task ran on any host (did the inventory name the clinic's hosts?)")
    elif expect_change and not changed:
        problems.append("nothing changed, and this run was expected to change the clinic (--expect-change)")
    return problems


def kill_leftovers(marker: str) -> list[int]:
    """SIGKILL every process whose environment carries this run's marker; returns their ids.

    On a time-out ansible-runner kills ansible-playbook's process group, but Ansible's workers start sessions of
    their own (setsid), so a worker stuck in a task outlives it: a scheduled runner would pile them up. Every
    process of one clinic's run inherits the marker, whatever its group. Linux /proc only; elsewhere a no-op.
    """
    needle = f"{RUN_MARKER}={marker}".encode()
    killed = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return killed


def run_one(clinic: Path, playbook: Path, args, extra: list[str], artifacts: Path, check: bool = False,
            progress: Progress | None = None) -> dict:
    """One ansible-runner run of playbook against one clinic inventory; returns what the report needs."""
    started = time.time()
    cmdline = list(extra) + (["--check", "--diff"] if check else [])
    marker = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix=f"fleet-{clinic.name}-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            playbook=str(playbook),
            # Absolute: ansible-runner takes a relative path that is not under its private data directory for the
            # inventory's text and writes it there as an INI file naming one host, "inventories/x/hosts.yml", so
            # every play matched no hosts and the run "succeeded" having done nothing.
            inventory=str((clinic / "hosts.yml").resolve()),
            artifact_dir=str(artifacts),
            ident=clinic.name + ("-drift" if check else ""),
            cmdline=shlex.join(cmdline) if cmdline else None,
            envvars=dict(runner_env(), **{RUN_MARKER: marker}),
            timeout=args.timeout,
            quiet=True,
            settings={"suppress_ansible_output": True},
            event_handler=(lambda event: progress.event(clinic.name, event) or True) if progress else None,
        )
        if runner.status == "timeout":
            kill_leftovers(marker)
        events = list(runner.events)
        # Runner.stats leaves out set_stats data: read the playbook_on_stats event itself.
        final = [e["event_data"] for e in events if e.get("event") == "playbook_on_stats"]
        stats = final[-1] if final else {}
        stdout_text = runner.stdout.read() if runner.stdout else ""
    health, changed_tasks, failed_msgs = {}, [], []
    for event in events:
        data = event.get("event_data", {})
        action = str(data.get("task_action", ""))
        host = data.get("host")
        if event.get("event") == "runner_on_ok":
            if action.endswith(HEALTH_ACTION) and host:
                health[host] = data.get("res", {})
            if data.get("res", {}).get("changed"):
                changed_tasks.append(f"{host}: {data.get('task')}")
        elif event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            res = data.get("res", {})
            if action.endswith(HEALTH_ACTION) and host and "healthy" in res:
                health[host] = res
            failed_msgs.append(f"{host}: {data.get('task')}: {str(res.get('msg', ''))[:300]}")
    hosts = {h for key in ("ok", "changed", "failures", "dark", "skipped") for h in (stats.get(key) or {})}
    changed = sum((stats.get("changed") or {}).values())
    problems = []
    if runner.status == "successful":
        problems = did_nothing(events, changed, getattr(args, "require_hosts", False),
                               getattr(args, "expect_change", False) and not check)
    return {
        "clinic": clinic.name,
        # Ansible's verdict, unless the run did nothing: then it failed, and errors say why.
        "status": "failed" if problems else runner.status,
        "rc": runner.rc,
        "seconds": round(time.time() - started, 1),
        "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
        "hosts": sorted(hosts),
        "changed": changed,
        "failed": sum((stats.get("failures") or {}).values()),
        "unreachable": sorted((stats.get("dark") or {}).keys()),
        "changed_tasks": changed_tasks,
        "errors": problems + failed_msgs,
        "health": health,
        "artifact_data": stats.get("artifact_data") or {},
        "stdout": stdout_text,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("playbook", type=Path)
    parser.add_argument("--inventories", type=Path, default=Path(os.environ.get("CLINIC_INVENTORIES", "inventories")))
    parser.add_argument("--include-examples", action="store_true",
                        default=os.environ.get("CLINIC_INCLUDE_EXAMPLES", "0") == "1")
    parser.add_argument("--clinic", action="append", help="run only these clinics (directory names)")
    parser.add_argument("--parallel", type=int, default=int(os.environ.get("CLINIC_PARALLEL", "4")))
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("CLINIC_TIMEOUT", "3600")),
                        help="seconds one clinic's run may take before it is stopped (default 3600)")
    parser.add_argument("--out", type=Path,
                        default=Path(os.environ.get("CLINIC_LOG_DIR")
                                     or f"logs/{datetime.datetime.now():%Y%m%d-%H%M%S}"),
                        help="artifacts, logs and the report (default logs/<time>)")
    parser.add_argument("--runs-dir", type=Path,
                        help="for schedules: each run in <runs-dir>/<time>, a 'latest' link to it,"
                             " the state beside them")
    parser.add_argument("--state", type=Path,
                        default=Path(os.environ["FLEET_STATE"]) if "FLEET_STATE" in os.environ else None,
                        help="kept between runs: last successful patch and restart counts per clinic"
                             " (default: fleet-state.json beside --out)")
    parser.add_argument("--progress-every", type=int, default=int(os.environ.get("CLINIC_PROGRESS_EVERY", "30")),
                        help="seconds between progress lines while clinics run (default 30)")
    parser.add_argument("--drift", action="store_true",
                        help="also run playbooks/site.yml in check mode per clinic and report what it would change")
    parser.add_argument("--require-hosts", action="store_true",
                        help="a play that matches no hosts fails the clinic, even when its group is declared empty")
    parser.add_argument("--expect-change", action="store_true",
                        help="a run that changes nothing fails the clinic (a fresh clinic's first run)")
    parser.add_argument("extra", nargs="*",
                        help="after --: options for ansible-playbook (such as -e, --limit, --check)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = parser.parse_args(argv)
    extra = args.extra + extra
    if args.runs_dir:
        args.out = args.runs_dir / f"{datetime.datetime.now():%Y%m%d-%H%M%S}"
    if args.state is None:
        args.state = args.out.parent / "fleet-state.json"
    playbook = args.playbook.resolve()
    # ansible-runner starts ansible-playbook from PATH: prefer the one installed beside this Python (a venv).
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    clinics = list_clinics(args.inventories, args.include_examples)
    if args.clinic:
        clinics = [c for c in clinics if c.name in args.clinic]
    if not clinics:
        print(f"no clinic inventories (directories with hosts.yml) under {args.inventories}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    artifacts = args.out / "artifacts"
    progress = Progress(len(clinics))
    stop = threading.Event()

    def tick():
        while not stop.wait(max(1, args.progress_every)):
            with progress.lock:
                print(progress.line(), flush=True)

    threading.Thread(target=tick, daemon=True).start()

    def job(clinic: Path) -> dict:
        progress.start(clinic.name)
        try:
            result = run_one(clinic, playbook, args, extra, artifacts, progress=progress)
            if args.drift:
                drift = run_one(clinic, ROOT / "playbooks" / "site.yml", args, extra, artifacts, check=True,
                                progress=progress)
                result["drift"] = {"status": drift["status"], "changed": drift["changed"],
                                   "tasks": drift["changed_tasks"][:50]}
        except Exception as exc:  # noqa: BLE001  one clinic's crash must not stop the others
            result = {"clinic": clinic.name, "status": "error", "rc": None, "seconds": 0, "hosts": [],
                      "changed": 0, "failed": 0, "unreachable": [], "errors": [f"runner: {exc!r}"],
                      "health": {}, "artifact_data": {}, "stdout": "", "changed_tasks": []}
        (args.out / f"{clinic.name}.log").write_text(result.pop("stdout", ""))
        ok = result["status"] == "successful"
        summary = f"ok     {clinic.name}" if ok else f"FAILED {clinic.name} (see {args.out / clinic.name}.log)"
        progress.finish(clinic.name, ok, summary)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        results = list(pool.map(job, clinics))
    stop.set()

    if args.runs_dir:
        latest = args.runs_dir / "latest"
        if latest.is_symlink():
            latest.unlink()
        latest.symlink_to(args.out.name)
    report = fleet_report.build(results, playbook=str(args.playbook), state_path=args.state,
                                check_mode=bool({"--check", "-C"} & set(extra)))
    fleet_report.write(report, args.out)
    print(fleet_report.table(report))
    print(f"report: {args.out / 'fleet-report.html'} and {args.out / 'fleet-report.json'}")
    return 0 if all(r["status"] == "successful" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
