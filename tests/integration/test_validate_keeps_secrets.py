"""The roles' first check never prints the clinic's secrets, even when it refuses them and even at -vvvv.

The cloudflared role hands its check the tunnel token and the tunnel credentials (the check must see them to refuse a
token cloudflared would refuse). The task has no ``no_log``, so that its message stays readable; this test holds that
the message and everything else Ansible prints at its most verbose, with the task arguments shown
(``DISPLAY_ARGS_TO_STDOUT``), name the variable and never its value. Real ``ansible-playbook`` runs on this machine.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A token cloudflared refuses (no = padding), and credentials with a secret that fail their own check.
BAD_TOKEN = "eyJhIjoiU0VDUkVUVE9LRU5WQUxVRTEyMyIsInQiOiJ4In0"
SECRET_IN_CREDENTIALS = "U0VDUkVUQ1JFREVOVElBTFM5ODc2"
CASES = {
    "a refused token": {"cloudflared_tunnel_mode": "token", "cloudflared_tunnel_token": BAD_TOKEN},
    "refused credentials": {"cloudflared_tunnel_mode": "local",
                            "cloudflared_tunnel_credentials": {"AccountTag": "a", "TunnelSecret": SECRET_IN_CREDENTIALS,
                                                               "TunnelID": "not-a-uuid"}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cloudflared_check_names_the_variable_and_never_prints_the_secret(case, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: Run the cloudflared role's check\n"
        "  hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Check\n"
        "      ansible.builtin.include_role:\n"
        "        name: oscar_emr.remote_access.cloudflared\n"
        "        tasks_from: validate.yml\n")
    # From a file, as a vault would hand them: -vvvv echoes the command line, which is not the role's doing.
    variables = tmp_path / "secrets.json"
    variables.write_text(json.dumps(CASES[case]))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               ANSIBLE_DISPLAY_ARGS_TO_STDOUT="1", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        ["ansible-playbook", "-vvvv", "-i", "localhost,", "-c", "local", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@%s" % variables],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    variable = "cloudflared_tunnel_token" if "token" in case else "cloudflared_tunnel_credentials"
    # The default callback folds long messages over lines: compare with the whitespace collapsed.
    assert "%s: " % variable in " ".join(output.split()), output[-3000:]
    for secret in (BAD_TOKEN, SECRET_IN_CREDENTIALS):
        assert secret not in output
