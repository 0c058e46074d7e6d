#!/usr/bin/env bash
# What the default network adds to a container's start and removal, measured
# on the net layer alone (berth-net's attach_cost example), per iteration:
#   none       create + remove a network namespace (`--network none`)
#   bridge     + attach to / detach from the default network (its bridge kept up)
#   bridge -p  the same, publishing one port (DNAT rules added and removed)
#   no-keep    bridge and nftables table made and removed every time
#
#   bench/net.sh [ITERATIONS]      (default 200)
#
# Needs root. Runs in a throwaway network and mount namespace (unshare), so
# it touches neither the host's interfaces and rules nor its mounts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$here")"
cargo build -q --release -p berth-net --example attach_cost
exec unshare --net --mount --propagation private target/release/examples/attach_cost "${1:-200}"
