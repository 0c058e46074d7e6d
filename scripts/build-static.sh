#!/usr/bin/env bash
# Builds the statically linked berth-runtime (libseccomp and glibc linked in) and prints its
# path on the last line. Used by bench/runtime.sh and the cgroup v2 VM test, which copy the
# binary into a guest without shared libraries.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
  RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --target x86_64-unknown-linux-gnu -p berth-runtime-cli >&2
bin="$repo/target/x86_64-unknown-linux-gnu/release/berth-runtime"
[ -x "$bin" ] || { echo "build-static: $bin was not produced" >&2; exit 1; }
echo "$bin"
