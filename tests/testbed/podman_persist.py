# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container test bed's ControlPersist: one `podman exec -i` per container kept open, each command a new process.

A clinic is reached over SSH, and Ansible's SSH settings keep one connection open per host (ControlMaster,
ControlPersist=60s): a task after the first costs a new session on that connection, milliseconds. `podman exec`
costs a new exec session every time (conmon, the OCI runtime, the container's namespaces, cgroup and seccomp set up
again): 0.2 s on a quiet 2-core machine, over a second when it is loaded, and a no-op site.yml makes a few hundred of
them. The podman_pipelined connection (with `podman_persist`) sends each command to a master instead:

- the master (this file run as a script, on the controller, one per container and user) holds one `podman exec -i`
  running RELAY (below) with the container's python3, and listens on a Unix socket (mode 0600, in ~/.ansible/cp
  like SSH's control sockets);
- the relay starts each command as its own process, as `podman exec` would (argv without a shell, the exec session's
  environment and working directory, stdin the module when pipelined, else /dev/null), so it runs inside the
  container's namespaces, cgroup, capabilities and seccomp profile, and answers with its exit status and output;
- the master exits after IDLE_SECONDS without a request (as ControlPersist=60s), when the container stops (the exec
  session ends), or when asked (the connection's reset).

A container stopped, restarted or re-created under the same name ends the master's exec session, but `podman
restart` can return before the master has seen it end. The relay acknowledges each request when it reads it, so the
master knows which commands the container never received: those are answered `stale` (the caller starts a new
master and sends the command again), and only a command that started when its container stopped is `lost` (a
connection failure, as a dropped SSH connection is). A replaced master never removes its successor's socket.

Standard library only: the master runs under the controller's Python, the relay under the container's.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time

IDLE_SECONDS = 60

# Runs in the container (python3 -c RELAY). One request a line on stdin, one answer a line on stdout, each request in
# its own thread (a host's worker and a task delegated to it can use the container at once). First line out: hello;
# then an acknowledgement of each request as it is read, before it starts.
RELAY = r"""
import base64, json, subprocess, sys, threading
lock = threading.Lock()
out = sys.stdout.buffer
def send(message):
    with lock:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()
def run(request):
    data = request.get("stdin")
    try:
        proc = subprocess.run(request["argv"], input=None if data is None else base64.b64decode(data),
                              stdin=subprocess.DEVNULL if data is None else None, capture_output=True)
        answer = {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr}
    except OSError as exc:
        answer = {"rc": 127, "out": b"", "err": ("relay: %s\n" % exc).encode()}
    send({"id": request["id"], "rc": answer["rc"], "out": base64.b64encode(answer["out"]).decode(),
          "err": base64.b64encode(answer["err"]).decode()})
send({"hello": True})
for line in sys.stdin.buffer:
    request = json.loads(line)
    send({"ack": request["id"]})
    threading.Thread(target=run, args=(request,), daemon=True).start()
"""


def _recv_all(conn):
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class NoMaster(Exception):
    """No master listens on the control path (none started yet, or it exited): start one."""


class Stale(NoMaster):
    """The master's exec session had ended before the container received the command: start a new master."""


class Lost(Exception):
    """The master lost the container (its exec session ended) after the command started, before its answer."""


def request(path, argv, in_data):
    """Run argv in the container through the master listening on path: (rc, stdout, stderr). Raises NoMaster, Lost."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            conn.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoMaster(str(exc)) from exc
        payload = {"argv": argv, "stdin": None if in_data is None else base64.b64encode(in_data).decode()}
        conn.sendall(json.dumps(payload).encode())
        conn.shutdown(socket.SHUT_WR)
        answer = _recv_all(conn)
    finally:
        conn.close()
    if not answer:
        raise Lost("the podman_persist master closed the connection without an answer")
    answer = json.loads(answer)
    if "stale" in answer:
        raise Stale(answer["stale"])
    if "lost" in answer:
        raise Lost(answer["lost"])
    return answer["rc"], base64.b64decode(answer["out"]), base64.b64decode(answer["err"])


def usable(path):
    """Whether a master listens on path and still has its container's exec session."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        conn.sendall(json.dumps({"ping": True}).encode())
        conn.shutdown(socket.SHUT_WR)
        return json.loads(_recv_all(conn) or b"{}").get("ok", False)
    except (OSError, ValueError):
        return False
    finally:
        conn.close()


def stop(path):
    """Ask the master on path to exit (the connection's reset); nothing when none listens."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        conn.sendall(json.dumps({"stop": True}).encode())
        conn.shutdown(socket.SHUT_WR)
        _recv_all(conn)
    except OSError:
        pass
    finally:
        conn.close()


class _Pending:
    """A command handed to the relay: acknowledged once the container has read it; done when answered or lost."""

    def __init__(self):
        self.done = threading.Event()
        self.acknowledged = False
        self.answer = None


class Master:
    def __init__(self, path, exec_argv):
        self.path = path
        self.inode = None
        self.relay = subprocess.Popen([*exec_argv, "python3", "-c", RELAY], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.waiting = {}
        self.next_id = 0
        self.lost = None
        self.busy = 0
        self.last = time.monotonic()
        self.done = threading.Event()

    def started(self):
        """Whether the relay runs in the container (its hello arrived); False when `podman exec` failed."""
        line = self.relay.stdout.readline()
        try:
            return json.loads(line).get("hello") is True
        except ValueError:
            return False

    def read_answers(self):
        for line in self.relay.stdout:
            answer = json.loads(line)
            with self.lock:
                if "ack" in answer:
                    self.waiting[answer["ack"]].acknowledged = True
                    continue
                pending = self.waiting.pop(answer.pop("id"))
            pending.answer = answer
            pending.done.set()
        with self.lock:
            self.lost = "the container's exec session ended (exit %s): the container stopped" % self.relay.wait()
            for pending in self.waiting.values():
                pending.done.set()
            self.waiting.clear()
        self.done.set()

    def send(self, message):
        """Hand message to the relay: its _Pending, or None when the exec session has ended."""
        pending = _Pending()
        with self.lock:
            if self.lost is not None:
                return None
            self.next_id += 1
            self.waiting[self.next_id] = pending
            message["id"] = self.next_id
            try:
                self.relay.stdin.write(json.dumps(message).encode() + b"\n")
                self.relay.stdin.flush()
            except OSError:
                del self.waiting[self.next_id]
                return None
        return pending

    def serve_client(self, conn):
        try:
            message = json.loads(_recv_all(conn))
            if message.get("stop"):
                self.done.set()
                conn.sendall(b"{}")
                return
            if message.get("ping"):
                conn.sendall(json.dumps({"ok": True} if self.lost is None else {"stale": self.lost}).encode())
                return
            pending = self.send(message)
            if pending is not None:
                pending.done.wait()
            if pending is not None and pending.answer is not None:
                answer = pending.answer
            elif pending is not None and pending.acknowledged:
                answer = {"lost": self.lost}
            else:  # the container never read it: safe to send again through a new session
                answer = {"stale": self.lost or "the container's exec session ended"}
            conn.sendall(json.dumps(answer).encode())
        except (OSError, ValueError):
            pass
        finally:
            conn.close()
            with self.lock:
                self.busy -= 1
                self.last = time.monotonic()

    def unlink(self):
        """Remove the control socket, unless a new master (started after this one lost its session) has taken it."""
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass

    def serve(self, listener):
        threading.Thread(target=self.read_answers, daemon=True).start()
        listener.settimeout(1)
        while not self.done.is_set():
            try:
                conn, _address = listener.accept()
            except socket.timeout:
                with self.lock:
                    if not self.busy and time.monotonic() - self.last > IDLE_SECONDS:
                        break
                continue
            conn.settimeout(None)
            with self.lock:
                self.busy += 1
            threading.Thread(target=self.serve_client, args=(conn,), daemon=True).start()
        # No new clients from here on; those already queued on the socket are still served (they connected before
        # the unlink), then the relay ends when its stdin closes.
        self.unlink()
        listener.setblocking(False)
        while True:
            try:
                conn, _address = listener.accept()
            except (BlockingIOError, socket.timeout):
                break
            conn.setblocking(True)
            with self.lock:
                self.busy += 1
            threading.Thread(target=self.serve_client, args=(conn,), daemon=True).start()
        listener.close()
        while True:
            with self.lock:
                if not self.busy:
                    break
            time.sleep(0.05)
        self.relay.stdin.close()
        try:
            self.relay.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.relay.kill()


def main(argv):
    """podman_persist.py CONTROL_PATH PODMAN_ARGV...: listen on CONTROL_PATH, relay to `PODMAN_ARGV python3 -c RELAY`.
    Prints "ready" on stdout once the relay runs in the container and the socket listens, then closes stdout (the
    connection waits for that line); exits without it when the exec session does not start (no such container)."""
    path, exec_argv = argv[0], argv[1:]
    os.umask(0o077)
    master = Master(path, exec_argv)
    if not master.started():
        master.relay.kill()
        master.relay.wait()
        sys.exit(1)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener.bind(path)
    master.inode = os.stat(path).st_ino
    listener.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.close(1)
    master.serve(listener)


if __name__ == "__main__":
    main(sys.argv[1:])
