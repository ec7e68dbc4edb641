# Shared by the tests/deploy checks (sourced, not run).
# SELF_TEST and SCRATCH are read by the scripts that source this file; the
# self-test runs run_checks in a subshell so that its counters stay local.
# shellcheck shell=bash disable=SC2034,SC2030,SC2031
#
# Each check script has a `run_checks ROOT` function that reports every
# finding through `pass`/`fail` and returns non-zero when anything failed.
# After checking the real tree, the script proves that its checks can fail:
# `expect_failure` runs run_checks against a mutated copy and must see it fail.
# Pass --no-self-test to skip that part.

set -uo pipefail

PW_FAILED=0
PW_PASSED=0

pass() { PW_PASSED=$((PW_PASSED + 1)); printf 'ok   - %s\n' "$*"; }
fail() { PW_FAILED=$((PW_FAILED + 1)); printf 'FAIL - %s\n' "$*"; }

# check "description" command...: pass when the command succeeds, else fail
# and show its output.
check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    pass "$what"
  else
    fail "$what"
    printf '%s\n' "$out" | sed 's/^/       /'
  fi
}

require_tools() {
  local tool missing=0
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      printf 'FAIL - required tool not found: %s\n' "$tool"
      missing=1
    fi
  done
  [[ $missing == 0 ]] || exit 2
}

# parse_args "$@": sets ROOT (default: two levels above the calling script)
# and SELF_TEST (1 unless --no-self-test).
parse_args() {
  SELF_TEST=1
  ROOT=""
  local arg
  for arg in "$@"; do
    case $arg in
      --no-self-test) SELF_TEST=0 ;;
      -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) ROOT=$arg ;;
    esac
  done
  if [[ -z $ROOT ]]; then
    ROOT=$(cd "$(dirname "$0")/../.." && pwd)
  fi
  ROOT=$(cd "$ROOT" && pwd) || { echo "FAIL - no such directory: $ROOT"; exit 2; }
}

# scratch_copy PATH...: copies the given repo-relative paths from $ROOT into a
# fresh temporary root and sets SCRATCH to it (removed when the script exits).
# Not meant for $(...): the directory must be recorded in this shell.
PW_SCRATCH=()
cleanup_scratch() { local d; for d in "${PW_SCRATCH[@]+"${PW_SCRATCH[@]}"}"; do rm -rf "$d"; done; }
trap cleanup_scratch EXIT
scratch_copy() {
  local dir rel
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pw-deploy-check.XXXXXX")
  PW_SCRATCH+=("$dir")
  for rel in "$@"; do
    mkdir -p "$dir/$(dirname "$rel")"
    cp -R "$ROOT/$rel" "$dir/$rel"
  done
  SCRATCH=$dir
}

# expect_failure "what the mutation breaks" SCRATCH_ROOT: run_checks must fail there.
# With PW_SELF_TEST_VERBOSE=1 it also shows what failed in the mutated copy.
expect_failure() {
  local what=$1 dir=$2 status out
  out=$( PW_FAILED=0; run_checks "$dir" 2>&1 )
  status=$?
  if [[ ${PW_SELF_TEST_VERBOSE:-0} == 1 ]]; then
    awk '/^FAIL/ { show = 1; print "       | " $0; next } /^       / && show { print "       | " $0; next } { show = 0 }' <<<"$out"
  fi
  if [[ $status != 0 ]]; then
    pass "self-test: a check catches $what"
  else
    fail "self-test: nothing caught $what"
  fi
}

# finish: prints the tally and exits with the right status.
finish() {
  printf '%d passed, %d failed\n' "$PW_PASSED" "$PW_FAILED"
  [[ $PW_FAILED == 0 ]]
  exit $?
}

# The compose checks: COMPOSE (docker-compose 1.29 or `docker compose` v2)
# and compose_json ROOT [--profile P] FILE...: the resolved configuration of
# those files (relative to ROOT) as JSON. docker-compose 1.29 prints YAML: it
# is turned into JSON with the Python interpreter docker-compose itself runs
# on (its PyYAML is a dependency).
find_compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  else
    echo "FAIL - neither docker-compose nor docker compose is installed"
    exit 2
  fi
}
compose_args() { # ROOT [--profile P] FILE...: the arguments naming them
  local root=$1 profile=()
  shift
  if [[ ${1:-} == --profile ]]; then profile=(--profile "$2"); shift 2; fi
  COMPOSE_ARGS=()
  local file
  for file in "$@"; do COMPOSE_ARGS+=(-f "$root/$file"); done
  COMPOSE_ARGS+=(--project-directory "$root" "${profile[@]}")
}
compose_json() {
  local python
  compose_args "$@"
  if [[ ${COMPOSE[0]} == docker ]]; then
    "${COMPOSE[@]}" "${COMPOSE_ARGS[@]}" config --format json
    return
  fi
  # The interpreter on docker-compose's #! line ("/usr/bin/env python3" too).
  python=$(head -n1 "$(command -v docker-compose)" | sed -n 's/^#![[:space:]]*//p' \
           | awk '{ print ($1 ~ /\/env$/ ? $2 : $1) }')
  command -v "$python" >/dev/null 2>&1 || python=python3
  "${COMPOSE[@]}" "${COMPOSE_ARGS[@]}" config \
    | "$python" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'
}
