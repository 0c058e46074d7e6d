#!/usr/bin/env bash
# Throughput through a published port: a busybox httpd in a berth container
# serves a large file; curl on the host fetches it through the published
# port (127.0.0.1 and the bridge's address) and from the container's own
# address directly. With dockerd installed, the same container under Docker
# is fetched through Docker's published port in the same run.
#
#   bench/port.sh [SIZE_MIB]        (default 512)
#
# Target (issue 5): through the published port at least 90 % of the direct
# throughput, and no worse than Docker's published port. Also printed: the
# CPU time the machine spends per GB on each path (all CPUs' busy time from
# /proc/stat across each fetch: curl, httpd and the kernel's network work,
# plus whatever else runs meanwhile), which says what the NAT of a published
# port costs when the CPUs are busy with something else.
#
# Needs root. Everything runs in a throwaway network and mount namespace
# (unshare): berth's bridge and rules, dockerd's docker0 and iptables rules
# never touch the host's. Environment: BERTH (default: the static release build of
# scripts/build-static.sh), RUNS (fetches per path, default 9).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" = 0 ] || { echo "port.sh: needs root" >&2; exit 1; }
if [ "${BERTH_BENCH_UNSHARED:-}" != 1 ]; then
  exec unshare -m -n --propagation private -- env BERTH_BENCH_UNSHARED=1 bash "$0" "$@"
fi
ip link set lo up
size="${1:-512}"
runs="${RUNS:-9}"
berth="${BERTH:-$(dirname "$("$repo/scripts/build-static.sh" | tail -n1)")/berth}"
[ -x "$berth" ] || { echo "port.sh: $berth is not executable" >&2; exit 1; }
work="$(mktemp -d /tmp/berth-portbench.XXXXXX)"
state="$(mktemp -d /run/berth-portbench.XXXXXX)"
# /run is a tmpfs on the systems berth runs on (not on every build machine): so is the
# state here, for berth and the tools it is measured against alike.
mount -t tmpfs -o mode=700 tmpfs "$state"
B=("$berth" --root "$work/root" --run-root "$state/berth")
# shellcheck source=lib/dockerd.sh
. "$here/lib/dockerd.sh"
D=(docker -H "unix://$work/docker.sock")
cleanup() {
  local c
  for c in $("${B[@]}" ps -aq --no-trunc 2>/dev/null || true); do "${B[@]}" rm -f -v "$c" >/dev/null 2>&1 || true; done
  if [ -n "$dockerd_pid" ]; then
    "${D[@]}" rm -f bench-web >/dev/null 2>&1 || true
  fi
  dockerd_stop
  umount "$state" 2>/dev/null || true
  rm -rf "$work" "$state" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/www"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh httpd dd; do ln -sf busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench:latest >/dev/null
serve="dd if=/dev/zero of=/www/big bs=1M count=$size 2>/dev/null && exec httpd -f -p 80 -h /www"

# Waits until URL serves the whole file.
ready() {
  local i
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{size_download}' "$1" || true)" = "$((size * 1024 * 1024))" ] && return 0
    sleep 0.2
  done
  echo "port.sh: $1 never served the file" >&2
  return 1
}

# Busy time of all CPUs so far, in clock ticks (user+nice+system+irq+softirq).
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
hz="$(getconf CLK_TCK)"

# One fetch of URL: "MB/s CPU-seconds-per-GB".
speed() {
  local b0 b1 out
  b0="$(busy)"
  out="$(curl -s -o /dev/null -w '%{speed_download} %{size_download}' "$1")"
  b1="$(busy)"
  echo "$out" | awk -v t=$((b1 - b0)) -v hz="$hz" '{printf "%.1f %.3f\n", $1 / 1e6, t / hz / ($2 / 1e9)}'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

"${B[@]}" run -d --name web -p 18080:80 bench sh -c "$serve" >/dev/null
ip_direct="$("${B[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' web)"
gateway="$("${B[@]}" inspect -f '{{.NetworkSettings.Gateway}}' web)"
urls=("http://$ip_direct/big" "http://127.0.0.1:18080/big" "http://$gateway:18080/big")
for u in "${urls[@]}"; do ready "$u"; done
# Rounds of one fetch per path, so load that comes and goes hits each alike.
for _ in $(seq 1 "$runs"); do
  for k in 0 1 2; do echo "$k $(speed "${urls[$k]}")"; done
done >"$work/speeds"
pick() { awk -v k="$1" -v f="$2" '$1 == k {print $f}' "$work/speeds" | median; }
direct="$(pick 0 2)"
published="$(pick 1 2)"
published_gw="$(pick 2 2)"
echo "berth direct ($ip_direct:80):         $direct MB/s, $(pick 0 3) CPU-s/GB"
echo "berth published (127.0.0.1:18080):    $published MB/s, $(pick 1 3) CPU-s/GB"
echo "berth published ($gateway:18080):    $published_gw MB/s, $(pick 2 3) CPU-s/GB"

docker_published=""
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  dockerd_start "$work"
  "${B[@]}" save -o "$work/bench.tar" bench:latest
  "${D[@]}" load -q -i "$work/bench.tar" >/dev/null
  "${D[@]}" run -d --name bench-web -p 18081:80 bench:latest sh -c "$serve" >/dev/null
  ready "http://127.0.0.1:18081/big"
  for _ in $(seq 1 "$runs"); do speed "http://127.0.0.1:18081/big"; done >"$work/docker-speeds"
  docker_published="$(awk '{print $1}' "$work/docker-speeds" | median)"
  echo "docker published (127.0.0.1:18081):   $docker_published MB/s, $(awk '{print $2}' "$work/docker-speeds" | median) CPU-s/GB"
fi

python3 - "$direct" "$published" "$published_gw" "${docker_published:-0}" <<'PY'
import sys
direct, pub, pub_gw, docker = map(float, sys.argv[1:])
worst = min(pub, pub_gw)
print(f"published / direct: {worst / direct:.2f} (target >= 0.90)")
if docker:
    print(f"berth published / docker published: {pub / docker:.2f} (target >= 1.00)")
PY
