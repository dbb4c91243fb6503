# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet_controller role's rules beyond its argument spec (run by the fleet_controller_validate action,
roles/fleet_controller/tasks/validate.yml): the scheduled jobs, each problem naming the variable and the value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import is_int, show

JOB_KEYS = ("name", "playbook", "on_calendar", "randomized_delay", "clinics", "parallel", "timeout", "drift", "options")
# The units are oscar-fleet-<name>.service/.timer: a name systemd takes as it is, with no escaping.
JOB_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# A playbook of this collection, by file name: the runner runs playbooks/<name>, never a path elsewhere.
PLAYBOOK = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")
# A clinic is a directory under fleet_controller_inventories.
CLINIC = re.compile(r"^[A-Za-z0-9_.-]+$")


def jobs_problems(jobs, problems, where="fleet_controller_jobs"):
    """Record in ``problems`` every problem of the scheduled jobs (fleet_controller_jobs)."""
    seen = set()
    for _index, path, job in problems.entries(where, jobs, JOB_KEYS, "must be a list of jobs",
                                              "must be a job (a mapping with name, playbook and on_calendar)"):
        name = job.get("name")
        if not isinstance(name, str) or not JOB_NAME.match(name):
            problems.add(path + ".name", "%s is not a job name (letters, digits, - and _ only; the units are "
                         "oscar-fleet-<name>.service and .timer)" % show(name))
        elif name in seen:
            problems.add(path + ".name", "%s is listed twice: each job's units are named after it" % show(name))
        else:
            seen.add(name)
        playbook = job.get("playbook")
        if not isinstance(playbook, str) or not PLAYBOOK.match(playbook) or playbook.startswith("."):
            problems.add(path + ".playbook", "%s is not a playbook of this collection (a file name under "
                         "playbooks/, such as patch.yml)" % show(playbook))
        calendar = job.get("on_calendar")
        if not isinstance(calendar, str) or not calendar.strip() or "\n" in calendar:
            problems.add(path + ".on_calendar", "%s is not a systemd OnCalendar= expression (such as daily or "
                         "'Sat *-*-* 02:00')" % show(calendar))
        for key in ("parallel", "timeout"):
            if key in job and (not is_int(job[key]) or job[key] < 1):
                problems.add("%s.%s" % (path, key), "%s is not a whole number of at least 1" % show(job[key]))
        for position, clinic in enumerate(job.get("clinics") or []):
            if not isinstance(clinic, str) or not CLINIC.match(clinic) or clinic.startswith("."):
                problems.add("%s.clinics[%d]" % (path, position), "%s is not a clinic's directory name under "
                             "fleet_controller_inventories" % show(clinic))
    return problems
