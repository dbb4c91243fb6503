#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file only documents the action plugin of the same name (plugins/action/place_files.py), which runs on the
# controller and uses ansible.builtin.find, ansible.builtin.template, ansible.builtin.copy and ansible.builtin.file
# on the host.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: place_files
short_description: Put a role's files in place, touching only those that differ
version_added: 0.1.0
description:
  - Puts several files (rendered templates, role files, given content) on the host and removes others, with the
    cost of one module run on the host when nothing differs. A P(ansible.builtin.template#module) or
    P(ansible.builtin.copy#module) task costs two module runs even then (a stat, then the file module for owner and
    mode).
  - It reads every destination in one P(ansible.builtin.find#module) run (checksum, mode, owner, group), renders
    the templates and reads the sources on the controller, and hands only a file that differs to ansible's own
    template or copy action (or the file module, to remove one). So C(validate), C(--diff) and check mode
    are those of the builtin modules, and a file that differs in owner or mode only is fixed as they fix it.
  - Files are placed in the order given; the first that fails (a validation that refuses it, say) stops the task
    and later files are left as they are.
  - The task is changed when any file changed. Which ones did is in RV(updated), so a task that places files
    of different handlers can notify each handler only for its own files (see the examples).
  - Give secrets in a task of their own with C(no_log) and C(diff) off, as for the copy module.
  - The rules (the find arguments, what counts as different) are in C(plugins/module_utils/_file_placement.py).
author:
  - oscar_emr.remote_access contributors (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads the host; files that differ go through the builtin modules' own check mode.
  diff_mode:
    support: full
    description: The diff of each file that changed, as the template and copy modules give it.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller; reads and writes files on POSIX hosts.
options:
  files:
    description:
      - The files, each a dictionary. A file to put in place has C(dest), exactly one of C(template) (a template
        under the role's C(templates/), as for the template module), C(src) (a file under the role's C(files/)) or
        C(content) (a string), and C(owner), C(group) and C(mode) (an octal string such as C("0644")), and may have
        C(validate) (a command with C(%s), as for the copy module). A template entry may have C(template_vars), a
        dictionary of variables for that template alone (as the template lookup's), such as C(item) for a template
        written once per interface.
      - A file to remove has C(dest) and C(state=absent).
      - A directory has C(dest), C(state=directory), C(owner), C(group) and C(mode); give it before the files in it
        (entries are placed in the order given).
      - Each C(dest) once; the destinations' directories must exist or come earlier in the list.
    type: list
    elements: dict
    required: true
notes:
  - Only regular files. A symbolic link at a destination is always handed to the copy module (as the copy module
    would treat it).
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Write nginx.conf (checked with nginx -t) and the unit's drop-ins, touching only what differs
  oscar_emr.remote_access.place_files:
    files:
      - template: nginx.conf.j2
        dest: /etc/nginx/nginx.conf
        owner: root
        group: root
        mode: "0644"
        validate: /usr/sbin/nginx -t -q -c %s
      - template: nginx-hardening.conf.j2
        dest: /etc/systemd/system/nginx.service.d/hardening.conf
        owner: root
        group: root
        mode: "0644"
      - dest: /etc/systemd/system/nginx.service.d/old.conf
        state: absent
  register: __nginx_files

- name: Reload nginx when nginx.conf changed (one handler per file group)
  ansible.builtin.debug:
    msg: nginx.conf changed
  changed_when: true
  when: "'/etc/nginx/nginx.conf' in __nginx_files.updated"
  notify: Reload nginx
"""

RETURN = r"""
updated:
  description: The destinations that changed (or would change, in check mode), in the order given.
  returned: success
  type: list
  elements: str
  sample: ["/etc/nginx/nginx.conf"]
results:
  description:
    - Per file, in the order given (up to the one that failed), C(dest), C(changed), C(reasons) (what differed, of
      C(absent), C(content), C(mode), C(owner), C(group), C(not a regular file) and C(not a directory); empty or
      missing when nothing did) and the builtin module's own return values when it ran.
  returned: always
  type: list
  elements: dict
  sample: [{"dest": "/etc/nginx/nginx.conf", "changed": false, "reasons": []}]
"""
