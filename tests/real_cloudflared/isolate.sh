#!/usr/bin/env bash
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Keeps a real cloudflared connector on this (test or demo) host: system users (uid 100-999; the connector runs as
# one, root and apt's _apt, uid 42, do not) get no route off the host, and nftables counts every packet they send to
# anything but loopback (table inet test_isolation, rules commented "connector-off-host"; the counters must stay 0).
# cloudflared looks up Cloudflare's names and tries DNS over TLS to 1.1.1.1 even when pinned to a local edge with
# --edge: without a route, those attempts fail on the host and send nothing. Idempotent; needs ip and nft.
set -euo pipefail
for family in -4 -6; do
  ip "$family" route replace unreachable default table 7844
  ip "$family" rule show | grep -q 'uidrange 100-999 lookup 7844' ||
    ip "$family" rule add uidrange 100-999 lookup 7844 priority 100
done
if ! nft list table inet test_isolation >/dev/null 2>&1; then
  nft -f - <<'NFT'
table inet test_isolation {
  chain output {
    type filter hook output priority -300; policy accept;
    meta skuid 100-999 ip daddr != 127.0.0.0/8 counter comment "connector-off-host"
    meta skuid 100-999 ip6 daddr != ::1 counter comment "connector-off-host"
  }
}
NFT
fi
