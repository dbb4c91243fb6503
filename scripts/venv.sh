#!/usr/bin/env bash
# Create or refresh .venv with the pinned test and controller tools, and link the checkout as the
# collection oscar_emr.remote_access under .build/collections (ansible.cfg points there).
# Re-installs only when requirements or constraints change.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p .build/collections/ansible_collections/oscar_emr
ln -sfn "$PWD" .build/collections/ansible_collections/oscar_emr/remote_access

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

stamp=".venv/.requirements-$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
log=.build/venv-install.log
if ! { .venv/bin/python -m pip install --upgrade "pip>=24" &&
       .venv/bin/python -m pip install -r requirements-dev.txt -c constraints.txt &&
       .venv/bin/python -m pip check; } >"$log" 2>&1; then
  grep -v '^WARNING: Location' "$log" | tail -40 >&2
  echo "venv: installing the test tools failed (full log: $log)" >&2
  exit 1
fi
rm -f .venv/.requirements-*
touch "$stamp"
# Not `ansible --version | head -1`: head closes the pipe early and Python prints a "Broken pipe" traceback.
version="$(.venv/bin/ansible --version)"
echo "venv: ready (${version%%$'\n'*})"
