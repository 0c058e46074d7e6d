#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine: installs the system packages,
# builds berth (static release binaries), and runs a demo container from a busybox rootfs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

./scripts/install-deps.sh
# Static, non-PIE release binaries (why: scripts/build-static.sh).
bin="$(dirname "$(./scripts/build-static.sh | tail -n1)")"

echo
echo "== built: $bin/berth-runtime, $bin/berth and $bin/berth-shim"
"$bin/berth-runtime" --version

demo="$(mktemp -d /tmp/berth-demo.XXXXXX)"
state="$(mktemp -d /run/berth-demo-state.XXXXXX)"
trap 'rm -rf "$demo" "$state"' EXIT
mkdir -p "$demo/rootfs/bin"
cp /bin/busybox "$demo/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$demo/rootfs/bin/$applet"
done
"$bin/berth-runtime" spec --bundle "$demo"
python3 - "$demo/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    "echo \"pid inside: $$\"; echo \"hostname: $(hostname)\"; "
    "echo \"network devices: $(ls /sys/class/net)\"; "
    "echo \"memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\"; "
    "touch /etc/x 2>/dev/null || echo 'root filesystem: read-only'"]
c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
json.dump(c, open(path, "w"), indent=2)
PY
echo
echo "== berth-runtime run: an isolated busybox container"
unshare --mount --propagation private -- "$bin/berth-runtime" --root "$state" run --bundle "$demo" demo

# The main job: an image, a container from it with a published port, and
# the port answering. In a private mount and network namespace, so the demo
# leaves nothing on this machine (its root and run root are temporary).
echo
echo "== berth: an image from the same rootfs, a web server on a published port"
tar -C "$demo/rootfs" -cf "$demo/rootfs.tar" .
unshare --mount --net --propagation private -- bash -euo pipefail -c '
  ip link set lo up
  b=("$1" --root "$2/root" --run-root "$2/run")
  "${b[@]}" import "$3" demo:latest >/dev/null
  "${b[@]}" run --rm demo:latest ip -4 -o addr show eth0
  "${b[@]}" run -d --name web -p 8080:80 demo:latest \
    sh -c "mkdir -p /www && echo served by berth > /www/index.html && exec httpd -f -p 80 -h /www" >/dev/null
  "${b[@]}" ps
  for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8080/ && break; sleep 0.1; done
  "${b[@]}" rm -f web >/dev/null
' demo "$bin/berth" "$state" "$demo/rootfs.tar"
echo
echo "Done. Run the tests with: ./scripts/test.sh"
