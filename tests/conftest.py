"""Shared pytest setup: import the checkout as ansible_collections.oscar_emr.remote_access.

Adds <repo>/.build/collections (with the collection symlinked into it, as scripts/run_tests.py
does) and the repository root (for test helpers under tests/) to sys.path.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "oscar_emr" / "remote_access"

if not (LINK.is_symlink() and LINK.resolve() == ROOT):
    LINK.parent.mkdir(parents=True, exist_ok=True)
    if LINK.is_symlink() or LINK.exists():
        LINK.unlink()
    LINK.symlink_to(ROOT)

for entry in (str(ROOT), str(COLLECTIONS)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
