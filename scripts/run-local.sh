#!/usr/bin/env bash
# Migrates the embedded default database, then runs the API and one worker
# side by side. Ctrl-C (or SIGTERM) stops both cleanly; if either exits on
# its own, the other is stopped too and its status is returned.
set -uo pipefail
bin=${1:-build/personaworlds}
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
echo "==> API on http://127.0.0.1:${PORT:-8080} (pid $api), worker metrics on :${WORKER_OBSERVABILITY_PORT:-9091} (pid $worker); Ctrl-C stops both" >&2
status=0
wait -n "$api" "$worker" || status=$?
if [ "$stopping" = 0 ]; then
  echo "==> a process exited with status $status; stopping the other" >&2
  stop
  stopping=0
fi
wait "$api" 2>/dev/null
wait "$worker" 2>/dev/null
if [ "$stopping" = 1 ]; then exit 0; fi
exit "$status"
