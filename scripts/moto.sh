#!/usr/bin/env bash
# The local AWS stand-in: moto's server from the project's own venv.
#   scripts/moto.sh start [--watch PID]  start on 127.0.0.1, a free port; print the URL
#   scripts/moto.sh url                  print the URL of the running server
#   scripts/moto.sh stop                 stop the server this script started (by PID)
# State lives in $MOTO_STATE_DIR (default .moto/): pid, url, log.
# IAM enforcement starts off so accounts can be bootstrapped; turn it on with
#   curl -X POST -H 'Content-Type: text/plain' --data 0 "$(scripts/moto.sh url)/moto-api/reset-auth"
# --watch PID stops the server as soon as process PID has exited, so a test
# run that dies cannot leave a server behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${MOTO_STATE_DIR:-$root/.moto}
pidfile=$state/pid urlfile=$state/url logfile=$state/log

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

free_port() {
  "$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local watch=""
  if [ "${1:-}" = "--watch" ]; then watch=${2:?--watch needs a PID}; fi
  "$root/scripts/venv.sh" >&2
  mkdir -p "$state"
  if running; then cat "$urlfile"; return; fi
  local port url
  port=$(free_port)
  url="http://127.0.0.1:$port"
  # setsid: its own process group, so stop can end moto and its watchdog alone.
  setsid "$root/.venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 150); do
    if curl -fsS "$url/moto-api/data.json" >/dev/null 2>&1; then break; fi
    running || { echo "moto failed to start; see $logfile" >&2; tail -20 "$logfile" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS "$url/moto-api/data.json" >/dev/null || { echo "moto did not answer on $url" >&2; exit 1; }
  echo "$url" >"$urlfile"
  if [ -n "$watch" ]; then
    local moto_pid
    moto_pid=$(cat "$pidfile")
    (while kill -0 "$watch" 2>/dev/null && kill -0 "$moto_pid" 2>/dev/null; do sleep 1; done
     kill "$moto_pid" 2>/dev/null || true) </dev/null >/dev/null 2>&1 &
  fi
  echo "$url"
}

stop() {
  if running; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
  fi
  rm -f "$pidfile" "$urlfile"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  url) running && cat "$urlfile" || { echo "moto is not running" >&2; exit 1; } ;;
  *) echo "usage: $0 start [--watch PID] | url | stop" >&2; exit 2 ;;
esac
