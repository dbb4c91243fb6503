#!/usr/bin/env bash
# Create or refresh .venv with the pinned test and controller tools.
# Re-installs only when requirements or constraints change.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

stamp=".venv/.requirements-$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip>=24" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q -r requirements-dev.txt -c constraints.txt 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip check >/dev/null
rm -f .venv/.requirements-*
touch "$stamp"
echo "venv: ready ($(.venv/bin/ansible --version | head -1))"
