#!/usr/bin/env bash
# The Docker engine for the docker backend's tests in CI (.ci/run).
#   scripts/docker-engine.sh start   install docker.io, docker-compose, debootstrap if missing
#                                    (apt-get, under flock), start dockerd unless an engine answers
#   scripts/docker-engine.sh stop    stop the dockerd that `start` started (nothing else)
# Without root (and without sudo) it says so and returns 0: the docker tests then skip, saying why.
set -euo pipefail
state="${TMPDIR:-/tmp}/invoice-chaos-dockerd.pid"
log="${TMPDIR:-/tmp}/invoice-chaos-dockerd.log"
apt_lock="${APT_LOCK:-/tmp/invoice-chaos-apt.lock}"
packages=(docker.io docker-compose debootstrap)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 97; fi
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "docker-engine: installing ${missing[*]} (apt-get)"
    if ! as_root flock "$apt_lock" sh -c "apt-get -o DPkg::Lock::Timeout=600 update -qq && \
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq ${missing[*]}"; then
      echo "docker-engine: could not install ${missing[*]} (needs root or sudo); the docker tests will skip" >&2
      return 0
    fi
  fi
  if engine_answers; then
    echo "docker-engine: an engine is already running; using it (and leaving it running)"
    return 0
  fi
  if [ ! -x /usr/sbin/dockerd ] && ! command -v dockerd >/dev/null; then
    echo "docker-engine: dockerd is not installed; the docker tests will skip" >&2
    return 0
  fi
  echo "docker-engine: starting dockerd (log: $log)"
  if ! as_root sh -c "nohup dockerd >'$log' 2>&1 & echo \$! >'$state'"; then
    echo "docker-engine: cannot start dockerd (needs root or sudo); the docker tests will skip" >&2
    return 0
  fi
  for _ in $(seq 1 60); do
    engine_answers && { echo "docker-engine: dockerd is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"; return 0; }
    sleep 1
  done
  echo "docker-engine: dockerd did not answer within 60 s; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 0
}

stop() {
  [ -f "$state" ] || return 0
  local pid
  pid="$(cat "$state")"
  echo "docker-engine: stopping the dockerd it started (pid $pid)"
  as_root kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    as_root kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  as_root rm -f "$state" || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
