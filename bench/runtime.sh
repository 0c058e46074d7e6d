#!/usr/bin/env bash
# Paired benchmark: berth-runtime vs runc on the same busybox bundle running `true`.
#
#   bench/runtime.sh [--write-docs]
#
# Measures, in one invocation and on one bundle:
#   1. `run` wall time: hyperfine -N, warmup, both commands in the same hyperfine run;
#   2. peak memory (max RSS, KiB, from /usr/bin/time -f %M) of `run`: the runtime process and
#      every process it waited for (its own init helpers and the container's `true`);
#   3. the create + start + delete cycle (through `sh -c`, so both pay the same shell cost);
#   4. `run` of berth, crun and runc side by side, where crun will run (see step 4).
# Prints medians and berth/runc ratios. With --write-docs it also rewrites docs/benchmarks.md
# and, if python3 has matplotlib, docs/runtime-bench.png.
#
# Environment: BERTH_RUNTIME (a berth-runtime binary; default: build it with
# scripts/build-static.sh), RUNC (default: runc), CRUN (default: crun; skipped if absent), RUNS (default 100), CYCLE_RUNS (default 50),
# MEM_RUNS (default 10), WARMUP (default 5).
#
# Needs root. Runs in a private mount namespace (re-execs itself under `unshare -m`); state
# roots live in a fresh directory under /run (tmpfs), the bundle in a fresh directory under
# /tmp; both are removed at exit, after deleting any container left in those roots.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

write_docs=0
for a in "$@"; do
  case "$a" in
    --write-docs) write_docs=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "runtime.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "runtime.sh: needs root (containers, cgroups, mount namespaces)" >&2
  exit 1
fi
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi

for tool in hyperfine python3 /usr/bin/time "${RUNC:-runc}"; do
  command -v "$tool" >/dev/null || {
    echo "runtime.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done
[ -x /bin/busybox ] || { echo "runtime.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }

runs="${RUNS:-100}"
cycle_runs="${CYCLE_RUNS:-50}"
mem_runs="${MEM_RUNS:-10}"
warmup="${WARMUP:-5}"
runc_bin="$(command -v "${RUNC:-runc}")"
berth="${BERTH_RUNTIME:-}"
if [ -z "$berth" ]; then
  berth="$("$repo/scripts/build-static.sh" | tail -n1)"
fi
[ -x "$berth" ] || { echo "runtime.sh: $berth is not executable" >&2; exit 1; }

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
  if [ -n "${crun_bin:-}" ] && [ -d "$state/crun" ]; then
    for id in $("$crun_bin" --root "$state/crun" list -q 2>/dev/null || true); do
      "$crun_bin" --root "$state/crun" delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  umount "$state" 2>/dev/null || true
  rm -rf "$work" "$state"
}
trap cleanup EXIT
# Long steps run in the background so that INT/TERM interrupt the `wait` at once; the handler
# stops that one child (by pid) before cleaning up.
child=""
interrupted() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  exit 130
}
trap interrupted INT TERM
step() { "$@" & child=$!; wait "$child"; child=""; }

