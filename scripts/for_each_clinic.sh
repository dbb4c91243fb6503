#!/usr/bin/env bash
# Kept for existing schedules and habits: runs scripts/fleet.py, the ansible-runner fleet runner (one run per clinic
# inventory, a report after every run). CLINIC_INVENTORIES, CLINIC_PARALLEL, CLINIC_LOG_DIR, CLINIC_TIMEOUT and
# CLINIC_INCLUDE_EXAMPLES=1 work as before.
#
#   scripts/for_each_clinic.sh playbooks/site.yml [ansible-playbook options...]
set -euo pipefail
playbook="${1:?usage: $0 PLAYBOOK [ansible-playbook options...]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
python="${FLEET_PYTHON:-python3}"
[ -x "$here/../.venv/bin/python" ] && [ -z "${FLEET_PYTHON:-}" ] && python="$here/../.venv/bin/python"
exec "$python" "$here/fleet.py" "$playbook" -- "$@"
