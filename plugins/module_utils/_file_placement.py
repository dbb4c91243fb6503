# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules of the place_files action (plugins/action/place_files.py): which files to read on the host in one step,
and which of them differ from what the role wants there.

PRIVATE to this collection: it may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

SOURCES = ("template", "src", "content")


class PlacementError(ValueError):
    """A file entry the action cannot place; the message names the entry and the value."""


def parse_mode(mode, where):
    """The permission bits of ``mode``, an octal string such as ``"0644"``. A number is refused: YAML reads an
    unquoted 0644 as 420, and the two cannot be told apart afterwards; a symbolic mode cannot be compared."""
    if isinstance(mode, str) and re.match(r"^0?[0-7]{3,4}$", mode):
        return int(mode, 8)
    raise PlacementError("%s: mode %r must be an octal string such as '0644'" % (where, mode))


def check_entry(entry, index):
    """The entry normalised (``state``, ``mode`` as a number, ``source`` naming which of template/src/content), or
    PlacementError naming the entry by its place in ``files`` and the bad value."""
    where = "files[%d]" % index
    if not isinstance(entry, dict):
        raise PlacementError("%s: %r must be a dictionary" % (where, entry))
    unknown = sorted(set(entry) - set(SOURCES) - {"dest", "owner", "group", "mode", "validate", "state", "remote_src",
                                                  "template_vars"})
    if unknown:
        raise PlacementError("%s: unknown keys %s" % (where, ", ".join(unknown)))
    dest = entry.get("dest")
    if not isinstance(dest, str) or not os.path.isabs(dest) or dest.endswith("/"):
        raise PlacementError("%s: dest %r must be the absolute path of a file" % (where, dest))
    where = "files[%d] (%s)" % (index, dest)
    state = entry.get("state", "present")
    if state not in ("present", "absent", "directory"):
        raise PlacementError("%s: state %r must be present, absent or directory" % (where, state))
    checked = {"dest": os.path.normpath(dest), "state": state}
    if state == "absent":
        extra = sorted(set(entry) - {"dest", "state"})
        if extra:
            raise PlacementError("%s: a file to remove takes no %s" % (where, ", ".join(extra)))
        return checked
    if state == "directory":
        extra = sorted(set(entry) - {"dest", "state", "owner", "group", "mode"})
        if extra:
            raise PlacementError("%s: a directory takes no %s" % (where, ", ".join(extra)))
        _check_accounts(entry, where)
        checked.update(owner=entry["owner"], group=entry["group"], mode=parse_mode(entry.get("mode"), where))
        return checked
    sources = [name for name in SOURCES if entry.get(name) is not None]
    if len(sources) != 1:
        raise PlacementError("%s: give exactly one of template, src and content (given: %s)"
                             % (where, ", ".join(sources) or "none"))
    if sources[0] == "content" and not isinstance(entry["content"], str):
        raise PlacementError("%s: content must be a string" % where)
    template_vars = entry.get("template_vars")
    if template_vars is not None and (sources[0] != "template" or not isinstance(template_vars, dict)):
        raise PlacementError("%s: template_vars %r must be a dictionary, and only with template"
                             % (where, template_vars))
    remote_src = entry.get("remote_src", False)
    if remote_src not in (True, False) or (remote_src and sources[0] != "src"):
        raise PlacementError("%s: remote_src %r must be true or false, and true only with src" % (where, remote_src))
    if remote_src and not os.path.isabs(entry["src"]):
        raise PlacementError("%s: src %r must be an absolute path on the host (remote_src)" % (where, entry["src"]))
    _check_accounts(entry, where)
    value = os.path.normpath(entry["src"]) if remote_src else entry[sources[0]]
    checked.update(source=sources[0], value=value, owner=entry["owner"], group=entry["group"],
                   mode=parse_mode(entry.get("mode"), where), validate=entry.get("validate"), remote_src=remote_src,
                   template_vars=template_vars or {})
    return checked


def _check_accounts(entry, where):
    for name in ("owner", "group"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise PlacementError("%s: %s %r must be a user or group name (or number, as a string)"
                                 % (where, name, entry.get(name)))


def find_arguments(paths):
    """ansible.builtin.find's arguments that read every one of ``paths`` (and perhaps a few more files of the same
    names in the same directories, which the caller ignores) in one module run: checksum, mode, owner, group."""
    directories = sorted(set(os.path.dirname(path) for path in paths))
    patterns = sorted(set("^%s$" % re.escape(os.path.basename(path)) for path in paths))
    return {"paths": directories, "patterns": patterns, "use_regex": True, "file_type": "any", "hidden": True,
            "recurse": False, "follow": False, "get_checksum": True}


def found_by_path(find_result):
    """ansible.builtin.find's files as {path: its entry}."""
    return dict((item["path"], item) for item in find_result.get("files") or [])


def checksum(data):
    """The checksum ansible's copy and stat compare (SHA-1 of the bytes)."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 (not for security: the checksum ansible compares)


def _same_account(wanted, name, number):
    return str(number) == wanted if wanted.isdigit() else name == wanted


def paths_to_read(entries):
    """Every destination, and the source on the host of each remote_src entry."""
    return [entry["dest"] for entry in entries] + [entry["value"] for entry in entries if entry.get("remote_src")]


def differences(have, entry, wanted_checksum):
    """What differs between the file found on the host (``have``: its find entry, None when absent) and the wanted
    ``entry`` whose content has ``wanted_checksum`` (``checksum``; None for a directory): a list of "absent", "not a
    regular file", "not a directory", "content", "mode", "owner", "group"; empty when it is as wanted."""
    if have is None:
        return ["absent"]
    found = []
    if entry["state"] == "directory":
        if not have.get("isdir"):
            return ["not a directory"]
    elif not have.get("isreg"):
        return ["not a regular file"]
    elif have.get("checksum") != wanted_checksum:
        found.append("content")
    if int(str(have.get("mode")), 8) != entry["mode"]:
        found.append("mode")
    if not _same_account(entry["owner"], have.get("pw_name"), have.get("uid")):
        found.append("owner")
    if not _same_account(entry["group"], have.get("gr_name"), have.get("gid")):
        found.append("group")
    return found


def file_entries(names, src_dir, dest_dir, owner, group, mode):
    """place_files entries for files of the same owner, group and mode: each name's ``src_dir/name`` to
    ``dest_dir/name``."""
    return [{"src": "%s/%s" % (src_dir.rstrip("/"), name), "dest": "%s/%s" % (dest_dir.rstrip("/"), name),
             "owner": owner, "group": group, "mode": mode} for name in names]