# --- bundle ---------------------------------------------------------------------------------
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in $(/bin/busybox --list); do
  # `busybox --list` names busybox itself; linking it would replace the binary with a loop.
  [ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"
done
(cd "$bundle" && "$berth" spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"), indent=2)
EOF

# Sanity: both must actually run the container before we time them.
"$berth" --root "$broot" run -b "$bundle" bench-sanity
"$runc_bin" --root "$rroot" run -b "$bundle" bench-sanity

# --- 1. run ---------------------------------------------------------------------------------
echo "== run (hyperfine -N, $warmup warmup, $runs runs each)" >&2
step hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$work/run.json" \
  -n berth "$berth --root $broot run -b $bundle bench-run" \
  -n runc "$runc_bin --root $rroot run -b $bundle bench-run" >&2

# --- 2. peak memory -------------------------------------------------------------------------
echo "== peak memory (/usr/bin/time -f %M, $mem_runs runs each)" >&2
: >"$work/mem-berth"
: >"$work/mem-runc"
for _ in $(seq 1 "$mem_runs"); do
  /usr/bin/time -f %M -a -o "$work/mem-berth" "$berth" --root "$broot" run -b "$bundle" bench-mem
  /usr/bin/time -f %M -a -o "$work/mem-runc" "$runc_bin" --root "$rroot" run -b "$bundle" bench-mem
done

# --- 3. create + start + delete -------------------------------------------------------------
# `true` may still be running when `start` returns, so delete -f (a no-op kill once stopped).
echo "== create+start+delete (hyperfine -N, sh -c, $cycle_runs runs each)" >&2
cycle() { # runtime binary, root
  echo "sh -c '$1 --root $2 create -b $bundle bench-cycle && $1 --root $2 start bench-cycle && $1 --root $2 delete -f bench-cycle'"
}
step hyperfine -N --warmup "$warmup" --runs "$cycle_runs" --export-json "$work/cycle.json" \
  -n berth "$(cycle "$berth" "$broot")" \
  -n runc "$(cycle "$runc_bin" "$rroot")" >&2

# --- 4. crun, where it will run ---------------------------------------------------------------
# crun refuses this machine's hybrid layout ("cgroups in hybrid mode not supported"), even with
# --cgroup-manager=disabled. Without the cgroup2 mount at /sys/fs/cgroup/unified (it holds only
# hugetlb here) the layout is plain v1, which crun takes. That mount is removed in this script's
# own mount namespace only, after the measurements above, and the three runtimes are timed
# side by side in that view: the same bundle, each creating its v1 cgroups.
crun_bin="$(command -v "${CRUN:-crun}" || true)"
crun_json=""
if [ -n "$crun_bin" ] && { [ ! -d /sys/fs/cgroup/unified ] || umount /sys/fs/cgroup/unified; }; then
  croot="$state/crun"
  mkdir -p "$croot"
  # The same bundle, declaring the spec version runc's own `spec` writes: Debian's crun 1.8
  # refuses 1.2.0 ("unknown version specified"); the other two accept either.
  # Its root is the first bundle's rootfs, by absolute path (runc refuses a symlinked one).
  cbundle="$work/bundle-crun"
  mkdir -p "$cbundle"
  python3 - "$bundle" "$cbundle/config.json" <<'EOF'
import json, os, sys
c = json.load(open(os.path.join(sys.argv[1], "config.json")))
c["ociVersion"] = "1.0.2-dev"
c["root"]["path"] = os.path.join(sys.argv[1], "rootfs")
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
  if "$crun_bin" --root "$croot" run -b "$cbundle" bench-sanity; then
    echo "== run, with crun (cgroup v1 view; hyperfine -N, $warmup warmup, $runs runs each)" >&2
    step hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$work/crun.json" \
      -n berth "$berth --root $broot run -b $cbundle bench-crun" \
      -n crun "$crun_bin --root $croot run -b $cbundle bench-crun" \
      -n runc "$runc_bin --root $rroot run -b $cbundle bench-crun" >&2
    crun_json="$work/crun.json"
  else
    echo "== crun: could not run the bundle; skipped" >&2
  fi
else
  echo "== crun: not installed, or the cgroup2 mount could not be set aside; skipped" >&2
fi

# --- report ---------------------------------------------------------------------------------
runc_version="$("$runc_bin" --version | head -n1)"
crun_version="$([ -n "$crun_bin" ] && "$crun_bin" --version | head -n1 || echo none)"
berth_version="$("$berth" --version | head -n1) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine="$cpu, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
cgroups="$(stat -fc %T /sys/fs/cgroup)"
case "$cgroups" in
  cgroup2fs) cgroups="v2" ;;
  tmpfs) if [ -d /sys/fs/cgroup/unified ]; then cgroups="hybrid"; else cgroups="v1"; fi ;;
esac

python3 - "$work" "$repo" "$write_docs" "$crun_json" <<EOF
import json, os, statistics, sys, datetime
work, repo, write_docs, crun_json = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]

def load(name):
    res = {r["command"]: r for r in json.load(open(os.path.join(work, name)))["results"]}
    return {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}, res

run, run_raw = load("run.json")
cyc, _ = load("cycle.json")
mem = {k: statistics.median(int(x) for x in open(os.path.join(work, "mem-" + k)) if x.strip())
       for k in ("berth", "runc")}
n_run = len(run_raw["berth"]["times"])

rows = [
    ("run \`true\`: median wall time", f"{run['berth']:.2f} ms", f"{run['runc']:.2f} ms", run["berth"] / run["runc"]),
    ("run \`true\`: peak RSS (median)", f"{mem['berth']:.0f} KiB", f"{mem['runc']:.0f} KiB", mem["berth"] / mem["runc"]),
    ("create+start+delete: median", f"{cyc['berth']:.2f} ms", f"{cyc['runc']:.2f} ms", cyc["berth"] / cyc["runc"]),
]
print()
print(f"{'':38} {'berth':>12} {'runc':>12} {'berth/runc':>10}")
for name, b, r, ratio in rows:
    print(f"{name:38} {b:>12} {r:>12} {ratio:>10.3f}")
speed_ok = run["berth"] / run["runc"] <= 0.2
mem_ok = mem["berth"] < mem["runc"]
verdict = (f"run ratio {run['berth'] / run['runc']:.3f} {'<=' if speed_ok else '>'} 0.2 "
           f"({'met' if speed_ok else 'NOT met'}); memory {'below' if mem_ok else 'NOT below'} runc's "
           f"({'met' if mem_ok else 'NOT met'})")
