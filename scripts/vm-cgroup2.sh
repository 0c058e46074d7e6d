#!/usr/bin/env bash
# Runs one command as root in a throw-away QEMU (TCG) VM whose cgroups are pure v2, and exits
# with that command's status. Used by tests that need a cgroup2-only host.
#
#   scripts/vm-cgroup2.sh [options] [--add HOSTPATH:GUESTPATH]... -- COMMAND [ARGS...]
#
# Options:
#   --add HOST:GUEST   copy a file or directory into the guest; for an ELF file the shared
#                      libraries `ldd` lists (and the loader) are copied too, at the same
#                      paths; directories are copied verbatim (cp -a, symlinks kept)
#   --env NAME=VALUE   export a variable for COMMAND
#   --timeout SECS     hard limit for the whole VM run (default 180)
#   --mem MB           guest memory (default 512)
#   --cache DIR        where the kernel is cached (default: <repo>/target/vm-cache,
#                      or $BERTH_VM_CACHE)
#   --keep             keep the work directory (initramfs, log) and print its path
#
# The kernel is Debian's linux-image-cloud-amd64 (fetched once with `apt-get download` and
# unpacked with `dpkg-deb -x`, never installed); $BERTH_VM_KERNEL overrides it. The guest is a
# busybox initramfs: /proc, /sys, /dev, /tmp are mounted and cgroup2 is at /sys/fs/cgroup.
# No kernel modules are needed: the cloud kernel has the 8250 serial console, initramfs,
# devtmpfs, cgroup2 controllers (memory, pids, cpu, io, cpuset, hugetlb) and BPF built in.
# Boot to the command takes about 3 s under TCG (KVM is not used).
#
# Output: the guest's console on stdout. The command's output sits between the lines
#   @@BERTH-VM-BEGIN@@   and   @@BERTH-VM-EXIT <status>@@
# Exit status: the command's; 77 = skipped (qemu, busybox-static, cpio or the kernel is
# unavailable; the reason is on stderr); 124 = timed out; 125 = the guest never reported.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${BERTH_VM_CACHE:-$repo/target/vm-cache}"
timeout_s=180
mem=512
keep=0
adds=()
envs=()

skip() { echo "vm-cgroup2: skipped: $*" >&2; exit 77; }
die() { echo "vm-cgroup2: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --add) [ $# -ge 2 ] || die "--add needs HOST:GUEST"; adds+=("$2"); shift 2 ;;
    --env) [ $# -ge 2 ] || die "--env needs NAME=VALUE"; envs+=("$2"); shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --cache) cache="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) die "unknown option $1 (the command goes after --)" ;;
  esac
done
[ $# -gt 0 ] || die "no command given; usage: vm-cgroup2.sh [--add HOST:GUEST]... -- COMMAND [ARGS...]"

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || skip "cpio not found (apt-get install cpio)"
busybox=/bin/busybox
[ -x "$busybox" ] || skip "$busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
  skip "$busybox is dynamically linked (apt-get install busybox-static)"
fi

# --- kernel ---------------------------------------------------------------------------------
fetch_kernel() {
  mkdir -p "$cache"
  exec 9>"$cache/lock"
  flock 9
  if [ -s "$cache/vmlinuz" ]; then return 0; fi
  local pkg
  pkg="$(timeout 60 apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')" || true
  [ -n "$pkg" ] || return 1
  (cd "$cache" && rm -f ./*.deb && timeout 300 apt-get download -q "$pkg" >/dev/null 2>&1) || return 1
  rm -rf "$cache/extract"
  dpkg-deb -x "$cache"/"$pkg"_*.deb "$cache/extract" || return 1
  cp "$cache"/extract/boot/vmlinuz-* "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
  rm -rf "$cache/extract"
  echo "$pkg" >"$cache/kernel-package"
}
kernel="${BERTH_VM_KERNEL:-}"
if [ -z "$kernel" ]; then
  fetch_kernel || skip "could not fetch linux-image-cloud-amd64 with apt-get download (offline?)"
  kernel="$cache/vmlinuz"
fi
[ -r "$kernel" ] || skip "kernel $kernel not readable"

# --- initramfs ------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/berth-vm.XXXXXX")"
cleanup() { if [ "$keep" = 1 ]; then echo "vm-cgroup2: kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,run}
cp "$busybox" "$root/bin/busybox"

copy_in() { # host path, guest path; files are dereferenced, directories copied as they are
  mkdir -p "$root/$(dirname "$2")"
  if [ -d "$1" ]; then cp -a "$1" "$root/$2"; else cp -L "$1" "$root/$2"; fi
}
is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
copy_libs() { # ELF file: copy what ldd resolves, at the same paths
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ )]*' | sort -u); do
    [ -e "$root$lib" ] || copy_in "$lib" "$lib"
  done
}
for spec in "${adds[@]}"; do
  host="${spec%%:*}"; guest="${spec#*:}"
  [ "$host" != "$spec" ] && [ -n "$guest" ] || die "--add $spec: expected HOST:GUEST"
  [ -e "$host" ] || die "--add $spec: $host does not exist"
  case "$guest" in /*) ;; *) die "--add $spec: guest path must be absolute" ;; esac
  copy_in "$host" "$guest"
  # Only ELF files added directly get their host libraries: a directory (say, a container
  # rootfs) is copied verbatim, symlinks included, and must bring its own.
  if is_elf "$host"; then copy_libs "$host"; fi
done

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cmdline=""
for a in "$@"; do cmdline+="$(quote "$a") "; done
exports=""
for e in "${envs[@]}"; do
  name="${e%%=*}"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env $e: bad variable name"
  exports+="export $name=$(quote "${e#*=}")"$'\n'
done

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
$exports
echo "@@BERTH-VM-BEGIN@@"
cd /
$cmdline </dev/null
rc=\$?
echo "@@BERTH-VM-EXIT \$rc@@"
sync
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/initrd.cpio"

# --- boot -----------------------------------------------------------------------------------
log="$work/console.log"
start=$(date +%s.%N)
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$mem" \
  -nographic -no-reboot -nic none \
  -kernel "$kernel" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null 2>&1 |
  tr -d '\r' | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
echo "vm-cgroup2: VM ran for $(echo "$end - $start" | bc 2>/dev/null || echo "?")s (qemu exit $qemu_rc)" >&2

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  echo "vm-cgroup2: timed out after ${timeout_s}s" >&2
  exit 124
fi
rc="$(sed -n 's/^@@BERTH-VM-EXIT \([0-9]*\)@@$/\1/p' "$log" | tail -n1)"
if [ -z "$rc" ]; then
  echo "vm-cgroup2: the guest did not report an exit status" >&2
  exit 125
fi
exit "$rc"
