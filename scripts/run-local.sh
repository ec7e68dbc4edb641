#!/usr/bin/env bash
# Migrates the embedded default database, then runs the API and one worker
# side by side. Ctrl-C (or SIGTERM) stops both cleanly; if either exits on
# its own, the other is stopped too and its status is returned.
#
# Both listen on 127.0.0.1 only (the binary's defaults are 0.0.0.0, which
# containers need): a development machine does not serve its network. Set
# HOST or WORKER_OBSERVABILITY_HOST to listen elsewhere.
set -uo pipefail
bin=${1:-build/personaworlds}
export HOST=${HOST:-127.0.0.1}
export WORKER_OBSERVABILITY_HOST=${WORKER_OBSERVABILITY_HOST:-127.0.0.1}
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
if [ "$stopping" = 0 ]; then
  echo "==> a process exited with status $status; stopping the other" >&2
  stop
  stopping=0
fi
wait "$api" 2>/dev/null
wait "$worker" 2>/dev/null
if [ "$stopping" = 1 ]; then exit 0; fi
exit "$status"
