# Sourced by the benchmarks that measure Docker next to berth: a dockerd of
# their own, with its data root, exec root, pidfile, socket and log under a
# directory of the caller's, stopped by pid.
#
#   dockerd_start DIR [DOCKERD FLAGS...]   start it, wait until it answers;
#                                         sets dockerd_sock (unix://DIR/docker.sock)
#   dockerd_stop                          stop it (call from the EXIT trap)
#
# DOCKER_CLI: the docker client to ask (default: docker).

dockerd_pid=""
dockerd_sock=""
# dockerd 20.10 writes its trust key to /etc/docker whatever its data root:
# removed again at the end unless it was there before.
dockerd_had_key=0
[ -e /etc/docker/key.json ] && dockerd_had_key=1

dockerd_start() {
  local dir="$1" i
  shift
  dockerd_sock="unix://$dir/docker.sock"
  dockerd --data-root "$dir/docker" --exec-root "$dir/docker-exec" \
    --pidfile "$dir/docker.pid" -H "$dockerd_sock" "$@" >"$dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for i in $(seq 100); do
    "${DOCKER_CLI:-docker}" -H "$dockerd_sock" version >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  echo "dockerd did not start; its log:" >&2
  cat "$dir/dockerd.log" >&2
  return 1
}

dockerd_stop() {
  local i
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for i in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    dockerd_pid=""
  fi
  if [ "$dockerd_had_key" = 0 ]; then rm -f /etc/docker/key.json; fi
  return 0
}
