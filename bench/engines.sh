#!/usr/bin/env bash
# Paired benchmarks of berth-runtime under a real engine (issue 7's targets):
#
#   bench/engines.sh
#
#   1. `docker run --runtime berth --rm IMAGE true` against `--runtime runc` (Debian's runc),
#      same dockerd, same busybox image, one hyperfine run (-N, warmup, alternating commands):
#      target: berth's median no slower than runc's (ratio <= 1.0);
#   2. `berth-runtime exec` against `runc exec` of `true` into a running container: this is
#      bench/exec.sh, run with the same berth-runtime binary: target ratio <= 0.5.
# Prints the medians and the berth/runc ratios.
#
# Environment: BERTH_RUNTIME (a berth-runtime binary; default: build it with
# scripts/build-static.sh), RUNS (default 30), WARMUP (default 3), EXEC_RUNS (bench/exec.sh's
# RUNS, default 100).
#
# Needs root, dockerd and docker (docker.io). dockerd runs in a sandbox of its own, as in
# crates/runtime-cli/tests/engines.rs: a new mount, network and pid namespace with tmpfs on /run,
# /dev/shm, /var/lib and /var/tmp, its socket, data and exec roots in a fresh directory under
# /tmp, its containers under a cgroup parent of its own. The sandbox's pid 1 is killed at exit
# (which ends dockerd, its containerd, shims and containers), then the directory and the cgroup
# parent are removed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
. "$here/lib/cgroups.sh"

for a in "$@"; do
  case "$a" in
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "engines.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "engines.sh: needs root (dockerd, containers, namespaces)" >&2
  exit 1
fi
for tool in hyperfine python3 dockerd docker runc unshare nsenter; do
  command -v "$tool" >/dev/null || {
    echo "engines.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done
[ -x /bin/busybox ] || { echo "engines.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }

runs="${RUNS:-30}"
warmup="${WARMUP:-3}"
berth="${BERTH_RUNTIME:-}"
if [ -z "$berth" ]; then
  berth="$("$repo/scripts/build-static.sh" | tail -n1)"
fi
[ -x "$berth" ] || { echo "engines.sh: $berth is not executable" >&2; exit 1; }
berth="$(realpath "$berth")"

work="$(mktemp -d /tmp/berth-bench-engines.XXXXXX)"
cgroup="berth-bench-engines-$$"
sandbox=""
cleanup() {
  # Killing unshare kills the sandbox's pid 1 (--kill-child) and with it every process inside.
  if [ -n "$sandbox" ]; then
    kill -KILL "$sandbox" 2>/dev/null || true
    wait "$sandbox" 2>/dev/null || true
  fi
  # nsenter ends with dockerd; reaping it here keeps bash's job report quiet.
  [ -z "${daemon:-}" ] || wait "$daemon" 2>/dev/null || true
  for _ in $(seq 1 100); do
    [ -n "${init:-}" ] && [ -d "/proc/$init" ] || break
    sleep 0.1
  done
  cgroup_remove "$cgroup"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- image: a busybox rootfs as a docker-archive ---------------------------------------------
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/proc" "$work/rootfs/sys" \
  "$work/rootfs/dev" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$work/rootfs/etc/passwd"
python3 - "$work" <<'EOF'
import hashlib, io, json, subprocess, sys, tarfile
work = sys.argv[1]
layer = subprocess.run(["tar", "-C", f"{work}/rootfs", "--numeric-owner", "-cf", "-", "."],
                       check=True, stdout=subprocess.PIPE).stdout
lh = hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
ch = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": ch + ".json", "RepoTags": ["berth-bench/busybox:latest"],
                        "Layers": [lh + "/layer.tar"]}]).encode()
with tarfile.open(f"{work}/image.tar", "w") as t:
    for name, data in [("manifest.json", manifest), (ch + ".json", config), (lh + "/layer.tar", layer)]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
EOF
image=berth-bench/busybox:latest

# --- dockerd in its sandbox -----------------------------------------------------------------
unshare --mount --propagation private --net --pid --fork --kill-child=SIGKILL --mount-proc -- \
  sh -c "mount -t tmpfs -o mode=755 tmpfs /run && mount -t tmpfs tmpfs /dev/shm \
    && mount -t tmpfs -o mode=755 tmpfs /var/lib && mount -t tmpfs tmpfs /var/tmp \
    && touch $work/ready && while :; do sleep 3600 & wait \$!; done" </dev/null &
sandbox=$!
init=""
for _ in $(seq 1 100); do
  init="$(cat "/proc/$sandbox/task/$sandbox/children" 2>/dev/null || true)"
  init="${init%% *}"
  [ -n "$init" ] && [ -e "$work/ready" ] && break
  sleep 0.1
done
[ -e "$work/ready" ] || { echo "engines.sh: the sandbox did not come up" >&2; exit 1; }

echo "{\"deprecated-key-path\": \"$work/key.json\"}" >"$work/daemon.json"
nsenter -t "$init" --mount --net --pid -- dockerd --config-file "$work/daemon.json" \
  --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
  -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip6tables=false \
  --storage-driver overlay2 --cgroup-parent "/$cgroup" \
  --add-runtime "berth=$berth" </dev/null >"$work/dockerd.log" 2>&1 &
daemon=$!
docker=(docker -H "unix://$work/docker.sock")
for _ in $(seq 1 300); do
  "${docker[@]}" version >/dev/null 2>&1 && break
  sleep 0.1
done
"${docker[@]}" version >/dev/null || { cat "$work/dockerd.log" >&2; exit 1; }
"${docker[@]}" load -i "$work/image.tar" >/dev/null

# Sanity: both runtimes run the image, and the berth one really is berth-runtime.
[ "$("${docker[@]}" run --runtime berth --rm "$image" echo ok)" = ok ]
[ "$("${docker[@]}" run --runtime runc --rm "$image" echo ok)" = ok ]

# --- 1. docker run --rm true ----------------------------------------------------------------
echo "== docker run --rm true (hyperfine -N, $warmup warmup, $runs runs each)" >&2
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$work/docker.json" \
  -n berth "${docker[*]} run --runtime berth --rm $image true" \
  -n runc "${docker[*]} run --runtime runc --rm $image true" >&2

python3 - "$work/docker.json" "$("${docker[@]}" version --format '{{.Server.Version}}')" \
  "$(runc --version | head -n1)" \
  "$("$berth" --version | head -n1) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))" <<'EOF'
import json, statistics, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}
ratio = med["berth"] / med["runc"]
print()
print(f"dockerd {sys.argv[2]}; runc: {sys.argv[3]}; berth-runtime: {sys.argv[4]}")
print(f"{'':34} {'berth':>10} {'runc':>10} {'berth/runc':>10}")
print(f"{'docker run --rm true: median':34} {med['berth']:>7.1f} ms {med['runc']:>7.1f} ms {ratio:>10.3f}")
ok = ratio <= 1.0
print(f"target: docker run ratio {ratio:.3f} {'<=' if ok else '>'} 1.0 ({'met' if ok else 'NOT met'})")
EOF

# --- 2. exec --------------------------------------------------------------------------------
echo
echo "== berth-runtime exec vs runc exec (bench/exec.sh)" >&2
BERTH_RUNTIME="$berth" RUNS="${EXEC_RUNS:-100}" WARMUP="$warmup" "$here/exec.sh"
