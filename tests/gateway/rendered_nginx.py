"""The nginx role's own configuration, rendered by Ansible for the loopback tests and the benchmark.

``render(configs)`` runs ``ansible-playbook`` on localhost with the role loaded (``when: false``: nothing is
installed or changed) and renders ``roles/nginx/templates/nginx.conf.j2`` with the role's defaults, its vars and
its filters, once per dict of role variables in ``configs``. Only variables differ from a clinic host: loopback
ports, paths under the test's directory, a test certificate. No text is added, removed or rewritten afterwards,
so what the tests prove holds for the configuration the role ships.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "nginx" / "templates" / "nginx.conf.j2"


def render(configs, workdir):
    """Return a list of nginx.conf texts, one per dict of role variables in ``configs``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tasks = [{"name": "Render nginx.conf %d" % index,
              "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.template', '%s') }}" % TEMPLATE},
              # Task variables take precedence over the role's defaults and vars, as inventory would over defaults.
              "vars": variables}
             for index, variables in enumerate(configs)]
    playbook = [{"hosts": "localhost", "gather_facts": False,
                 "roles": [{"role": "oscar_emr.remote_access.nginx", "when": False}], "tasks": tasks}]
    (workdir / "render.yml").write_text(yaml.safe_dump(playbook, sort_keys=False, width=1000))
    collections = ROOT / ".build" / "collections"
    env = dict(os.environ, PATH="%s:%s" % (Path(sys.executable).parent, os.environ["PATH"]),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_COLLECTIONS_PATH="%s:%s" % (collections, os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(workdir / "render.yml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError("rendering nginx.conf failed:\n" + proc.stdout[-4000:] + proc.stderr[-2000:])
    results = json.loads(proc.stdout)["plays"][0]["tasks"]
    # The role's own tasks are listed too, skipped; only the render tasks give a message.
    return [task["hosts"]["localhost"]["msg"] for task in results if task["task"]["name"].startswith("Render nginx")]


def loopback_variables(workdir, https_port, http_port, upstream_port, cert, key, **overrides):
    """Role variables that keep nginx on this machine's loopback and its files under ``workdir``."""
    workdir = Path(workdir)
    variables = {
        "nginx_server_names": ["emr.clinic.test"],
        "nginx_https_port": https_port,
        "nginx_http_port": http_port,
        "nginx_listen_ipv6": False,
        "nginx_tls_mode": "files",
        "nginx_tls_certificate_file": str(cert),
        "nginx_tls_key_file": str(key),
        "nginx_oscar_upstream_url": "http://127.0.0.1:%d" % upstream_port,
        "nginx_access_log": str(workdir / "access.log"),
        "__nginx_auth_cache_dir": str(workdir / "authcache"),
        # Root's workers reach the test's gateway socket and files; a clinic host runs them as www-data.
        "__nginx_user": "root" if os.geteuid() == 0 else "nobody",
        "__nginx_pid_file": str(workdir / "nginx.pid"),
        "__nginx_error_log": str(workdir / "error.log"),
        "nginx_error_log_level": "error",
    }
    variables.update(overrides)
    return variables
