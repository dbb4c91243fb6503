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
IMAGE=localhost/oscar-testbed:bookworm
# container name, fixed address on $NETWORK (the inventory's group_vars/wireguard_servers/wireguard.yml names
# both), extra podman options. Every container gets NET_ADMIN and /dev/net/tun (nftables, wireguard-go).
HOSTS=(
  "demo-oscar 10.89.200.10"
  # A Raspberry Pi stand-in, the WireGuard gateway: forwarding on its own interfaces needs a writable /proc/sys.
  "demo-pi 10.89.200.20 --security-opt unmask=/proc/sys"
)
# The device the demo issues a WireGuard client configuration for, with playbooks/wireguard_peers.yml. That
# playbook rewrites the peer list in the inventory; the demo keeps a copy of the file and `clean` puts it back.
DEMO_PEER=dr-alice-laptop
DEMO_PEER_OWNER="Dr. Alice Chen"
PEERS_FILE=$INVENTORY_DIR/group_vars/wireguard_servers/wireguard_peers.yml
PEERS_BACKUP=.build/demo-wireguard_peers.yml.before
# The wireguard role's wireguard_client_dir for the host pi (git-ignored: it holds the devices' private keys).
CLIENT_DIR=$INVENTORY_DIR/.wireguard-clients/pi

address_of() {
  podman inspect -f "{{ (index .NetworkSettings.Networks \"$NETWORK\").IPAddress }}" "$1" 2>/dev/null || true
}

