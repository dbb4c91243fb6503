# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one shape of every role's check: ``tasks/validate.yml`` runs the action plugin ``<role>_validate``, a
``RoleValidateAction`` that refuses misspelt variables and runs the role's rules (``module_utils/_<role>.py``),
failing with every problem at once before anything changes on the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import (
    Problems,
    parse_boolean_spelling,
    parse_hostname,
)

# Clinic-wide variables the roles' own variables default to (clinic_oscar_hostname feeds nginx_server_names,
# cloudflared_oscar_hostname, ...): checked by every role's check under their own name, so that a mistake there is not
# reported as one in a variable the user never set.
CLINIC_VARIABLES = {"clinic_oscar_hostname": parse_hostname}
# Connection plugins (last part of their name) whose sessions have $SSH_CONNECTION on the host.
SSH_CONNECTIONS = ("ssh", "paramiko", "paramiko_ssh", "libssh")
COLLECTION_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
VARIABLE_NAMES_ARG = {"type": "list", "elements": "str", "default": []}


def _set_fact_names(tasks):
    """Names the role's own tasks set with set_fact (its published facts) or register (the patch role's
    patch_health, which its own play reads), found in nested blocks too."""
    names = set()
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        if isinstance(task.get("register"), str):
            names.add(task["register"])
        for key in ("set_fact", "ansible.builtin.set_fact"):
            if isinstance(task.get(key), dict):
                names.update(k for k in task[key] if k != "cacheable")
        for key in ("block", "rescue", "always"):
            names.update(_set_fact_names(task.get(key)))
    return names


def role_boolean_names(role, root=COLLECTION_ROOT):
    """The role's top-level variables of type bool in meta/argument_specs.yml."""
    with open(os.path.join(root, "roles", role, "meta", "argument_specs.yml")) as handle:
        specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    return sorted(set(name for entry_point in specs.values() for name, spec in
                      ((entry_point or {}).get("options") or {}).items() if (spec or {}).get("type") == "bool"))


def boolean_problems(role, values, problems):
    """Record each boolean variable of ``role`` in ``values`` (name -> value) that is not true or false as the roles
    read it (module_utils/_problems.py, BOOLEAN_SPELLINGS)."""
    for name in role_boolean_names(role):
        if name in values:
            problems.check(parse_boolean_spelling, name, values[name])
    return problems


def role_variable_names(role, root=COLLECTION_ROOT):
    """Every variable the role knows: the options of all its entry points in meta/argument_specs.yml (which a unit
    test holds equal to defaults/main.yml) and the facts and results its own tasks set (set_fact, register)."""
    role_dir = os.path.join(root, "roles", role)
    with open(os.path.join(role_dir, "meta", "argument_specs.yml")) as handle:
        specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    names = set()
    for entry_point in specs.values():
        names.update((entry_point or {}).get("options") or {})
    for path in sorted(glob.glob(os.path.join(role_dir, "tasks", "*.yml"))):
        with open(path) as handle:
            names.update(n for n in _set_fact_names(yaml.safe_load(handle)) if n.startswith(role + "_"))
    return names


class RoleValidateAction(ActionBase):
    """Subclasses set ROLE and ARGUMENT_SPEC and implement ``check(args, problems, result)``.

    ``variable_names`` (every variable named ``<role>_...``, as ``tasks/validate.yml`` finds them with the
    ``ansible.builtin.varnames`` lookup) is checked against the role's known names first; then ``check`` records
    its problems and may add to ``result``."""

    TRANSFERS_FILES = False
    ROLE = None
    ARGUMENT_SPEC = {}
    SUMMARY = "Invalid %s settings (nothing was changed on the host): "

    def __init__(self, *args, **kwargs):
        super(RoleValidateAction, self).__init__(*args, **kwargs)
        if self.ARGUMENT_SPEC is not None:
            self._VALID_ARGS = frozenset(self.ARGUMENT_SPEC) | frozenset(("variable_names",))

    def check(self, args, problems, result):
        raise NotImplementedError

    def connection_name(self):
        """The connection plugin's short name (ssh, local, podman, ...)."""
        name = getattr(self._connection, "_load_name", None) or getattr(self._play_context, "connection", None) or ""
        return to_text(name).rsplit(".", 1)[-1]

    def ssh_connection(self):
        """$SSH_CONNECTION as the host sees this session (a read-only probe without become), or None when the
        connection is not SSH. Roles whose change could cut Ansible's own SSH path check against it."""
        if self.connection_name() not in SSH_CONNECTIONS:
            return None
        probe = self._low_level_execute_command("printenv SSH_CONNECTION", sudoable=False)
        return to_text(probe.get("stdout", "")).strip()

    def run(self, tmp=None, task_vars=None):
        result = super(RoleValidateAction, self).run(tmp, task_vars)
        del tmp
        self.task_vars = task_vars or {}
        result["changed"] = False
        problems = Problems()
        # First: the arguments below carry these variables (or values derived from them), and their own checks would
        # name the argument or the derived variable instead.
        booleans = [name for name in role_boolean_names(self.ROLE) if name in self.task_vars]
        boolean_problems(self.ROLE, dict((name, self._templar.template(self.task_vars[name])) for name in booleans),
                         problems)
        for name, parse in sorted(CLINIC_VARIABLES.items()):
            if name in self.task_vars:
                problems.check(parse, name, self._templar.template(self.task_vars[name]))
        if problems:
            return self.finish(result, problems)
        if self.ARGUMENT_SPEC is None:  # the arguments are a module's, which checks them itself
            checked = ArgumentSpecValidator({"variable_names": VARIABLE_NAMES_ARG}).validate(
                {"variable_names": self._task.args.get("variable_names", [])})
            if checked.error_messages:
                raise AnsibleActionFail("variable_names: %s" % "; ".join(checked.error_messages))
            args = checked.validated_parameters
        else:
            spec = dict(self.ARGUMENT_SPEC, variable_names=VARIABLE_NAMES_ARG)
            args = self.validate_argument_spec(argument_spec=spec)[1]
        problems.unknown_variables(args["variable_names"], role_variable_names(self.ROLE), self.ROLE + "_", self.ROLE)
        self.check(args, problems, result)
        return self.finish(result, problems)

    def finish(self, result, problems):
        if problems.warnings:
            result.setdefault("warnings", []).extend(problems.warnings)
        if problems:
            result["failed"] = True
            result["errors"] = problems.errors
            result["msg"] = (self.SUMMARY % self.ROLE) + "; ".join(problems.errors)
        return result