print(f"\ntarget: {verdict}")
crun = None
if crun_json:
    crun = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(crun_json))["results"]}
    crun_line = (f"cgroup v1 view, one hyperfine run: berth {crun['berth']:.2f} ms, crun {crun['crun']:.2f} ms, "
                 f"runc {crun['runc']:.2f} ms; berth/crun {crun['berth'] / crun['crun']:.3f}, "
                 f"crun/runc {crun['crun'] / crun['runc']:.3f}, berth/runc {crun['berth'] / crun['runc']:.3f}")
    print(f"with crun: {crun_line}")

if not write_docs:
    sys.exit(0)

docs = os.path.join(repo, "docs")
os.makedirs(docs, exist_ok=True)
png = None
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, (title, unit, vals) in zip(axes, [
        ("run true", "ms", run), ("create+start+delete", "ms", cyc), ("peak RSS of run", "KiB", mem)]):
        bars = ax.bar(["berth", "runc"], [vals["berth"], vals["runc"]], color=["#2a7fbf", "#999999"])
        ax.set_title(title)
        ax.set_ylabel(f"median, {unit}")
        ax.bar_label(bars, fmt="%.1f" if unit == "ms" else "%.0f")
    fig.suptitle("berth-runtime vs runc (lower is better)")
    fig.tight_layout()
    png = os.path.join(docs, "runtime-bench.png")
    fig.savefig(png, dpi=100)
except ImportError:
    print("matplotlib not available: no plot", file=sys.stderr)

date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines = [
    "# Runtime benchmarks",
    "",
    "berth-runtime against runc, paired on the same busybox bundle running \`true\`, measured by",
    "\`bench/runtime.sh\` in one invocation (private mount namespace, state roots on tmpfs under /run).",
    "",
    f"- date: {date}",
    f"- kernel: {os.uname().release}; cgroups: $cgroups",
    f"- machine: $machine (shared with other builds while measuring)",
    f"- berth-runtime: $berth_version, static release build (\`scripts/build-static.sh\`)",
    f"- runc: $runc_version (Debian)",
    "",
    "| measurement | berth | runc | berth/runc |",
    "|---|---:|---:|---:|",
]
for name, b, r, ratio in rows:
    lines.append(f"| {name} | {b} | {r} | {ratio:.3f} |")
lines += [
    "",
    f"Target of the issue (run ratio <= 0.2, less memory than runc): {verdict}.",
    "",
]
if crun:
    lines += [
        "**With crun** ($crun_version): crun refuses this machine's hybrid cgroups, so a second",
        "hyperfine run times all three in a view without the cgroup2 mount (plain v1; set aside in",
        f"the benchmark's own mount namespace): {crun_line}. The 0.2 target came from a published",
        "benchmark where crun took 0.21 of runc's time; here crun's ratio is the one above.",
        "",
    ]
if png:
    lines += ["![berth-runtime vs runc](runtime-bench.png)", ""]
lines += [
    "## Method",
    "",
    f"- **run**: \`hyperfine -N --warmup $warmup --runs {n_run}\` with both commands in one",
    "  invocation: \`berth-runtime --root R run -b BUNDLE id\` and the same for runc. \`run\`",
    "  deletes the container at exit, so one id serves every iteration.",
    "- **peak RSS**: \`/usr/bin/time -f %M\` around \`run\`, $mem_runs runs each, alternating. This is",
    "  \`ru_maxrss\` from wait4: the largest resident set among the runtime process and the",
    "  processes it reaped (runc's \`runc init\`, berth's init, the container's \`true\`).",
    f"- **create+start+delete**: \`hyperfine -N\` of \`sh -c 'R create ... && R start ... && R delete -f ...'\`,",
    f"  {len(json.load(open(os.path.join(work, 'cycle.json')))['results'][0]['times'])} runs each; both pay the same \`sh\` start-up.",
    "",
    "## Reproduce",
    "",
    "\`\`\`",
    "scripts/install-deps.sh        # runc, hyperfine, time, busybox-static",
    "bench/runtime.sh               # prints the table",
    "bench/runtime.sh --write-docs  # and rewrites this section and runtime-bench.png",
    "\`\`\`",
    "",
    "Knobs: \`RUNS\`, \`CYCLE_RUNS\`, \`MEM_RUNS\`, \`WARMUP\`, \`BERTH_RUNTIME\` (skip the build), \`RUNC\`.",
    "",
]
# Only this section: the file holds the other benchmarks' sections too.
path = os.path.join(docs, "benchmarks.md")
section = "<!-- runtime-bench:start -->\n" + "\n".join(lines).rstrip("\n") + "\n<!-- runtime-bench:end -->"
text = open(path).read() if os.path.exists(path) else ""
if "<!-- runtime-bench:start -->" in text and "<!-- runtime-bench:end -->" in text:
    head, rest = text.split("<!-- runtime-bench:start -->", 1)
    tail = rest.split("<!-- runtime-bench:end -->", 1)[1]
    text = head + section + tail
else:
    text = section + "\n\n" + text
open(path, "w").write(text)
print(f"wrote {os.path.join(docs, 'benchmarks.md')}" + (f" and {png}" if png else ""))
EOF