clean() {
  for entry in "${HOSTS[@]}"; do
    # shellcheck disable=SC2086  # "name address": split into $1 $2 on purpose
    set -- $entry
    podman rm -f "$1" >/dev/null 2>&1 || true
  done
  podman network rm -f "$NETWORK" >/dev/null 2>&1 || true
  # The client configurations are for a server that is gone (its keys went with the container).
  rm -rf "$INVENTORY_DIR/.wireguard-clients"
  if [ -f "$PEERS_BACKUP" ]; then
    mv -f "$PEERS_BACKUP" "$PEERS_FILE"
    echo "demo: put back $PEERS_FILE as it was before the demo added $DEMO_PEER"
  fi
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
# A fresh clinic (a container just made) must be changed by site.yml: the fleet runner fails a run that changes nothing.
fresh=
for entry in "${HOSTS[@]}"; do
  # shellcheck disable=SC2086  # "name address": split into $1 $2 on purpose
  set -- $entry
  name=$1 address=$2
  shift 2
  if podman container exists "$name" && [ "$(address_of "$name")" != "$address" ]; then
    echo "demo: re-creating $name at $address (the inventory expects that address)"
    podman rm -f "$name" >/dev/null
  fi
  if ! podman container exists "$name"; then
    podman run -d --name "$name" --hostname "$name" --network "$NETWORK" --ip "$address" --systemd=always \
      --cap-add NET_ADMIN --device /dev/net/tun "$@" "$IMAGE" /sbin/init >/dev/null
    fresh=1
  elif [ "$(podman inspect -f '{{.State.Running}}' "$name")" != true ]; then
    podman start "$name" >/dev/null
  fi
done
for entry in "${HOSTS[@]}"; do
  # shellcheck disable=SC2086  # "name address": split into $1 $2 on purpose
  set -- $entry
  for _ in $(seq 30); do
    state="$(podman exec "$1" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
done

echo "demo: installing the OSCAR stand-in on demo-oscar"
ansible-playbook -i "$INVENTORY" -e oscar_standin_hosts=oscar_servers tests/standins/oscar_standin.yml >.build/demo-standin.log
# The real cloudflared (upstream's package, from ../shared/cloudflared/), checked against its SHA256SUMS.
SHARED_CLOUDFLARED=../shared/cloudflared
CLOUDFLARED_DEB=cloudflared_2026.8.2_amd64.deb
if [ ! -f "$SHARED_CLOUDFLARED/$CLOUDFLARED_DEB" ]; then
  echo "demo: $SHARED_CLOUDFLARED/$CLOUDFLARED_DEB is missing: the demo installs the real cloudflared from there" >&2
  exit 1
fi
mkdir -p .build/cloudflared-real
(cd "$SHARED_CLOUDFLARED" && grep " $CLOUDFLARED_DEB\$" SHA256SUMS | sha256sum --quiet -c -)
cmp -s "$SHARED_CLOUDFLARED/$CLOUDFLARED_DEB" ".build/cloudflared-real/$CLOUDFLARED_DEB" ||
  cp "$SHARED_CLOUDFLARED/$CLOUDFLARED_DEB" ".build/cloudflared-real/$CLOUDFLARED_DEB"
# Nothing leaves the machine: the connector is pinned to a local edge (cloudflared_test_edge in the inventory) and
# its user gets no route off demo-oscar, counted by nftables (tests/real_cloudflared/isolate.sh, as in the tests).
podman exec demo-oscar sh -c 'command -v nft >/dev/null || { apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends nftables >/dev/null; }'
podman exec -i demo-oscar bash -s <tests/real_cloudflared/isolate.sh
echo "demo: applying playbooks/site.yml with $INVENTORY through the fleet runner (log: .build/demo-site.log)"
# The fleet runner (scripts/fleet.py, on ansible-runner) as a provider runs it, for this one clinic: its progress lines
# (the play it is in, how many tasks it has started) while it runs, then the fleet report. --require-hosts: every
# play of site.yml must find hosts in the demo clinic; --expect-change on fresh containers: a first run that changes
# nothing did not apply the clinic. The QR codes of client configurations are shown below, not written to the log
# (they hold private keys).
clinic_name="$(basename "$INVENTORY_DIR")"
rm -rf .build/demo-fleet
fleet_rc=0
.venv/bin/python scripts/fleet.py playbooks/site.yml --inventories "$(dirname "$INVENTORY_DIR")" --clinic "$clinic_name" \
  --include-examples --out .build/demo-fleet --state .build/demo-fleet-state.json --progress-every 15 \
  --require-hosts ${fresh:+--expect-change} -- --diff -e wireguard_client_show_qr=false || fleet_rc=$?
cp .build/demo-fleet/"$clinic_name".log .build/demo-site.log 2>/dev/null || : >.build/demo-site.log
if [ "$fleet_rc" != 0 ]; then
  tail -40 .build/demo-site.log
  echo "demo: site.yml through the fleet runner FAILED (exit $fleet_rc): see the report above and .build/demo-fleet/" >&2
  exit 1
fi
grep -A5 'PLAY RECAP' .build/demo-site.log

if grep -q "^ *- name: $DEMO_PEER\$" "$PEERS_FILE"; then
  echo "demo: WireGuard: $DEMO_PEER is already a peer; adding it again changes nothing (log: .build/demo-wireguard-add.log)"
else
  echo "demo: WireGuard: issuing a client configuration for $DEMO_PEER (log: .build/demo-wireguard-add.log)"
  [ -f "$PEERS_BACKUP" ] || cp -p "$PEERS_FILE" "$PEERS_BACKUP"
fi
echo "  ansible-playbook -i $INVENTORY playbooks/wireguard_peers.yml -e peer_action=add -e peer_name=$DEMO_PEER -e \"peer_owner='$DEMO_PEER_OWNER'\""
ansible-playbook -i "$INVENTORY" playbooks/wireguard_peers.yml -e peer_action=add -e "peer_name=$DEMO_PEER" \
  -e "peer_owner='$DEMO_PEER_OWNER'" -e wireguard_client_show_qr=false --diff >.build/demo-wireguard-add.log 2>&1 || {
  tail -40 .build/demo-wireguard-add.log
  exit 1
}
grep -A3 'PLAY RECAP' .build/demo-wireguard-add.log
conf="$CLIENT_DIR/$DEMO_PEER.conf"
cat <<WG
The client configuration (give it to the device; it holds the device's private key):
  $conf
  $CLIENT_DIR/$DEMO_PEER.png      (QR code image)
The configuration, keys hidden here:
WG
sed -E 's/^((PrivateKey|PresharedKey) *= *).*/\1(hidden here; in the file)/; s/^/    /' "$conf"
echo "Its QR code, for the WireGuard app (scan to import; the role prints it once when it issues a configuration):"
PYTHONPATH=.build/collections .venv/bin/python - "$conf" <<'PY'
import sys

from ansible_collections.oscar_emr.remote_access.plugins.modules.wireguard_client_config import qr_terminal

with open(sys.argv[1], encoding="utf-8") as handle:
    print(qr_terminal(handle.read()))
PY
echo "The clinic's WireGuard peers (ansible-playbook -i $INVENTORY playbooks/wireguard_peers.yml):"
ansible-playbook -i "$INVENTORY" playbooks/wireguard_peers.yml >.build/demo-wireguard-list.log 2>&1 || {
  tail -40 .build/demo-wireguard-list.log
  exit 1
}
# The list is the msg of the task "Show the peers", one YAML list item a line.
sed -n '/^TASK \[Show the peers\]/,/^$/p' .build/demo-wireguard-list.log |
  sed -nE "s/^    - //; T; s/^'(.*)'\$/\\1/; s/''/'/g; /^\$/d; s/^/  /p"

echo
echo "cloudflared on demo-oscar: the real connector (upstream's package $CLOUDFLARED_DEB), running as its own user."
echo "It CANNOT REACH CLOUDFLARE: the demo has no real tunnel, so the connector is pinned to a local edge that answers"
echo "nothing (127.0.0.1:7844 and 127.0.0.2:7844) and has no route off the machine. It stays up and retries, waiting"
echo "longer between attempts (up to a minute) as with an unreachable edge; it is never ready (/ready 503)."
# Pinned: every --edge of the running unit is a loopback address (the role refuses any other; this checks the host).
edges="$(podman exec demo-oscar systemctl show -p ExecStart --value cloudflared.service | grep -o -- '--edge [^ ;]*' |
  cut -d' ' -f2 || true)"
if [ -z "$edges" ] || printf '%s\n' "$edges" | grep -qv '^127\.'; then
  echo "demo: cloudflared on demo-oscar is not pinned to loopback edges only: ${edges:-no --edge}" >&2
  exit 1
fi
echo "  podman exec demo-oscar systemctl status cloudflared.service"
# Running, or the demo stops here: a connector that is not running is what this section exists to show. The real
# connector is Type=notify and sends READY=1 only after its first edge connection, which the demo cannot have: it
# stays "activating (start)", running and retrying (the role gives it no start timeout); "active" once connected.
state="$(podman exec demo-oscar systemctl show -p ActiveState --value cloudflared.service)"
if [ "$state" != active ] && [ "$state" != activating ]; then
  podman exec demo-oscar systemctl status cloudflared.service --no-pager --lines=20 | sed 's/^/    /' || true
  echo "demo: cloudflared.service is $state on demo-oscar, not running" >&2
  exit 1
fi
# (systemctl status exits 3 for a unit that is not "active": the state was checked above.)
podman exec demo-oscar systemctl status cloudflared.service --no-pager --lines=4 | sed 's/^/    /' || true
# Stays up: started once, never restarted by systemd (a crash loop, as with an unreadable origin CA, counts up here).
restarts="$(podman exec demo-oscar systemctl show -p NRestarts --value cloudflared.service)"
echo "  restarts by systemd since it started: $restarts"
if [ "$restarts" != 0 ]; then
  echo "demo: cloudflared.service restarted $restarts times: it does not stay up (journalctl -u cloudflared)" >&2
  exit 1
fi
echo "  its metrics (http://127.0.0.1:20241/metrics on demo-oscar), a few lines:"
# podman exec -i: the script is this heredoc on stdin (without -i python3 read nothing and printed nothing). The
# connector opens its metrics server a moment after it starts: ask until it answers, for at most 30 s, then fail.
podman exec -i demo-oscar python3 - <<'PY' | sed 's/^/    /'
import sys
import time
import urllib.error
import urllib.request

URL = "http://127.0.0.1:20241"
SHOWN = ("build_info", "cloudflared_tunnel_ha_connections", "cloudflared_tunnel_total_requests")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 30
while True:
    try:
        with opener.open(URL + "/metrics", timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        break
    except OSError as error:  # URLError and connection refused: not listening yet
        if time.monotonic() > deadline:
            sys.exit("demo: cloudflared's %s/metrics did not answer within 30 s: %s" % (URL, error))
        time.sleep(1)
shown = [line for line in lines if line.startswith(SHOWN)]
if not shown:
    sys.exit("demo: cloudflared's /metrics answered without %s (%d lines)" % (", ".join(SHOWN), len(lines)))
print("\n".join(shown))
try:
    with opener.open(URL + "/ready", timeout=5) as answer:
        print("/ready: %d" % answer.status)
except urllib.error.HTTPError as error:
    print("/ready: %d (no edge connection)" % error.code)
PY
echo "  packets its user sent off the machine (nftables counters, must be 0):"
counters="$(podman exec demo-oscar nft list chain inet test_isolation output | grep -o 'counter packets [0-9]*')"
echo "${counters//counter/    counter}"
if [ -z "$counters" ] || echo "$counters" | grep -qv 'counter packets 0$'; then
  echo "demo: the connector's user sent packets off demo-oscar (or the counters are missing)" >&2
  exit 1
fi

oscar_ip="$(address_of demo-oscar)"
pi_ip="$(address_of demo-pi)"
ca="clients/$(basename "$INVENTORY_DIR")/oscar-ca.crt"
host="$(awk '/^clinic_oscar_hostname:/ {print $2}' $INVENTORY_DIR/group_vars/all/clinic.yml)"
cat <<INFO

The demo clinic is up (network $NETWORK, $SUBNET):
  demo-oscar  $oscar_ip  OSCAR stand-in (Tomcat on 8080/8443 under /oscar; not OSCAR),
                         firewall (nftables allowlist), nginx front door on 443 (TLS from the clinic's CA),
                         access gateway (standalone login: password + TOTP, audit log),
                         cloudflared connector (the real cloudflared, hardened, pinned to a local edge: it cannot
                         reach Cloudflare and sends nothing off this machine)
  demo-pi     $pi_ip  a Raspberry Pi stand-in: WireGuard server (wg0, UDP 51820; wireguard-go, as the test bed's
                         kernel has no WireGuard module) in gateway mode, peers routed to demo-oscar:443 only,
                         firewall (allowlist and a forward chain with policy drop)

Look at it from this machine:
  curl -i --cacert $ca --resolve $host:443:$oscar_ip https://$host/oscar/         # 302 to the gateway's sign-in page
  curl --cacert $ca --resolve $host:443:$oscar_ip https://$host/manager/html      # 404: Tomcat's manager is never reachable
  curl --path-as-is --cacert $ca --resolve $host:443:$oscar_ip 'https://$host/oscar/..;/manager/html'  # 400
  curl -m 3 http://$oscar_ip:8080/oscar/                                         # times out: Tomcat is firewalled
  podman exec demo-oscar nft list table inet oscar_remote_access                  # the clinic's allowlist
  podman exec demo-oscar cat /etc/cloudflared/config.yml                           # the tunnel's ingress rules
  podman exec demo-oscar systemd-analyze security cloudflared.service | tail -1     # its hardening score
  podman exec demo-oscar journalctl -u cloudflared --no-pager | tail -5           # it retries the local edge
  podman exec demo-oscar tail -3 /var/log/nginx/oscar-access.log                  # JSON access log, no query strings
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/site.yml --check --diff       # what a re-run would change (nothing)
  podman exec demo-pi wg show wg0                                                 # the WireGuard server and its peers
  podman exec demo-pi nft list chain inet oscar_remote_access forward             # peers reach demo-oscar:443, nothing else
WireGuard peers (each device gets a configuration and QR code in $CLIENT_DIR/):
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/wireguard_peers.yml          # list, with handshakes
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/wireguard_peers.yml -e peer_action=add -e peer_name=NAME     # another device
  .venv/bin/ansible-playbook -i $INVENTORY playbooks/wireguard_peers.yml -e peer_action=revoke -e peer_name=$DEMO_PEER
Sign in with a browser: give dralice a password, then open https://$host/oscar/ (with $host
pointing at $oscar_ip and the CA below trusted) and enrol an authenticator app at first sign-in:
  podman exec -it demo-oscar oscar-gateway-admin set-password dralice
  podman exec demo-oscar oscar-gateway-admin audit --since 1h                      # the audit log
The clinic's CA certificate, for installing on clinic devices: $ca
Remove it:
  bash scripts/demo.sh clean
INFO
