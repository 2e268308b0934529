#!/usr/bin/env bash
# Make a Docker engine answer on this machine; idempotent. CI calls it before the docker tests.
#
#   1. install docker.io, docker-compose and debootstrap with apt-get when missing;
#   2. when `docker info` fails, start dockerd in the background with --iptables=false
#      (containers that must not reach anything but each other and 127.0.0.1 need no NAT rules;
#      it also works in CI containers without the iptables modules), logging to a file;
#   3. wait until `docker info` answers, else print the log tail and exit 1.
#
# Environment: DOCKERD_LOG (default /var/log/durabench-dockerd.log), DOCKERD_WAIT_S (default 60).
# Needs root (apt-get, dockerd).
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/durabench-dockerd.log}
WAIT_S=${DOCKERD_WAIT_S:-60}

say() { echo "[docker-engine] $*"; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing ${missing[*]} and not root: run as root or install them with apt-get" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  say "engine already answers: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  say "no Docker engine answers and only root can start dockerd here; run this script as root" >&2
  exit 1
fi

pidfile=/var/run/docker.pid
if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "dockerd is running but does not answer yet; waiting"
else
  say "starting dockerd --iptables=false (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  # setsid + nohup: the engine outlives this script and the CI step that ran it.
  setsid nohup dockerd --iptables=false >>"$LOG" 2>&1 </dev/null &
fi

for ((i = 0; i < WAIT_S * 2; i++)); do
  if docker info >/dev/null 2>&1; then
    say "engine ready after ~$((i / 2)) s: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
    exit 0
  fi
  sleep 0.5
done

say "dockerd did not answer within ${WAIT_S} s; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
