#!/usr/bin/env bash
# Installs every system package berth's build, demo, tests and benchmarks need.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config libseccomp-dev
  # tests: a tiny busybox rootfs, the runc anchor, a cgroup v2 VM, the image tools
  busybox-static runc iproute2 qemu-system-x86 cpio
  # --init runs a static tini, as Docker's docker-init
  tini
  # rootless berth-runtime maps subordinate ids through newuidmap/newgidmap
  uidmap
  docker-registry skopeo apache2-utils openssl
  # network tests look at the rules berth leaves (nft) from a test namespace
  nftables
  # engine tests drive berth-runtime through the real engines; conformance compares with crun
  containerd docker.io podman crun
  # conformance (scripts/conformance.sh): runc's bats integration tests and their Go helpers
  bats jq gawk golang-go
  # benchmarks
  hyperfine time
  # the demo of scripts/setup.sh and the port benchmark fetch over HTTP
  curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # The packages' own services (dockerd, containerd, docker-registry) are not
  # started: the tests and benchmarks start theirs, in their own
  # directories and namespaces, and a system dockerd would add its firewall
  # rules to the host's.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  status=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || status=$?
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || exit "$status"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
