"""ansible-doc renders every Cloudflare module; the action group and the docs agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("cloudflare_*.py"))
# Modules that call no API and so are not in the action group.
LOCAL_MODULES = ("cloudflare_access_model", "cloudflare_access_seats", "cloudflare_secrets_file")
API_MODULES = [m for m in MODULES if m not in LOCAL_MODULES]
# API modules that only read: nothing changes, so they have no diff.
READ_ONLY_API_MODULES = ("cloudflare_access_logs",)


def test_ansible_doc_renders_every_module():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
    names = ["oscar_emr.remote_access." + m for m in MODULES]
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "--json", *names], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    docs = json.loads(out.stdout)
    assert sorted(docs) == sorted(names)
    for name, doc in docs.items():
        assert doc["doc"]["short_description"] and doc["examples"] and doc["return"], name
        if name.split(".")[-1] in API_MODULES:
            options = doc["doc"]["options"]
            assert options["api_token"]["required"] is True
            assert "CLOUDFLARE_API_TOKEN" in " ".join(options["api_token"]["description"])
            assert options["api_base_url"]["default"] == "https://api.cloudflare.com/client/v4"
            membership = doc["doc"]["attributes"]["action_group"]["membership"]
            assert membership == ["oscar_emr.remote_access.cloudflare"], name
            read_only = name.split(".")[-1] in READ_ONLY_API_MODULES
            assert doc["doc"]["attributes"]["diff_mode"]["support"] == ("none" if read_only else "full"), name
            assert "api_requests" in doc["return"]


def test_the_action_group_lists_every_api_module():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert sorted(runtime["action_groups"]["cloudflare"]) == sorted(API_MODULES)
