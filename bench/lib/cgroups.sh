# Sourced by the benchmarks that give other engines a cgroup parent of their own.
#
#   cgroup_remove NAME   removes /sys/fs/cgroup/*/NAME in every hierarchy, deepest first
#
# On this host some of /sys/fs/cgroup's entries (hugetlb, net_cls, perf_event...) are plain
# directories on its tmpfs, not cgroup hierarchies; podman still makes its cgroup paths there
# and writes `tasks` files into them. Those are removed as ordinary files, real cgroups with
# rmdir (retried while their last process is still exiting).
cgroup_remove() {
  local name="$1" d i
  for d in /sys/fs/cgroup/*/"$name"; do
    [ -d "$d" ] || continue
    case "$(stat -f -c %T "$d")" in
      cgroupfs|cgroup2fs)
        for i in $(seq 1 50); do
          find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
          [ -d "$d" ] || break
          sleep 0.1
        done ;;
      *) rm -rf "$d" ;;
    esac
  done
}
