#!/usr/bin/env bash
# Benchmark of `berth build` on a 10-step Dockerfile (busybox base made from
# busybox-static, imported): the uncached build (--no-cache) and the fully
# cached rebuild, with hyperfine.
#
#   bench/build.sh
#
# Environment: BERTH (a berth binary; default: target/release/berth, built if
# missing), RUNS (default 20), WARMUP (default 2).
#
# Targets (issue 6): a fully cached rebuild under 100 ms; the uncached build
# at least as fast as `docker build`. The docker side is not in this script
# yet: pair it by loading the same base (`berth save bb:latest | docker load`)
# into a dockerd started with its own --data-root/--exec-root/--pidfile/-H.
# Needs root. Runs in a private mount namespace; the state roots are a fresh
# temp directory, removed at exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root" >&2; exit 1; }
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi
command -v hyperfine >/dev/null || { echo "build.sh: hyperfine not found (scripts/install-deps.sh)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "build.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }
runs="${RUNS:-20}"
warmup="${WARMUP:-2}"
berth="${BERTH:-$repo/target/release/berth}"
if [ ! -x "$berth" ]; then
  (cd "$repo" && cargo build --release -p berth-cli >&2)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export BERTH_ROOT="$tmp/root" BERTH_RUN_ROOT="$tmp/run"
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/tmp" "$tmp/ctx"
cp /bin/busybox "$tmp/rootfs/bin/"
for a in sh echo cat ls mkdir; do ln -s busybox "$tmp/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$tmp/rootfs/etc/passwd"
echo 'root:x:0:' > "$tmp/rootfs/etc/group"
tar -C "$tmp/rootfs" -cf "$tmp/bb.tar" .
"$berth" import "$tmp/bb.tar" bb:latest >/dev/null
for i in 1 2 3; do echo "file $i" > "$tmp/ctx/f$i"; done
cat > "$tmp/ctx/Dockerfile" <<'DF'
FROM bb:latest
ENV A=1
WORKDIR /app
COPY f1 ./
RUN echo one > /app/one
COPY f2 ./
RUN echo two > /app/two
COPY f3 ./
LABEL k=v
CMD ["cat", "/app/one"]
DF
"$berth" build -q -t bench:latest "$tmp/ctx" >/dev/null
hyperfine --runs "$runs" --warmup "$warmup" -N \
  -n "berth build (cached)" "$berth build -q -t bench:latest $tmp/ctx" \
  -n "berth build --no-cache" "$berth build -q --no-cache -t bench:latest $tmp/ctx"
