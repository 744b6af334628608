#!/usr/bin/env bash
# Make a Docker daemon answer for the docker-runtime tests, or say why there is none (exit 1).
#
#   tests/support/start-dockerd.sh [--install]
#
# With --install (and root), Debian's docker.io and busybox-static are installed first with apt-get when
# missing (package registries are the only network here). A daemon that already answers (DOCKER_HOST or
# /var/run/docker.sock) is used as it is. Otherwise, when we are root, dockerd is started in the background as
#   dockerd --iptables=false --bridge=none
# (no image registry is reachable, so no bridge and no NAT are needed: the engine gives every pod a network
# namespace of its own with only loopback) with its log in ${DOCKERD_LOG:-/tmp/dockerd.log}, and the script
# waits for the socket to answer, at most ${DOCKERD_WAIT_SECONDS:-30} seconds.
set -uo pipefail

log=${DOCKERD_LOG:-/tmp/dockerd.log}
wait_seconds=${DOCKERD_WAIT_SECONDS:-30}

answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ "${1:-}" = "--install" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
   && { ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; }; then
  echo "dockerd: installing Debian's docker.io and busybox-static"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null) \
    || { echo "dockerd: apt-get could not install docker.io and busybox-static" >&2; exit 1; }
fi

if command -v docker >/dev/null 2>&1 && answers; then
  echo "dockerd: a daemon answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "dockerd: DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local daemon in its place" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "dockerd: no daemon answers and we are not root, so none can be started here" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd: not installed (apt-get install docker.io, or run this script with --install)" >&2
  exit 1
fi

echo "dockerd: starting (dockerd --iptables=false --bridge=none; log $log)"
nohup dockerd --iptables=false --bridge=none >"$log" 2>&1 </dev/null &
pid=$!
deadline=$((SECONDS + wait_seconds))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "dockerd: exited at start; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "dockerd: no answer on its socket after ${wait_seconds}s; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "dockerd: ready (pid $pid, server $(docker version --format '{{.Server.Version}}' 2>/dev/null))"
