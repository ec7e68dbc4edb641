#!/usr/bin/env bash
# Migrates the embedded default database, then runs the API and one worker
# side by side. Ctrl-C (or SIGTERM) stops both cleanly and exits 0; if either
# fails on its own, the other is stopped too and the failure's status is
# returned.
#
# Both listen on 127.0.0.1 only (the binary's defaults are 0.0.0.0, which
# containers need): a development machine does not serve its network. Set
# HOST or WORKER_OBSERVABILITY_HOST to listen elsewhere.
#
# Logs are readable text on a terminal and JSON lines otherwise (LOG_FORMAT
# auto); set LOG_FORMAT=json to see what production writes.
set -uo pipefail
bin=${1:-build/personaworlds}
export HOST=${HOST:-127.0.0.1}
export WORKER_OBSERVABILITY_HOST=${WORKER_OBSERVABILITY_HOST:-127.0.0.1}
export LOG_FORMAT=${LOG_FORMAT:-auto}
"$bin" migrate || exit $?
"$bin" api &
api=$!
"$bin" worker &
worker=$!
stopping=0
stop() {
  stopping=1
  kill -TERM "$api" "$worker" 2>/dev/null || true
}
trap stop INT TERM
echo "==> API on http://$HOST:${PORT:-8080} (pid $api), worker metrics on http://$WORKER_OBSERVABILITY_HOST:${WORKER_OBSERVABILITY_PORT:-9091} (pid $worker); Ctrl-C stops both" >&2
status=0
wait -n "$api" "$worker" || status=$?
# Ctrl-C reaches the whole process group at once: the API and the worker
# may stop (status 0, or 130 if SIGINT ended one) before this shell's trap
# has run. Neither ever exits by itself with those statuses, so they mean a
# deliberate stop too.
if [ "$stopping" = 0 ] && [ "$status" != 0 ] && [ "$status" != 130 ]; then
  echo "==> a process failed with status $status; stopping the other" >&2
  stop
  wait "$api" 2>/dev/null
  wait "$worker" 2>/dev/null
  exit "$status"
fi
stop
wait "$api" 2>/dev/null
wait "$worker" 2>/dev/null
echo "==> stopped" >&2
exit 0
