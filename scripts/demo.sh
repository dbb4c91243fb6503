#!/usr/bin/env bash
# Bring up a demo clinic in local containers and apply playbooks/site.yml to it.
#   bash scripts/demo.sh         build (or update) the demo clinic
#   bash scripts/demo.sh clean   remove its containers and network
# The OSCAR host runs a stand-in for OSCAR's Tomcat (tests/standins/), not OSCAR.
set -euo pipefail
cd "$(dirname "$0")/.."

NETWORK=oscar-demo
SUBNET=10.89.200.0/24
INVENTORY_DIR=inventories/demo_clinic
# The hosts file, not the directory: Ansible would read every file in it (the exported CA too) as an inventory.
INVENTORY=$INVENTORY_DIR/hosts.yml
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
echo "demo: building the cloudflared TEST DOUBLE package (the real cloudflared cannot be downloaded here)"
.venv/bin/python tests/cloudflared_double/build.py --out .build/cloudflared-double --version 2025.8.0 --arch amd64 >/dev/null
echo "demo: applying playbooks/site.yml with $INVENTORY (log: .build/demo-site.log)"
ansible-playbook -i "$INVENTORY" playbooks/site.yml --diff >.build/demo-site.log 2>&1 || {
  tail -40 .build/demo-site.log
  exit 1
}
grep -A5 'PLAY RECAP' .build/demo-site.log

oscar_ip="$(podman inspect -f "{{ (index .NetworkSettings.Networks \"$NETWORK\").IPAddress }}" demo-oscar)"
ca="$INVENTORY_DIR/exported-ca/oscar-ca.crt"
host="$(awk '/^clinic_oscar_hostname:/ {print $2}' $INVENTORY_DIR/group_vars/all/clinic.yml)"
cat <<INFO

The demo clinic is up (network $NETWORK, $SUBNET):
  demo-oscar  $oscar_ip  OSCAR stand-in (Tomcat on 8080/8443 under /oscar; not OSCAR),
                         firewall (nftables allowlist), nginx front door on 443 (TLS from the clinic's CA),
                         access gateway (standalone login: password + TOTP, audit log),
                         cloudflared connector (a TEST DOUBLE of cloudflared: configured, hardened, never connects)

Look at it from this machine:
  curl -i --cacert $ca --resolve $host:443:$oscar_ip https://$host/oscar/         # 302 to the gateway's sign-in page
  curl --cacert $ca --resolve $host:443:$oscar_ip https://$host/manager/html      # 404: Tomcat's manager is never reachable
  curl --path-as-is --cacert $ca --resolve $host:443:$oscar_ip 'https://$host/oscar/..;/manager/html'  # 400
  curl -m 3 http://$oscar_ip:8080/oscar/                                         # times out: Tomcat is firewalled
  podman exec demo-oscar nft list table inet oscar_remote_access                  # the clinic's allowlist
  podman exec demo-oscar cat /etc/cloudflared/config.yml                           # the tunnel's ingress rules
  podman exec demo-oscar systemd-analyze security cloudflared.service | tail -1     # its hardening score
  podman exec demo-oscar tail -3 /var/log/nginx/oscar-access.log                  # JSON access log, no query strings
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/site.yml --check --diff       # what a re-run would change (nothing)
Sign in with a browser: give dralice a password, then open https://$host/oscar/ (with $host
pointing at $oscar_ip and the CA below trusted) and enrol an authenticator app at first sign-in:
  podman exec -it demo-oscar oscar-gateway-admin set-password dralice
  podman exec demo-oscar oscar-gateway-admin audit --since 1h                      # the audit log
The clinic's CA certificate, for installing on clinic devices: $ca
Remove it:
  bash scripts/demo.sh clean
INFO
