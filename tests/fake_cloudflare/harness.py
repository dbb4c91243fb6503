"""Helpers for tests that run this collection's modules and playbooks against the fake.

Modules run for real, through ``ansible-playbook`` in a subprocess, with the fake's address and
credentials in the environment (the modules' env fallbacks), exactly as a user would run them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import yaml

from .server import FakeCloudflare

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / ".build" / "collections"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@contextlib.contextmanager
def running_fake(**kwargs):
    """A started FakeCloudflare; on exit, fails the test if any request broke the contract."""
    fake = FakeCloudflare(**kwargs).start()
    if fake.openapi is None:
        warnings.warn("fake_cloudflare: %s" % fake.openapi_skip_reason, stacklevel=2)
    if fake.sdk is None:
        warnings.warn("fake_cloudflare: %s" % fake.sdk_skip_reason, stacklevel=2)
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.violations, "requests broke the API contract:\n" + "\n".join(fake.violations)


def ansible_env(fake=None, extra=None):
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    for key in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_BASE_URL",
                "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        env.pop(key, None)
    if fake is not None:
        env.update(fake.env())
    env.update(extra or {})
    return env


def ansible_bin(name):
    return str(Path(sys.executable).parent / name)


def run_tasks(fake, tmp_path, calls, check=False, diff=True, no_log=False, env=None):
    """Run modules in one playbook, one task each; return their registered results (dicts), in order.

    ``calls`` is a list of ``(module, args)``. Every task ignores errors, so a failing call returns its
    result (``failed``, ``msg``) and the next one still runs.
    """
    run = len(list(tmp_path.glob("run-*")))
    folder = tmp_path / ("run-%d" % run)
    folder.mkdir()
    tasks = []
    for index, (module, args) in enumerate(calls):
        out = folder / ("result-%d.json" % index)
        tasks.append({
            "name": "call %d" % index,
            module if "." in module else "oscar_emr.remote_access." + module: args,
            "register": "result_%d" % index,
            "ignore_errors": True,
            "no_log": no_log,
        })
        tasks.append({
            "name": "save the result of call %d" % index,
            "ansible.builtin.copy": {"content": "{{ result_%d | to_json }}" % index, "dest": str(out), "mode": "0600"},
            "check_mode": False,
            "diff": False,
            "no_log": True,
        })
    play = [{"name": "run", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    book = folder / "play.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = [ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", str(book)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, env=ansible_env(fake, env), capture_output=True, text=True, timeout=300, check=False)
    results = []
    for index in range(len(calls)):
        out = folder / ("result-%d.json" % index)
        if not out.exists():
            raise AssertionError("ansible-playbook produced no result for call %d (rc %d)\n%s\n%s"
                                 % (index, proc.returncode, proc.stdout, proc.stderr))
        result = json.loads(out.read_text())
        result["_stdout"] = proc.stdout
        results.append(result)
    return results


def run_module(fake, tmp_path, module, args, **kwargs):
    """Run one module once; return its registered result with the fake's request counts for that run."""
    if fake is not None:
        fake.reset_requests()
    result = run_tasks(fake, tmp_path, [(module, args)], **kwargs)[0]
    if fake is not None:
        result["_reads"] = fake.reads
        result["_writes"] = fake.writes
        result["_calls"] = ["%s %s" % (r.method, r.path) for r in fake.calls()]
    return result


def run_playbook(playbook, inventory, fake=None, args=(), env=None, timeout=600):
    cmd = [ansible_bin("ansible-playbook"), "-i", str(inventory), str(playbook), *args]
    proc = subprocess.run(cmd, env=ansible_env(fake, env), capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO_ROOT), check=False)
    recap = {host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
             for host, ok, changed, unreachable, failed in RECAP.findall(proc.stdout)}
    return proc, recap
