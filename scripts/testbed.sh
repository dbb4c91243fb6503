#!/usr/bin/env bash
# Prepare this machine as a container host for the Molecule scenarios and the demo:
# Debian's podman configured for hosts with hybrid cgroups and no CAP_SYS_RESOURCE,
# and systemd-ready Debian base images built with debootstrap (no registry needed).
# Images are rebuilt only when missing or when their recipe (this file's IMAGE_RECIPE) changes.
set -euo pipefail

DISTS="${TESTBED_DISTS:-bookworm trixie}"
IMAGE_PREFIX="localhost/oscar-testbed"
CACHE_DIR="${TESTBED_CACHE:-/var/cache/oscar-testbed}"
# Packages every test host carries: systemd as PID 1, Python for Ansible, the tools verify uses.
IMAGE_PACKAGES="systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,ca-certificates,procps,curl,netcat-openbsd,dbus"
IMAGE_RECIPE="v1 ${IMAGE_PACKAGES}"

log() { printf 'testbed: %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "testbed: run as root (podman runs rootful here)" >&2
    exit 1
  fi
}

install_packages() {
  local wanted=(podman runc debootstrap nftables uidmap slirp4netns fuse-overlayfs iptables
                containernetworking-plugins netavark aardvark-dns conntrack
                wireguard-tools   # `wg`, which the WireGuard unit tests compare the key code against
                pebble            # Let's Encrypt's ACME test server, for the nginx role's acme mode (loopback only)
                shellcheck        # ansible-test sanity's shellcheck test skips itself without it
                poppler-utils)    # pdftoppm, pdftotext: the access report's PDF checked page by page
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

configure_podman() {
  # crun refuses hybrid cgroups; containers cannot raise rlimits without CAP_SYS_RESOURCE.
  local hard_nofile
  hard_nofile="$(ulimit -Hn)"
  [ "$hard_nofile" = "unlimited" ] && hard_nofile=20000
  [ "$hard_nofile" -gt 20000 ] && hard_nofile=20000
  local wanted
  wanted=$(cat <<CONF
# Written by oscar_emr.remote_access scripts/testbed.sh
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
)
  mkdir -p /etc/containers
  if [ ! -f /etc/containers/containers.conf ] || [ "$(cat /etc/containers/containers.conf)" != "$wanted" ]; then
    log "configuring /etc/containers/containers.conf"
    printf '%s\n' "$wanted" > /etc/containers/containers.conf
  fi
}

# The Debian mirror this host's own apt uses (a provider's mirror or proxy works the same way), from the one-line
# sources.list format or deb822 .sources files; $TESTBED_MIRROR overrides it, deb.debian.org is the fallback.
debian_mirror() {
  if [ -n "${TESTBED_MIRROR:-}" ]; then
    printf '%s\n' "$TESTBED_MIRROR"
    return
  fi
  local found
  found="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($(i+1) !~ /-(security|updates|backports)$/) { print $i; exit } ; break } }')"
  if [ -z "$found" ]; then
    found="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      /^[ \t]*$/ { if (uri != "" && suites !~ /-security/ && types ~ /(^| )deb( |$)/) { print uri; exit } uri = ""; suites = ""; types = "" }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "types:" { $1 = ""; types = $0 " " }
      END { if (uri != "" && suites !~ /-security/ && types ~ /(^| )deb( |$)/) print uri }' | head -n 1)"
  fi
  printf '%s\n' "${found:-http://deb.debian.org/debian}"
}

image_tag() { printf '%s:%s' "$IMAGE_PREFIX" "$1"; }
recipe_hash() { printf '%s %s' "$IMAGE_RECIPE" "$1" | sha256sum | cut -c1-16; }

build_image() {
  local dist="$1" tag hash current root mirror
  tag="$(image_tag "$dist")"
  hash="$(recipe_hash "$dist")"
  current="$(podman image inspect --format '{{ index .Labels "oscar.testbed.recipe" }}' "$tag" 2>/dev/null || true)"
  if [ "$current" = "$hash" ]; then
    log "image $tag is current ($hash)"
    return
  fi
  mirror="$(debian_mirror)"
  log "building $tag with debootstrap from $mirror (recipe $hash)"
  root="$(mktemp -d "${CACHE_DIR}/rootfs-${dist}.XXXXXX")"
  debootstrap --variant=minbase --include="$IMAGE_PACKAGES" "$dist" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2
    rm -rf "$root"
    exit 1
  }
  # A container has no console: the getty units only restart in a loop.
  rm -f "$root"/etc/systemd/system/getty.target.wants/* || true
  ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
  # Tell the "minimal" apt setup in containers not to pull recommended packages (kernels, initramfs).
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/90-no-recommends"
  : > "$root/etc/machine-id"
  tar -C "$root" -c . | podman import --quiet \
      --change 'CMD=/sbin/init' \
      --change 'STOPSIGNAL=SIGRTMIN+3' \
      --change "LABEL=oscar.testbed.recipe=$hash" \
      - "$tag" >/dev/null
  rm -rf "$root" "$root.log"
}

main() {
  need_root
  install_packages
  configure_podman
  mkdir -p "$CACHE_DIR"
  for dist in $DISTS; do
    build_image "$dist"
  done
  log "ready: $(for d in $DISTS; do printf '%s ' "$(image_tag "$d")"; done)"
}

main "$@"
