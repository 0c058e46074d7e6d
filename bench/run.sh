#!/usr/bin/env bash
# Paired benchmark of the engine: `berth run --rm --network none IMAGE true` against `runc run`
# of the same rootfs as a bare bundle, and the same berth run on the default bridge network
# (what networking adds), in one hyperfine run; and the memory of an idle container's
# supervisor (its RSS: berth-shim) next to Podman's conmon and Docker's containerd-shim, each
# parenting the same `sleep` (skipped, and said so, when podman or dockerd is not installed).
#
#   bench/run.sh
#
# Environment: BERTH (a berth binary with berth-shim beside it; default: the static release build
# of scripts/build-static.sh),
# RUNC (default: runc), RUNS (default 60), WARMUP (default 5).
#
# Targets (issue 4): berth run --rm at most 0.4x of runc run and 20x faster than docker run --rm;
# supervisor RSS at most 1 MiB.
# (issue 5): on the default network at most 5 ms slower than with --network none.
# Needs root. Runs in a private mount and network namespace (the bridge and its rules never
# touch the host's); every state root is a fresh temp directory, removed at exit with
# whatever containers it holds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m -n --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi
ip link set lo up
for tool in hyperfine python3 "${RUNC:-runc}"; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
runs="${RUNS:-60}"
warmup="${WARMUP:-5}"
runc_bin="$(command -v "${RUNC:-runc}")"
berth="${BERTH:-$(dirname "$("$repo/scripts/build-static.sh" | tail -n1)")/berth}"
[ -x "$berth" ] && [ -x "$(dirname "$berth")/berth-shim" ] || {
  echo "run.sh: $berth or the berth-shim beside it is missing" >&2; exit 1; }

work="$(mktemp -d /tmp/berth-runbench.XXXXXX)"
state="$(mktemp -d /run/berth-runbench.XXXXXX)"
# /run is a tmpfs on the systems berth runs on (not on every build machine): so is the
# state here, for berth and the tools it is measured against alike.
mount -t tmpfs -o mode=700 tmpfs "$state"
root="$work/root"
run_root="$state/berth"
rroot="$state/runc"
bundle="$work/bundle"
B=("$berth" --root "$root" --run-root "$run_root")
P=(podman --root "$work/podman" --runroot "$state/podman" --tmpdir "$state/libpod"
   --runtime "$runc_bin" --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
D=(docker -H "unix://$work/docker.sock")
cgroup="berth-bench-run-$$"
podman_used=0
. "$here/lib/dockerd.sh"
. "$here/lib/cgroups.sh"
cleanup() {
  local c
  for c in $("${B[@]}" ps -aq --no-trunc 2>/dev/null || true); do "${B[@]}" rm -f -v "$c" >/dev/null 2>&1 || true; done
  [ "$podman_used" = 0 ] || "${P[@]}" rm -f -t 0 idle >/dev/null 2>&1 || true
  [ -z "$dockerd_pid" ] || "${D[@]}" rm -f idle >/dev/null 2>&1 || true
  dockerd_stop
  cgroup_remove "$cgroup"
  for c in $("$runc_bin" --root "$rroot" list -q 2>/dev/null || true); do "$runc_bin" --root "$rroot" delete -f "$c" >/dev/null 2>&1 || true; done
  umount "$state" 2>/dev/null || true
  rm -rf "$work" "$state"
}
trap cleanup EXIT

# One busybox rootfs: imported as an image for berth, used as-is as runc's bundle.
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh true sleep echo cat; do ln -sf busybox "$bundle/rootfs/bin/$a"; done
tar -C "$bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench:latest >/dev/null
(cd "$bundle" && "$runc_bin" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open(p, "w"))
PY
"${B[@]}" run --rm --network none bench true
"${B[@]}" run --rm bench true
"$runc_bin" --root "$rroot" run -b "$bundle" bench-sanity

echo "== berth run --rm (none, bridge) vs runc run (true), $runs runs each" >&2
hyperfine -N -w "$warmup" -r "$runs" --export-json "$work/run.json" \
  -n "berth run --rm" "${B[*]} run --rm --network none bench true" \
  -n "berth run --rm (bridge)" "${B[*]} run --rm bench true" \
  -n "runc run" "$runc_bin --root $rroot run -b $bundle bench-run" >&2
python3 - "$work/run.json" <<'PY'
import json, statistics, sys
r = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open(sys.argv[1]))["results"]}
b, n, c = r["berth run --rm"], r["berth run --rm (bridge)"], r["runc run"]
print(f"run true: berth run --rm --network none {b:.2f} ms, runc run {c:.2f} ms, ratio {b / c:.2f} (target <= 0.40)")
print(f"default network: {n:.2f} ms, {n - b:+.2f} ms against --network none (target <= +5 ms)")
PY

