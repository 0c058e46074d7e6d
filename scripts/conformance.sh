#!/usr/bin/env bash
# Runs runc's own bats integration tests (tests/integration/*.bats) against berth-runtime, runc
# and crun, offline, outside this repository, and prints how many pass, fail and skip for each.
#
#   scripts/conformance.sh RUNC_GIT_DIR [BATS_FILE...]
#
# RUNC_GIT_DIR: a clone (or bare mirror) of github.com/opencontainers/runc. The tests are taken
# at RUNC_TAG (default v1.1.5, the version of Debian bookworm's runc, so that runc itself is
# measured against its own tests). BATS_FILE: run only these files (names under
# tests/integration, e.g. `exec.bats`); default every file.
#
# What it does, in a fresh directory under /tmp (kept, printed at the end; TAP output per
# runtime is there): exports the tree at RUNC_TAG; builds the test helpers (recvtty,
# seccompagent, sd-helper) with Debian's Go from runc's vendor/ directory (GOPROXY=off);
# replaces get-images.sh, which would download images, by one that names a busybox rootfs
# made from Debian's busybox-static (also used where the tests want Debian); then runs bats
# once per runtime with RUNC=<binary>, in a private mount and network namespace, under a pty.
#
# Environment: BERTH_RUNTIME (default: build with scripts/build-static.sh), RUNC_TAG,
# RUNTIMES (default "berth runc crun"), BATS_JOBS (parallel bats jobs, default 1),
# HANG_LIMIT (seconds after which a runtime command of a test is killed, default 90).
# Needs root; scripts/install-deps.sh installs bats, jq, golang-go, runc and crun.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,21p' "$0"; exit 2; }
src="$1"
shift
files=("$@")
tag="${RUNC_TAG:-v1.1.5}"
runtimes="${RUNTIMES:-berth runc crun}"

[ "$(id -u)" = 0 ] || { echo "conformance.sh: needs root" >&2; exit 1; }
for tool in bats jq gawk go git runc crun unshare script pgrep; do
  command -v "$tool" >/dev/null || {
    echo "conformance.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done
berth="${BERTH_RUNTIME:-}"
if [ -z "$berth" ]; then
  berth="$("$repo/scripts/build-static.sh" | tail -n1)"
fi
berth="$(realpath "$berth")"

work="$(mktemp -d /tmp/berth-conformance.XXXXXX)"
tree="$work/runc"
mkdir -p "$tree"
git --git-dir="$(git -C "$src" rev-parse --absolute-git-dir 2>/dev/null || echo "$src")" archive "$tag" |
  tar -x -C "$tree"

# --- helpers, built offline from vendor/ -----------------------------------------------------
(
  cd "$tree"
  export GOFLAGS=-mod=vendor GOPROXY=off GOCACHE="$work/gocache" GOPATH="$work/gopath"
  for h in recvtty seccompagent sd-helper; do
    [ -d "contrib/cmd/$h" ] || continue
    go build -o "contrib/cmd/$h/$h" "./contrib/cmd/$h" >&2 ||
      echo "conformance.sh: helper $h did not build; tests needing it will fail" >&2
  done
)

# --- the busybox image ------------------------------------------------------------------------
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,root,home,var,usr/bin}
install -d -m 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"
done
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
testdata="$tree/tests/integration/testdata"
tar -C "$rootfs" --numeric-owner -cf "$testdata/busybox.tar" .
cat >"$tree/tests/integration/get-images.sh" <<EOF
#!/bin/bash
# Replaced by berth's scripts/conformance.sh: no downloads; Debian's busybox-static stands in
# for both images.
echo BUSYBOX_IMAGE=$testdata/busybox.tar
echo DEBIAN_IMAGE=$testdata/busybox.tar
EOF

# --- run --------------------------------------------------------------------------------------
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(cd "$tree/tests/integration" && ls -- *.bats)
fi
declare -A bin=([berth]="$berth" [runc]="$(command -v runc)" [crun]="$(command -v crun)")
summary="$work/summary.txt"
printf '%-8s %-28s %6s %6s %6s %6s\n' runtime version tests pass fail skip >"$summary"
for rt in $runtimes; do
  tap="$work/$rt.tap"
  echo "== $rt (${bin[$rt]}): ${#files[@]} bats files" >&2
  (
    cd "$tree/tests/integration"
    # A private mount and network namespace: whatever a failing test leaves mounted or
    # configured dies with it. Containers, cgroups and temp dirs are the tests' own, removed
    # by their teardown.
    # The tests expect a terminal (runc spec's default is terminal: true and `run` then uses
    # the caller's /dev/tty): util-linux `script` gives them a pty.
    export RUNC="${bin[$rt]}"
    # bats makes its run directories under TMPDIR: every runtime command of a test names
    # one (`--root $TMPDIR/bats-run-*/...`), which is how the watchdog below finds them.
    export TMPDIR="$work/tmp"
    mkdir -p "$TMPDIR"
    # The user-namespace tests' mapped root must get through to its bundle (mktemp made these 0700).
    chmod a+x "$work" "$TMPDIR"
    # A runtime command that hangs (waiting for ever on something it does not support) is
    # killed after HANG_LIMIT seconds, and its test fails. (BATS_TEST_TIMEOUT would do it, but
    # its timer is a child of the test's shell, which the tests' bare `wait` then waits for.)
    (
      while sleep 10; do
        for p in $(pgrep -f -- "--root $TMPDIR/bats-run-" || true); do
          age="$(ps -o etimes= -p "$p" 2>/dev/null | tr -d ' ')"
          if [ -n "$age" ] && [ "$age" -gt "${HANG_LIMIT:-90}" ]; then
            echo "watchdog: killed $p after ${age}s: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)" >>"$work/$rt.watchdog"
            kill -KILL "$p" 2>/dev/null || true
          fi
        done
      done
    ) &
    watchdog=$!
    cmd="bats --tap ${BATS_JOBS:+--jobs $BATS_JOBS} ${files[*]} >$tap 2>$work/$rt.stderr"
    unshare --mount --propagation private --net -- script -qec "$cmd" /dev/null </dev/null >/dev/null || true
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
  )
  total=$(grep -cE '^(ok|not ok) ' "$tap" || true)
  skip=$(grep -cE '^ok .* # skip' "$tap" || true)
  fail=$(grep -cE '^not ok ' "$tap" || true)
  pass=$((total - fail - skip))
  version="$("${bin[$rt]}" --version | head -n1)"
  printf '%-8s %-28s %6d %6d %6d %6d\n' "$rt" "${version:0:28}" "$total" "$pass" "$fail" "$skip" >>"$summary"
done
cat "$summary"
echo "conformance.sh: TAP output and the test tree are in $work (remove it when done)" >&2
