#!/usr/bin/env bash
# Paired benchmark: cold pull of a ~100 MB, 4-layer image from a loopback
# docker-registry by berth, `skopeo copy` (to an OCI directory, and to
# containers-storage, which unpacks as podman pull does) and `docker pull`, plus
# berth's warm pull (every layer present).
#
#   bench/pull.sh [--write-docs]
#
# In one invocation: builds the image (4 gzip layers of generated files, half
# random and half text, seeded so every run makes the same bytes), pushes it with
# skopeo into a fresh docker-registry on 127.0.0.1, starts a private dockerd
# (own --data-root, --exec-root, pidfile and socket under the work dir;
# --iptables=false --ip6tables=false --bridge=none; --insecure-registry for the
# registry), then runs hyperfine with the three cold pulls side by side (each
# --prepare empties that tool's store) and berth's warm pull. Prints medians and
# the ratios docker/berth and skopeo/berth (target >= 1.5) and the warm median
# (target < 50 ms). Also checks that `docker load` takes what `berth save` writes.
# With --write-docs, replaces the pull section of docs/benchmarks.md.
#
# Environment: BERTH (a berth binary; default: the static release build of
# scripts/build-static.sh),
# RUNS (cold runs per tool, default 5), WARM_RUNS (default 30).
#
# Needs root. Installs its anchors (docker.io, skopeo, docker-registry, hyperfine)
# with apt-get when missing. Runs in a private mount namespace; stops the registry
# and dockerd by pid and removes the work dir at exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

write_docs=0
for a in "$@"; do
  case "$a" in
    --write-docs) write_docs=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "pull.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "pull.sh: needs root (dockerd)" >&2
  exit 1
fi
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi

# --- anchors -----------------------------------------------------------------
need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v skopeo >/dev/null || need_pkgs+=(skopeo)
[ -x /usr/bin/docker-registry ] || need_pkgs+=(docker-registry)
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]} (scripts/install-deps.sh)" >&2
  "$(dirname "$here")/scripts/install-deps.sh" >&2
fi
docker_cli="$(command -v docker)"

berth="${BERTH:-}"
if [ -z "$berth" ]; then
  berth="$(dirname "$("$repo/scripts/build-static.sh" | tail -n1)")/berth"
fi
[ -x "$berth" ] || { echo "pull.sh: $berth is not executable" >&2; exit 1; }
runs="${RUNS:-5}"
warm_runs="${WARM_RUNS:-30}"

# --- work dir, registry, dockerd; stopped by pid at exit -----------------------
work="$(mktemp -d /tmp/berth-pull-bench.XXXXXX)"
reg_pid=""
DOCKER_CLI="$docker_cli"
# shellcheck source=lib/dockerd.sh
. "$here/lib/dockerd.sh"
cleanup() {
  dockerd_stop
  [ -n "$reg_pid" ] && { kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; }
  umount "$work/cs/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
addr="127.0.0.1:$port"
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $addr
EOF
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!

echo '{}' >"$work/daemon.json"
dockerd_start "$work" --config-file "$work/daemon.json" --iptables=false --ip6tables=false \
  --bridge=none --insecure-registry "$addr"
sock="$dockerd_sock"
docker() { "$docker_cli" -H "$sock" "$@"; }

for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
  sleep 0.2
done

# --- the image ---------------------------------------------------------------
echo "== building a 4-layer image" >&2
python3 "$here/pull_image.py" "$work/layout" >&2
ref="$addr/bench/big:v1"
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://$ref" >&2
size_mb="$(du -sm "$work/layout/blobs" | cut -f1)"

# --- cold pulls, paired ----------------------------------------------------------
# skopeo into containers-storage (overlay driver, its own root under the work dir)
# is podman pull's path: it unpacks every layer, as berth and docker do. The
# storage bind-mounts its overlay directory onto itself; this namespace is private.
cs="[overlay@$work/cs+$work/cs-run]"
# A store is emptied by moving it aside, not deleting it: on ext4 without a
# journal, inodes deleted in the last minutes are skipped (and scanned) by the
# next allocations, so a delete before each run makes every run slower than
# the one before. Everything moved aside goes with the work dir at exit.
mkdir -p "$work/trash"
aside() { echo "t=\$(mktemp -d -p $work/trash) && for d in $*; do [ ! -e \$d ] || mv \$d \$t/; done"; }
cs_empty="umount $work/cs/overlay 2>/dev/null; $(aside "$work/cs" "$work/cs-run")"
echo "== cold pulls (hyperfine, $runs runs each)" >&2
hyperfine --runs "$runs" --export-json "$work/cold.json" \
  --prepare "$(aside "$work/berth-root")" \
  --prepare "$(aside "$work/skopeo-oci")" \
  --prepare "$cs_empty" \
  --prepare "$docker_cli -H $sock rmi -f $ref >/dev/null 2>&1 || true" \
  -n berth "$berth --root $work/berth-root pull -q $ref" \
  -n skopeo "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/skopeo-oci:v1" \
  -n skopeo-cs "skopeo copy -q --src-tls-verify=false docker://$ref containers-storage:$cs$ref" \
  -n docker "$docker_cli -H $sock pull -q $ref" >&2

echo "== warm pull (every layer present; hyperfine -N, $warm_runs runs)" >&2
"$berth" --root "$work/berth-root" pull -q "$ref" >/dev/null
hyperfine -N --warmup 3 --runs "$warm_runs" --export-json "$work/warm.json" \
  -n "berth warm" "$berth --root $work/berth-root pull -q $ref" >&2

echo "== berth save | docker load" >&2
docker rmi -f "$ref" >/dev/null 2>&1 || true
"$berth" --root "$work/berth-root" save "$ref" | docker load >&2
berth_id="$("$berth" --root "$work/berth-root" images -q --no-trunc | head -n1)"
docker_id="$(docker image inspect -f '{{.Id}}' "$ref")"
[ "$berth_id" = "$docker_id" ] && load_ok="same image id ($berth_id)" || load_ok="MISMATCH: berth $berth_id, docker $docker_id"
echo "   docker load: $load_ok" >&2

# --- report ------------------------------------------------------------------
export work runs warm_runs size_mb load_ok write_docs repo
export berth_version="$("$berth" --version) ($(cd "$repo" && git rev-parse --short HEAD))"
export skopeo_version="$(skopeo --version)"
export docker_version="$(dockerd --version)"
python3 "$here/pull_report.py"
