#!/usr/bin/env bash
# Paired benchmark of `berth build` against `docker build` on a 10-step
# Dockerfile (busybox base made from busybox-static, imported into berth and
# loaded into docker with `berth save | docker load`): the fully cached
# rebuild and the uncached build (--no-cache) of each, in one hyperfine run,
# with the ratios docker/berth.
#
#   bench/build.sh
#
# Environment: BERTH (a berth binary; default: the static release build of
# scripts/build-static.sh), DOCKER (the docker CLI; default /usr/bin/docker, Debian's, whose
# `docker build` uses the daemon's built-in BuildKit with DOCKER_BUILDKIT=1
# and needs no buildx plugin), RUNS (default 20), WARMUP (default 2),
# NO_DOCKER=1 (berth only).
#
# Targets (issue 6): a fully cached rebuild under 100 ms; the uncached build
# at least as fast as `docker build` (ratio docker/berth >= 1.00).
#
# Needs root. Runs in a private mount and network namespace: berth's bridge
# (RUN steps are on the default bridge network, as Docker's) and dockerd's
# docker0 and iptables rules never touch the host's network. dockerd gets its
# own --data-root, --exec-root, --pidfile and socket under the work dir and is
# stopped by pid at exit; the work dir is removed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root" >&2; exit 1; }
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m -n --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi
ip link set lo up
command -v hyperfine >/dev/null || { echo "build.sh: hyperfine not found (scripts/install-deps.sh)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "build.sh: python3 not found" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "build.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }
runs="${RUNS:-20}"
warmup="${WARMUP:-2}"
berth="${BERTH:-}"
docker_cli="${DOCKER:-/usr/bin/docker}"
with_docker=1
if [ "${NO_DOCKER:-}" = 1 ]; then
  with_docker=0
elif ! command -v dockerd >/dev/null || [ ! -x "$docker_cli" ]; then
  echo "build.sh: dockerd or $docker_cli missing (apt-get install docker.io); berth only" >&2
  with_docker=0
fi
if [ -z "$berth" ]; then
  berth="$(dirname "$("$repo/scripts/build-static.sh" | tail -n1)")/berth"
fi
[ -x "$berth" ] || { echo "build.sh: $berth is not executable" >&2; exit 1; }

tmp="$(mktemp -d /tmp/berth-buildbench.XXXXXX)"
DOCKER_CLI="$docker_cli"
# shellcheck source=lib/dockerd.sh
. "$here/lib/dockerd.sh"
cleanup() {
  dockerd_stop
  rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
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

cmds=(
  -n "berth build (cached)" "$berth build -q -t bench:latest $tmp/ctx"
  -n "berth build --no-cache" "$berth build -q --no-cache -t bench:latest $tmp/ctx"
)
if [ "$with_docker" = 1 ]; then
  dockerd_start "$tmp"
  D=("$docker_cli" -H "$dockerd_sock")
  "$berth" save bb:latest | "${D[@]}" load -q >/dev/null
  export DOCKER_BUILDKIT=1
  # BuildKit when the daemon has it (20.10 does), else the classic builder.
  builder=BuildKit
  if ! "${D[@]}" build -q -t bench:latest "$tmp/ctx" >/dev/null 2>"$tmp/docker-build.err"; then
    cat "$tmp/docker-build.err" >&2
    export DOCKER_BUILDKIT=0
    builder="classic builder"
    "${D[@]}" build -q -t bench:latest "$tmp/ctx" >/dev/null
  fi
  echo "docker: $("${D[@]}" version -f 'client {{.Client.Version}}, daemon {{.Server.Version}}'), $builder" >&2
  d="${D[*]}"
  cmds+=(
    -n "docker build (cached)" "$d build -q -t bench:latest $tmp/ctx"
    -n "docker build --no-cache" "$d build -q --no-cache -t bench:latest $tmp/ctx"
  )
fi
hyperfine --runs "$runs" --warmup "$warmup" -N --export-json "$tmp/result.json" "${cmds[@]}"
python3 - "$tmp/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
def med(n): return r[n]["median"] * 1000
cached = med("berth build (cached)")
print(f"berth cached rebuild median: {cached:.1f} ms (target < 100 ms)")
for kind in ("(cached)", "--no-cache"):
    d = f"docker build {kind}"
    if d in r:
        b = med(f"berth build {kind}")
        print(f"docker/berth {kind}: {med(d) / b:.2f} (berth {b:.1f} ms, docker {med(d):.1f} ms; target >= 1.00)")
PY
