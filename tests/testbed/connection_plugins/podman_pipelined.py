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
"""

import shlex  # noqa: E402

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
