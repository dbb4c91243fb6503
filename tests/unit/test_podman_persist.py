"""The test bed's ControlPersist (tests/testbed/podman_persist.py): the master and its relay, run here with a local
python3 in place of `podman exec -i CONTAINER` (the relay is the same code the container runs)."""

import os
import shutil
import subprocess
import sys
import tempfile
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


def test_a_master_whose_exec_session_does_not_start_says_so(tmp_path):
    # `podman exec` into a container that does not run fails at once: no relay, no "ready", no socket left behind.
    path = str(tmp_path / "control")
    proc = subprocess.run([sys.executable, podman_persist.__file__, path, "false"], capture_output=True, timeout=20,
                          check=False)
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert not os.path.exists(path)


# Stands in for `podman exec -i CONTAINER python3 -c RELAY`, with this test's Python as the container's. Each call (an
# exec session) is logged with the master that made it. The Nth passes lines between the master and the relay until
# the file STOP-N exists; a request that arrives after that ends the session without reaching the relay (exit 255),
# as `podman exec` does when its container stopped or restarted and `podman restart` returned before the master saw
# its session end.
FAKE_PODMAN = r"""#!PYTHON
import os, subprocess, sys, threading
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls"), "a") as calls:
    calls.write("%d\n" % os.getppid())
with open(os.path.join(here, "calls")) as calls:
    stop = os.path.join(here, "STOP-%d" % len(calls.read().split()))
relay = subprocess.Popen(["PYTHON"] + sys.argv[sys.argv.index("python3") + 1:], stdin=subprocess.PIPE)
for line in sys.stdin.buffer:
    if os.path.exists(stop):
        relay.kill()
        os._exit(255)
    relay.stdin.write(line)
    relay.stdin.flush()
relay.stdin.close()
sys.exit(relay.wait())
"""


def test_a_restarted_container_gets_a_new_master_and_each_command_runs_once(monkeypatch):
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    home = Path(tempfile.mkdtemp(prefix="pp-", dir="/tmp"))  # short: a Unix socket path has at most 107 bytes
    try:
        monkeypatch.setenv("HOME", str(home))
        fake = home / "podman"
        fake.write_text(FAKE_PODMAN.replace("PYTHON", sys.executable))
        fake.chmod(0o755)
        connection_loader.add_directory(str(Path(podman_persist.__file__).parent / "connection_plugins"))
        play_context = PlayContext()
        play_context.remote_addr = "clinic-host"
        connection = connection_loader.get("podman_pipelined", play_context, None)
        connection.set_options(direct={"podman_persist": True, "podman_executable": str(fake)})
        marks = home / "marks"

        def run(mark):
            return connection.exec_command("/bin/sh -c 'echo %s >> %s; echo %s'" % (mark, marks, mark))

        assert run("first") == (0, b"first\n", b"")
        (home / "STOP-1").touch()  # the container restarts; its master has not noticed yet
        # The command never reached the container: it goes once more through a new master, not as a failure.
        assert run("second") == (0, b"second\n", b"")
        assert marks.read_text() == "first\nsecond\n"
        first_master, second_master = (int(pid) for pid in (home / "calls").read_text().split())
        # The replaced master exits without taking its successor's socket: the next command uses the new master.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.waitpid(first_master, os.WNOHANG) == (0, 0):
            time.sleep(0.1)
        assert run("third") == (0, b"third\n", b"")
        assert (home / "calls").read_text().split() == [str(first_master), str(second_master)]
        connection.reset()
        os.waitpid(second_master, 0)
    finally:
        shutil.rmtree(home)
