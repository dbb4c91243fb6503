# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container test bed's connection: containers.podman.podman with Ansible's pipelining.

A clinic is reached over SSH with pipelining on (ansible.cfg): one round trip per task. The test bed's containers are
reached with `podman exec`, and containers.podman's plugin turns pipelining off (it runs `podman exec` without `-i`,
so a module sent on stdin never arrives) and mounts the container's filesystem on every task. Each task then costs
four podman calls (mount, mkdir of a temporary directory, chmod, run) instead of one. This plugin passes `-i` when
there is data for stdin, so pipelining works as over SSH, and mounts the container only when a file is copied.
Used by the demo inventory (ansible.cfg: connection_plugins); same options as containers.podman.podman.

With `podman_persist` (ansible_podman_persist: true) it also keeps one exec session per container open, as SSH's
ControlPersist keeps one connection per host: each command is a new process in the container, started by a relay in
that session (tests/testbed/podman_persist.py), instead of a new `podman exec` costing 0.2 s to over a second.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: podman_pipelined
short_description: containers.podman.podman with pipelining (the container test bed's connection)
description:
  - Runs commands in a container with C(podman exec), passing C(-i) when a pipelined module is sent on stdin.
  - Mounts the container's filesystem only when a file is copied in or out. Options as containers.podman.podman's.
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
options:
  remote_addr:
    description: The name or ID of the container.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: User (name or UID) to run commands as inside the container.
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments to pass to the podman command line.
    default: ''
    ini:
      - section: defaults
        key: podman_extra_args
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: Executable for podman command.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  podman_persist:
    description:
      - Keep one C(podman exec -i) session per container and user open and run each command as a new process through
        it (tests/testbed/podman_persist.py), as SSH's ControlPersist does; it ends after 60 s without a command.
    type: bool
    default: false
    vars:
      - name: ansible_podman_persist
    env:
      - name: ANSIBLE_PODMAN_PERSIST
"""

import fcntl  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from ansible.errors import AnsibleConnectionFailure  # noqa: E402
from ansible.module_utils.common.process import get_bin_path  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible.plugins.connection import ConnectionBase  # noqa: E402

from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection  # noqa: E402


class Connection(PodmanConnection):
    """podman exec with stdin attached for pipelined modules; the mount made on first file transfer."""

    transport = "podman_pipelined"
    has_pipelining = True

    def _connect(self):
        # No `podman mount` on every task: put_file and fetch_file mount when they need it.
        ConnectionBase._connect(self)  # pylint: disable=protected-access
        self._connected = True
        return self

    def _mount_for_copy(self):
        if self._mount_point is None:
            PodmanConnection._connect(self)  # pylint: disable=protected-access

    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        if self.get_option("podman_persist"):
            return self._persistent_exec(shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
        args = ["exec"]
        if in_data is not None:
            args.append("-i")
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._mount_for_copy()
        super(Connection, self).put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mount_for_copy()
        super(Connection, self).fetch_file(in_path, out_path)

    def reset(self):
        if self.get_option("podman_persist"):
            _persist().stop(self._control_path())

    def _exec_argv(self):
        argv = [get_bin_path(self.get_option("podman_executable"))]
        argv += shlex.split(to_native(self.get_option("podman_extra_args"), errors="surrogate_or_strict"))
        argv += ["exec", "-i"] + (["--user", self.user] if self.user else []) + [self._container_id]
        return argv

    def _control_path(self):
        # As SSH's control sockets: under ~/.ansible/cp, one per container, user and podman command line.
        directory = os.path.expanduser("~/.ansible/cp")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        key = hashlib.sha256(json.dumps(self._exec_argv()).encode()).hexdigest()[:20]
        return os.path.join(directory, "podman-" + key)

    def _persistent_exec(self, argv, in_data):
        # NoMaster: none listens, or (Stale) its container stopped before receiving the command, as when the container
        # was restarted or re-created under the same name: the command goes once more, through a new master.
        persist, path = _persist(), self._control_path()
        try:
            try:
                return persist.request(path, argv, in_data)
            except persist.NoMaster:
                self._start_master(path)
                return persist.request(path, argv, in_data)
        except (persist.NoMaster, persist.Lost) as exc:
            raise AnsibleConnectionFailure("podman_persist: %s: %s" % (self._container_id, exc)) from exc

    def _start_master(self, path):
        # One master per control path: a worker that finds none takes the lock, looks again, and starts it.
        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _persist().usable(path):
                return
            try:  # a master that was killed left its socket behind, or one whose container stopped is on its way out
                os.unlink(path)
            except FileNotFoundError:
                pass
            master = subprocess.Popen(  # pylint: disable=consider-using-with  # it outlives this task, as SSH's master
                [sys.executable, _PERSIST_FILE, path, *self._exec_argv()], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            ready = master.stdout.readline() == b"ready\n"
            master.stdout.close()
            if not ready:
                master.wait()
                raise AnsibleConnectionFailure("podman_persist: no exec session in %s (is it running?)"
                                               % self._container_id)


_PERSIST_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "podman_persist.py")


def _persist():
    """tests/testbed/podman_persist.py, loaded from its file (it is not on sys.path)."""
    module = sys.modules.get("oscar_testbed_podman_persist")
    if module is None:
        spec = importlib.util.spec_from_file_location("oscar_testbed_podman_persist", _PERSIST_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["oscar_testbed_podman_persist"] = module
    return module
