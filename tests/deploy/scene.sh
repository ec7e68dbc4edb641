# Shared by the black-box scene scripts that run real processes (game_day.sh
# and prometheus_e2e.sh against a real Prometheus, tests/e2e/observability.sh);
# sourced, not run.
# shellcheck shell=bash

# wait_for TIMEOUT_S COMMAND...: runs COMMAND every WAIT_FOR_INTERVAL
# seconds (half a second unless set) until it succeeds; fails once TIMEOUT_S
# have passed.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep "${WAIT_FOR_INTERVAL:-0.5}"
  done
}

# end_scene FAILED TMP LOG...: after a failure, the last lines of each LOG
# that has any; then TMP is removed (kept, and named, with PW_KEEP_TMP=1).
end_scene() {
  local failed=$1 tmp=$2 f
  shift 2
  if [[ $failed != 0 ]]; then
    for f in "$@"; do
      [[ -s $f ]] || continue
      echo "----- last lines of ${f#"$tmp"/}"
      tail -n 15 "$f" | cut -c1-400
    done
  fi
  if [[ ${PW_KEEP_TMP:-0} == 1 ]]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
