#!/usr/bin/env bash
# Bring up a demo clinic in local containers and apply playbooks/site.yml to it.
#   bash scripts/demo.sh         build (or update) the demo clinic
#   bash scripts/demo.sh clean   remove its containers and network
# The OSCAR host runs a stand-in for OSCAR's Tomcat (tests/standins/), not OSCAR.
set -euo pipefail
cd "$(dirname "$0")/.."

NETWORK=oscar-demo
SUBNET=10.89.200.0/24
INVENTORY=inventories/demo_clinic
# container name, image, extra podman options
HOSTS=(
  "demo-oscar localhost/oscar-testbed:bookworm"
)

clean() {
  for entry in "${HOSTS[@]}"; do
    set -- $entry
    podman rm -f "$1" >/dev/null 2>&1 || true
  done
  podman network rm -f "$NETWORK" >/dev/null 2>&1 || true
  echo "demo: removed"
}

if [ "${1:-}" = "clean" ]; then
  clean
  exit 0
fi

bash scripts/venv.sh
TESTBED_DISTS=bookworm bash scripts/testbed.sh
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.build/collections"

podman network exists "$NETWORK" || podman network create --subnet "$SUBNET" "$NETWORK" >/dev/null
for entry in "${HOSTS[@]}"; do
  set -- $entry
  if ! podman container exists "$1"; then
    podman run -d --name "$1" --hostname "$1" --network "$NETWORK" --systemd=always \
      --cap-add NET_ADMIN --device /dev/net/tun "$2" /sbin/init >/dev/null
  fi
done
for entry in "${HOSTS[@]}"; do
  set -- $entry
  for _ in $(seq 30); do
    state="$(podman exec "$1" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
done

echo "demo: installing the OSCAR stand-in on demo-oscar"
ansible-playbook -i "$INVENTORY" -e oscar_standin_hosts=oscar_servers tests/standins/oscar_standin.yml >.build/demo-standin.log
echo "demo: applying playbooks/site.yml with $INVENTORY (log: .build/demo-site.log)"
ansible-playbook -i "$INVENTORY" playbooks/site.yml --diff >.build/demo-site.log 2>&1 || {
  tail -40 .build/demo-site.log
  exit 1
}
grep -A5 'PLAY RECAP' .build/demo-site.log

oscar_ip="$(podman inspect -f "{{ (index .NetworkSettings.Networks \"$NETWORK\").IPAddress }}" demo-oscar)"
cat <<INFO

The demo clinic is up (network $NETWORK, $SUBNET):
  demo-oscar  $oscar_ip  OSCAR stand-in (Tomcat on 8080/8443 under /oscar), firewall

Look at it:
  podman exec demo-oscar nft list table inet oscar_remote_access   # the clinic's allowlist
  podman exec demo-oscar systemctl status oscar-remote-access-firewall.service
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/site.yml --check --diff  # what a re-run would change (nothing)
Remove it:
  bash scripts/demo.sh clean
INFO
