#!/usr/bin/env bash
# Paired benchmark: `berth-runtime exec` vs `runc exec` of `true` into a running container.
#
#   bench/exec.sh
#
# Starts one busybox container (`sleep`) with each runtime, from the same bundle, then times
# `<runtime> --root R exec ID true` for both in one hyperfine invocation (-N, warmup). Prints
# the medians and the berth/runc ratio; the target of issue 7 is a ratio <= 0.5.
#
# Environment: BERTH_RUNTIME (a berth-runtime binary; default: build it with
# scripts/build-static.sh), RUNC (default: runc), RUNS (default 100), WARMUP (default 5).
#
# Needs root. Runs in a private mount namespace (re-execs itself under `unshare -m`); state
# roots live in a fresh directory under /run (tmpfs), the bundle in a fresh directory under
# /tmp; both are removed at exit, after deleting the containers in those roots.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

for a in "$@"; do
  case "$a" in
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "exec.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "exec.sh: needs root (containers, cgroups, mount namespaces)" >&2
  exit 1
fi
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi

for tool in hyperfine python3 "${RUNC:-runc}"; do
  command -v "$tool" >/dev/null || {
    echo "exec.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done
[ -x /bin/busybox ] || { echo "exec.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }

runs="${RUNS:-100}"
warmup="${WARMUP:-5}"
runc_bin="$(command -v "${RUNC:-runc}")"
berth="${BERTH_RUNTIME:-}"
if [ -z "$berth" ]; then
  berth="$("$repo/scripts/build-static.sh" | tail -n1)"
fi
[ -x "$berth" ] || { echo "exec.sh: $berth is not executable" >&2; exit 1; }

work="$(mktemp -d /tmp/berth-bench.XXXXXX)"
state="$(mktemp -d /run/berth-bench.XXXXXX)"
# /run is a tmpfs on the systems berth runs on (not on every build machine): so is the
# state here, for berth and the tools it is measured against alike.
mount -t tmpfs -o mode=700 tmpfs "$state"
bundle="$work/bundle"
broot="$state/berth"
rroot="$state/runc"
mkdir -p "$broot" "$rroot"

cleanup() {
  local id
  # Only containers in our own, fresh state roots: nothing else is touched.
  for id in $("$berth" --root "$broot" list -q 2>/dev/null || true); do
    "$berth" --root "$broot" delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $("$runc_bin" --root "$rroot" list -q 2>/dev/null || true); do
    "$runc_bin" --root "$rroot" delete -f "$id" >/dev/null 2>&1 || true
  done
  umount "$state" 2>/dev/null || true
  rm -rf "$work" "$state"
}
trap cleanup EXIT
child=""
interrupted() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit 130
}
trap interrupted INT TERM
step() { "$@" & child=$!; wait "$child"; child=""; }

# --- bundle and the two running containers --------------------------------------------------
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"
done
(cd "$bundle" && "$berth" spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "1000000"]
json.dump(c, open(p, "w"), indent=2)
EOF
# Distinct ids: the default cgroupsPath is the id, and the two must not share a cgroup.
bid=bench-exec-berth
rid=bench-exec-runc
"$berth" --root "$broot" run -d -b "$bundle" "$bid" </dev/null >/dev/null
"$runc_bin" --root "$rroot" run -d -b "$bundle" "$rid" </dev/null >/dev/null

# Sanity: both must actually exec into their container before we time them.
[ "$("$berth" --root "$broot" exec "$bid" hostname)" = "$("$runc_bin" --root "$rroot" exec "$rid" hostname)" ]
"$berth" --root "$broot" exec "$bid" true
"$runc_bin" --root "$rroot" exec "$rid" true

# --- exec -----------------------------------------------------------------------------------
echo "== exec true (hyperfine -N, $warmup warmup, $runs runs each)" >&2
step hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$work/exec.json" \
  -n berth "$berth --root $broot exec $bid true" \
  -n runc "$runc_bin --root $rroot exec $rid true" >&2

# --- report ---------------------------------------------------------------------------------
python3 - "$work/exec.json" "$("$runc_bin" --version | head -n1)" \
  "$("$berth" --version | head -n1) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))" <<'EOF'
import json, statistics, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}
ratio = med["berth"] / med["runc"]
print()
print(f"runc: {sys.argv[2]}; berth-runtime: {sys.argv[3]}")
print(f"{'':28} {'berth':>10} {'runc':>10} {'berth/runc':>10}")
print(f"{'exec true: median wall time':28} {med['berth']:>8.2f} ms {med['runc']:>7.2f} ms {ratio:>10.3f}")
ok = ratio <= 0.5
print(f"\ntarget: exec ratio {ratio:.3f} {'<=' if ok else '>'} 0.5 ({'met' if ok else 'NOT met'})")
EOF
