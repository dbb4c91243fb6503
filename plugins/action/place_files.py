# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Put a role's files in place, touching only what differs (documentation: plugins/modules/place_files.py; rules:
plugins/module_utils/_file_placement.py).

One ansible.builtin.find reads every destination (checksum, mode, owner, group); templates are rendered and sources
read on the controller; only a file that differs goes through ansible's own template or copy action (or the file
module, to remove one), so validate=, --diff and check mode are the builtin's own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._file_placement import (
    PlacementError,
    check_entry,
    checksum,
    differences,
    find_arguments,
    found_by_path,
    paths_to_read,
)


class _CompareFirst(object):
    """Stands in for the copy action the builtin template action hands its rendered file to: when the rendered file
    is already on the host as wanted, the copy (a stat and a file module run) is left out; otherwise the real copy
    action runs."""

    def __init__(self, copy_action, have, entry):
        self.copy_action = copy_action
        self.have = have
        self.entry = entry
        self.reasons = None

    def run(self, tmp=None, task_vars=None):
        with open(self.copy_action._task.args["src"], "rb") as rendered:
            wanted = checksum(rendered.read())
        self.reasons = differences(self.have, self.entry, wanted)
        if not self.reasons:
            return {"changed": False, "dest": self.entry["dest"], "checksum": wanted}
        return self.copy_action.run(tmp=tmp, task_vars=task_vars)


class _ActionLoaderProxy(object):
    def __init__(self, action_loader, make_stand_in):
        self._action_loader = action_loader
        self._make_stand_in = make_stand_in

    def get(self, name, *args, **kwargs):
        action = self._action_loader.get(name, *args, **kwargs)
        if name in ("ansible.legacy.copy", "ansible.builtin.copy", "copy"):
            return self._make_stand_in(action)
        return action

    def __getattr__(self, name):
        return getattr(self._action_loader, name)


class _SharedLoaderProxy(object):
    def __init__(self, shared_loader_obj, make_stand_in):
        self._shared_loader_obj = shared_loader_obj
        self.action_loader = _ActionLoaderProxy(shared_loader_obj.action_loader, make_stand_in)

    def __getattr__(self, name):
        return getattr(self._shared_loader_obj, name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = {"files": {"type": "list", "elements": "raw", "required": True}}

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            _spec, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
            entries = [check_entry(entry, index) for index, entry in enumerate(args["files"])]
            dests = [entry["dest"] for entry in entries]
            repeated = sorted(set(dest for dest in dests if dests.count(dest) > 1))
            if repeated:
                raise PlacementError("files: each dest once (given more than once: %s)" % ", ".join(repeated))
        except (PlacementError, AnsibleError) as error:
            result.update(failed=True, msg=str(error))
            return result

        try:
            return self._place(entries, task_vars, result)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _place(self, entries, task_vars, result):
        found = {}
        if entries:
            read = self._execute_module(module_name="ansible.legacy.find",
                                        module_args=find_arguments(paths_to_read(entries)),
                                        task_vars=task_vars)
            if read.get("failed"):
                result.update(failed=True, msg="Could not read the files on the host: %s" % read.get("msg"))
                return result
            found = found_by_path(read)

        results, diffs = [], []
        for entry in entries:
            have = found.get(entry["dest"])
            try:
                placed = self._place_one(entry, have, found.get(entry.get("value")), task_vars)
            except AnsibleError as error:
                placed = {"failed": True, "msg": str(error)}
            placed.pop("invocation", None)
            diff = placed.pop("diff", None)
            if placed.get("changed") and diff:
                diffs.extend(diff if isinstance(diff, list) else [diff])
            placed["dest"] = entry["dest"]
            results.append(placed)
            if placed.get("failed"):
                result.update(failed=True, msg="%s: %s" % (entry["dest"], placed.get("msg", "failed")))
                break

        changed = [item["dest"] for item in results if item.get("changed")]
        result.update(changed=bool(changed), updated=changed, results=results)
        if diffs and self._task.diff:
            result["diff"] = diffs
        return result

    def _place_one(self, entry, have, have_source, task_vars):
        if entry["state"] == "absent":
            if have is None:
                return {"changed": False, "state": "absent"}
            return self._execute_module(module_name="ansible.legacy.file",
                                        module_args={"path": entry["dest"], "state": "absent"}, task_vars=task_vars)

        module_args = {"dest": entry["dest"], "owner": entry["owner"], "group": entry["group"],
                       "mode": "0%03o" % entry["mode"]}
        if entry["state"] == "directory":
            reasons = differences(have, entry, None)
            if not reasons:
                return {"changed": False, "reasons": []}
            module_args.update(path=module_args.pop("dest"), state="directory")
            placed = self._execute_module(module_name="ansible.legacy.file", module_args=module_args,
                                          task_vars=task_vars)
            placed["reasons"] = reasons
            return placed

        if entry["validate"]:
            module_args["validate"] = entry["validate"]

        if entry["source"] == "template":
            module_args["src"] = entry["value"]
            stand_ins = []

            def compare_first(copy_action):
                stand_ins.append(_CompareFirst(copy_action, have, entry))
                return stand_ins[-1]

            template_vars = dict(task_vars, **entry["template_vars"])
            template_vars["ansible_search_path"] = list(task_vars.get("ansible_search_path") or [])
            placed = self._builtin_action("ansible.legacy.template", module_args,
                                          _SharedLoaderProxy(self._shared_loader_obj, compare_first)).run(
                task_vars=template_vars)
            placed["reasons"] = stand_ins[-1].reasons if stand_ins else None
            return placed

        if entry["remote_src"]:
            # The source was read on the host with the destinations; one that is not a regular file (a link, say)
            # has no checksum there and goes to the copy module, which follows it or says what is wrong.
            wanted = (have_source or {}).get("checksum") if (have_source or {}).get("isreg") else None
            module_args["remote_src"] = True
        elif entry["source"] == "content":
            wanted = checksum(entry["value"].encode("utf-8"))
        else:
            source = self._loader.get_real_file(self._find_needle("files", entry["value"]), decrypt=True)
            with open(source, "rb") as handle:
                wanted = checksum(handle.read())
        reasons = differences(have, entry, wanted) if wanted else ["source not read"]
        if not reasons:
            return {"changed": False, "checksum": wanted, "reasons": []}
        module_args[entry["source"]] = entry["value"]
        placed = self._builtin_action("ansible.legacy.copy", module_args, self._shared_loader_obj).run(
            task_vars=task_vars)
        placed["reasons"] = reasons
        return placed

    def _builtin_action(self, name, module_args, shared_loader_obj):
        """ansible's own action ``name`` on a copy of this task (its check mode, diff, no_log and role search paths)
        with ``module_args``."""
        task = self._task.copy()
        task.args = module_args
        action = self._shared_loader_obj.action_loader.get(name, task=task, connection=self._connection,
                                                           play_context=self._play_context, loader=self._loader,
                                                           templar=self._templar, shared_loader_obj=shared_loader_obj)
        # ansible-core 2.19 ignores the shared_loader_obj argument (every action gets the plugin loaders): set it.
        action._shared_loader_obj = shared_loader_obj
        return action
