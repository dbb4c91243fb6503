"""The test bed's ControlPersist (tests/testbed/podman_persist.py): the master and its relay, run here with a local
python3 in place of `podman exec -i CONTAINER` (the relay is the same code the container runs)."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))
import podman_persist


@pytest.fixture(name="master")
def fixture_master(tmp_path):
    path = str(tmp_path / "control")
    # "env" stands in for `podman exec -i CONTAINER`: the master appends `python3 -c RELAY` to it.
    proc = subprocess.Popen([sys.executable, podman_persist.__file__, path, "env"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout.readline() == b"ready\n"
    yield path, proc
    podman_persist.stop(path)
    proc.wait(timeout=20)


def test_commands_run_as_podman_exec_runs_them(master, tmp_path):
    path, _proc = master
    assert os.stat(path).st_mode & 0o077 == 0  # only its owner connects
    # argv without a shell, exit status and both streams kept apart, binary safe.
    rc, out, err = podman_persist.request(path, ["/bin/sh", "-c", "printf 'a\\0b'; echo oops >&2; exit 3"], None)
    assert (rc, out, err) == (3, b"a\0b", b"oops\n")
    # stdin: the pipelined module when there is one, else /dev/null (never the relay's own stdin).
    assert podman_persist.request(path, ["cat"], b"module source" * 10000)[1] == b"module source" * 10000
    assert podman_persist.request(path, ["cat"], None)[:2] == (0, b"")
    rc, _out, err = podman_persist.request(path, ["/nonexistent/program"], None)
    assert rc == 127 and b"nonexistent" in err
    # Each command is its own process.
    pids = {podman_persist.request(path, ["/bin/sh", "-c", "echo $$"], None)[1] for _attempt in range(3)}
    assert len(pids) == 3


def test_concurrent_commands_do_not_wait_for_each_other(master):
    path, _proc = master
    results = {}

    def run(name, seconds):
        results[name] = podman_persist.request(path, ["/bin/sh", "-c", f"sleep {seconds}; echo {name}"], None)[1]

    slow = threading.Thread(target=run, args=("slow", 2))
    slow.start()
    time.sleep(0.2)
    started = time.monotonic()
    run("fast", 0)
    assert results["fast"] == b"fast\n" and time.monotonic() - started < 1.5
    slow.join()
    assert results["slow"] == b"slow\n"


def test_lost_session_is_a_connection_failure_and_the_master_exits(tmp_path):
    path = str(tmp_path / "control")
    # The exec session ends while a command runs (the container stopped): the relay is killed under it.
    proc = subprocess.Popen([sys.executable, podman_persist.__file__, path, "env"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout.readline() == b"ready\n"
    relay = podman_persist.request(path, ["/bin/sh", "-c", "echo $PPID"], None)[1].strip()
    threading.Timer(0.5, lambda: os.kill(int(relay), 9)).start()
    with pytest.raises(podman_persist.Lost):
        podman_persist.request(path, ["sleep", "5"], None)
    proc.wait(timeout=20)
    assert not os.path.exists(path)
    with pytest.raises(podman_persist.NoMaster):
        podman_persist.request(path, ["true"], None)
