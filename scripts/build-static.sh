#!/usr/bin/env bash
# Builds the release binaries as they are meant to be installed: statically linked (glibc and
# libseccomp linked in) and not position-independent, and prints the path of berth-runtime
# on the last line; berth and berth-shim are beside it.
#
#   scripts/build-static.sh     # berth, berth-runtime and berth-shim
#
# Why: these programs start once or more per container, and a start is mostly the kernel
# mapping and faulting in the binary. A static, non-PIE binary has no dynamic loader to run,
# no shared libraries to map and no relocations to apply: `berth` starts in half the time of
# the dynamic PIE build (`perf stat -e page-faults,task-clock berth --version`; numbers in
# docs/benchmarks.md). Debian's runc and containerd-shim are non-PIE too. The heap, stack
# and mmap areas stay randomized; only the binary's own image is at a fixed address.
#
# Static flags need an explicit --target: without one, cargo applies RUSTFLAGS to build
# scripts and proc macros too, which cannot be linked statically.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
[ $# -eq 0 ] || { echo "build-static: takes no arguments" >&2; exit 2; }
triple="$(rustc -vV | sed -n 's/^host: //p')"
libdir="/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir" \
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo build --release --target "$triple" -p berth-runtime-cli -p berth-cli -p berth-shim >&2
bin="$repo/target/$triple/release/berth-runtime"
[ -x "$bin" ] || { echo "build-static: $bin was not produced" >&2; exit 1; }
echo "$bin"
