#!/usr/bin/env bash
# Runs berth's whole test suite: formatting and lints, unit tests, the
# privileged integration tests (real containers, cgroups, mounts, namespaces,
# a registry on 127.0.0.1) and the cgroup v2 tests in a small VM.
#
# Privileged tests need root. They run inside a private mount namespace so
# that a mount leaked by a failing test never reaches the host's.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

./scripts/install-deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# berth-shim's release build is a different program (no std, no C library,
# its own entry point): linted and tested as shipped, too.
cargo clippy --release -p berth-shim --all-targets -- -D warnings

log="$(mktemp /tmp/berth-test.XXXXXX)"
trap 'rm -f "$log"' EXIT
if [ "$(id -u)" -eq 0 ]; then
  # On a root machine nothing may silently skip.
  export BERTH_REQUIRE_PRIVILEGED=1 BERTH_REQUIRE_VM=1
  BERTH_STATIC_RUNTIME="$(./scripts/build-static.sh | tail -n 1)"
  export BERTH_STATIC_RUNTIME
  runner=(unshare --mount --propagation private -- cargo test --workspace --no-fail-fast)
else
  echo "test.sh: not root: privileged tests will report themselves skipped" >&2
  runner=(cargo test --workspace --no-fail-fast)
fi
# berth's bridges and nftables table in the host's network namespace: the
# tests make theirs in namespaces of their own and must leave these alone.
host_net() {
  { ip -o link show 2>/dev/null | grep -E '^[0-9]+: berth' || true
    command -v nft >/dev/null && nft list tables 2>/dev/null | grep -w berth || true; } | sed 's/^[0-9]*: //; s/[:@].*//' | sort
}
host_net_before="$(host_net)"
status=0
"${runner[@]}" 2>&1 | tee "$log" || status=$?
cargo test --release -p berth-shim 2>&1 | tee -a "$log" || status=$?
if [ "$(id -u)" -eq 0 ]; then
  # The container tests again, with the shim as shipped (its release build).
  BERTH_SHIM="$repo/target/release/berth-shim" unshare --mount --propagation private -- \
    cargo test -p berth-cli --test containers 2>&1 | tee -a "$log" || status=$?
fi
if [ "$(host_net)" != "$host_net_before" ]; then
  echo "test.sh: the tests changed berth's links or nftables table in the host's network namespace:" >&2
  diff <(echo "$host_net_before") <(host_net) >&2 || true
  status=1
fi

# One closing line for the whole run: the sum over every test binary.
read -r passed failed < <(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$log")
echo
echo "berth: $passed passed, $failed failed"
exit "$status"