# Memory of an idle container's supervisor: what stays resident per running container.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
ppid() { awk '{print $4}' "/proc/$1/stat"; }
"${B[@]}" run -d --network none --name idle bench sleep 1000 >/dev/null
id="$("${B[@]}" inspect --format '{{.Id}}' idle)"
sup="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['supervisor_pid'])" "$root/containers/$id/state.json")"
berth_rss="$(rss "$sup")"
echo "berth: $(tr '\0' ' ' <"/proc/$sup/cmdline" | cut -d' ' -f1) RSS ${berth_rss} KiB (target <= 1024 KiB)"
"${B[@]}" rm -f idle >/dev/null

if command -v podman >/dev/null && command -v conmon >/dev/null; then
  # Podman keeps blobs and temporary files under /var/lib and /var/tmp whatever its --root:
  # both are private tmpfs mounts in this script's mount namespace.
  mount -t tmpfs tmpfs /var/tmp && mount -t tmpfs tmpfs /var/lib/containers
  podman_used=1
  "${P[@]}" import -q "$work/rootfs.tar" bench >/dev/null
  # Podman's default ulimits exceed this host's hard limits.
  "${P[@]}" run -d --name idle --network none --cgroup-parent "/$cgroup" \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 bench sleep 1000 >/dev/null
  conmon="$(ppid "$("${P[@]}" inspect -f '{{.State.Pid}}' idle)")"
  echo "podman: $(cat "/proc/$conmon/comm") RSS $(rss "$conmon") KiB"
  "${P[@]}" rm -f -t 0 idle >/dev/null
else
  echo "podman: not installed (scripts/install-deps.sh), conmon not measured"
fi

if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  dockerd_start "$work" --bridge=none --iptables=false --ip6tables=false --cgroup-parent "/$cgroup"
  "${D[@]}" import "$work/rootfs.tar" bench >/dev/null
  "${D[@]}" run -d --name idle --network none bench sleep 1000 >/dev/null
  shim="$(ppid "$("${D[@]}" inspect -f '{{.State.Pid}}' idle)")"
  echo "docker: $(cat "/proc/$shim/comm") RSS $(rss "$shim") KiB"
  "${D[@]}" rm -f idle >/dev/null
  # Issue 4's other target: at least 20x faster than `docker run --rm`, paired.
  echo "== berth run --rm vs docker run --rm (none, true), ${DOCKER_RUNS:-15} runs each" >&2
  hyperfine -N -w 2 -r "${DOCKER_RUNS:-15}" --export-json "$work/docker.json" \
    -n "berth run --rm" "${B[*]} run --rm --network none bench true" \
    -n "docker run --rm" "${D[*]} run --rm --network none bench true" >&2
  python3 - "$work/docker.json" <<'PY'
import json, statistics, sys
r = {x["command"]: statistics.median(x["times"]) * 1000 for x in json.load(open(sys.argv[1]))["results"]}
b, d = r["berth run --rm"], r["docker run --rm"]
print(f"docker run --rm: {d:.1f} ms, berth run --rm {b:.2f} ms: berth {d / b:.1f}x faster (target >= 20x)")
PY
else
  echo "docker: dockerd not installed (scripts/install-deps.sh), containerd-shim not measured"
fi
