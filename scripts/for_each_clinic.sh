#!/usr/bin/env bash
# Run one playbook against every clinic inventory, one ansible-playbook process per clinic.
#
#   scripts/for_each_clinic.sh playbooks/site.yml [ansible-playbook options...]
#
# Why not `-i clinic-a -i clinic-b`: Ansible merges the inventories, and group_vars of the same
# group (`all`, `clinic`) from different clinics would override each other. One process per
# clinic keeps every clinic's variables and Vault secrets its own. Inventories are the
# directories under $CLINIC_INVENTORIES (default: inventories/) that hold a hosts.yml;
# CLINIC_PARALLEL (default 4) clinics run at once. Each clinic's output goes to
# $CLINIC_LOG_DIR/<clinic>.log; the script ends with one line per clinic and fails if any failed.
# This collection's example inventories (a file .example-inventory whose first line is the directory's own name)
# are skipped unless CLINIC_INCLUDE_EXAMPLES=1: their hosts do not exist. A clinic copied from an example under its
# own name still runs: the marker names the example, not the copy.
set -uo pipefail
playbook="${1:?usage: $0 PLAYBOOK [ansible-playbook options...]}"
shift
inventories="${CLINIC_INVENTORIES:-inventories}"
parallel="${CLINIC_PARALLEL:-4}"
log_dir="${CLINIC_LOG_DIR:-logs/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$log_dir"

run_clinic() {
  local inventory="$1" name
  shift
  name="$(basename "$inventory")"
  if ansible-playbook -i "$inventory/hosts.yml" "$@" >"$log_dir/$name.log" 2>&1; then
    echo "ok     $name"
  else
    echo "FAILED $name (see $log_dir/$name.log)"
  fi
}
export -f run_clinic
export log_dir

list_clinics() {
  local dir
  find "$inventories" -mindepth 2 -maxdepth 2 -name hosts.yml -printf '%h\n' | sort | while read -r dir; do
    if [ -e "$dir/.example-inventory" ] && [ "$(head -n 1 "$dir/.example-inventory")" = "$(basename "$dir")" ] &&
       [ "${CLINIC_INCLUDE_EXAMPLES:-0}" != 1 ]; then
      echo "skipped example $(basename "$dir") (CLINIC_INCLUDE_EXAMPLES=1 runs it)" >&2
      continue
    fi
    printf '%s\n' "$dir"
  done
}

results="$(list_clinics |
  xargs -r -P "$parallel" -I{} bash -c 'run_clinic "$@"' _ {} "$playbook" "$@")"
printf '%s\n' "$results"
if [ -z "$results" ]; then
  echo "no clinic inventories (directories with hosts.yml) under $inventories" >&2
  exit 2
fi
! grep -q '^FAILED' <<<"$results"
