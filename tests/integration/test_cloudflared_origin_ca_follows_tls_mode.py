"""cloudflared_origin_ca_pool's default follows the front door's nginx_tls_mode, templated by Ansible itself.

On a front door with the internal CA the connector trusts that CA; with acme (a public certificate) it uses the
system's CAs (an empty caPool); a CA given as PEM text, or a connector that is not the front door, gets no pool.
"""

import subprocess

import pytest
import yaml

from tests.fake_cloudflare.harness import ansible_bin, ansible_env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("groups", "extra", "expected"), [
    (["front_door", "cloudflared_connectors"], {}, "/etc/oscar-remote-access/ca/ca.crt"),
    (["front_door", "cloudflared_connectors"], {"nginx_internal_ca_dir": "/srv/ca"}, "/srv/ca/ca.crt"),
    (["front_door", "cloudflared_connectors"], {"nginx_tls_mode": "acme"}, ""),
    (["front_door", "cloudflared_connectors"], {"cloudflared_origin_ca_certificate": "PEM"}, ""),
    (["cloudflared_connectors"], {}, ""),
])
def test_the_default_ca_pool_follows_the_mode(tmp_path, groups, extra, expected):
    # The settings as an inventory gives them (host variables).
    inventory = {"all": {"hosts": {"connector": {"ansible_connection": "local", **extra}},
                         "children": {g: {"hosts": {"connector": None}} for g in groups}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    # The role loaded but not run (when: false): its defaults are in scope, below the inventory, as in a real run.
    play = [{"hosts": "connector", "gather_facts": False,
             "roles": [{"role": "oscar_emr.remote_access.cloudflared", "when": False}],
             "post_tasks": [{"ansible.builtin.copy": {"content": "{{ cloudflared_origin_ca_pool }}",
                                                      "dest": str(tmp_path / "pool")}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    cmd = [ansible_bin("ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    proc = subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "pool").read_text() == expected
