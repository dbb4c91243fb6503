"""Shared pytest setup: import the checkout as ansible_collections.oscar_emr.remote_access.

Adds <repo>/.build/collections (with the collection symlinked into it, as scripts/run_tests.py
does) and the repository root (for test helpers under tests/) to sys.path.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "oscar_emr" / "remote_access"

if not (LINK.is_symlink() and LINK.resolve() == ROOT):
    LINK.parent.mkdir(parents=True, exist_ok=True)
    # Two pytest workers may get here at once: link under a private name, then rename over (atomic).
    staging = LINK.with_name("%s.%d" % (LINK.name, os.getpid()))
    staging.unlink(missing_ok=True)
    staging.symlink_to(ROOT)
    os.replace(staging, LINK)

for entry in (str(ROOT), str(COLLECTIONS)):
    if entry not in sys.path:
        sys.path.insert(0, entry)


# The slowest files (real containers, many ansible-playbook runs) start first, so that when pytest runs on two
# workers (scripts/run_tests.py) neither is left with a long file at the end while the other idles.
SLOW_FIRST = (
    "tests/integration/test_audit_offbox.py",
    "tests/integration/test_fleet_patch.py",
    "tests/integration/test_cloudflare_playbook.py",
    "tests/integration/test_fleet_runner.py",
    "tests/integration/test_lockdown_playbook.py",
    "tests/integration/test_access_report_playbook.py",
    "tests/integration/test_cloudflare_access_policy.py",
    "tests/integration/test_cloudflare_access_application.py",
    "tests/integration/test_cloudflare_access_service_token.py",
    "tests/integration/test_cloudflare_tunnel.py",
    "tests/integration/test_cloudflare_access_identity_provider.py",
    "tests/unit/test_cloudflared_double_contract.py",
    "tests/integration/test_fleet_controller.py",
    "tests/integration/test_example_inventories.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: each file's tests keep their order
