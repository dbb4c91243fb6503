#!/usr/bin/env bash
# The one command that runs every test: sets up its own virtual environment and container
# test bed, then runs lint, sanity, unit and integration tests and every Molecule scenario.
# Extra arguments go to scripts/run_tests.py (for example --only lint, --scenario firewall).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/testbed.sh
exec .venv/bin/python scripts/run_tests.py "$@"
