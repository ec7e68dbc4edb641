#!/usr/bin/env bash
# Drives a running PersonaWorlds with the traffic an operator wants to see on
# the dashboard: successes, 4xx (malformed JSON, unknown route, missing and
# unknown token), 5xx (a /v1 write while another process holds the database
# write lock), jobs that succeed, a webhook to a closed loopback port that is
# retried and goes dead, command-line jobs without a trace (trace="missing")
# and one of an unknown type (dead, type="unknown"). Waits until every job it
# enqueued has finished, and fails when a response or a job is not what the
# API promises.
#
# Usage: traffic.sh [--db DATABASE] [--bin PERSONAWORLDS] [--rounds N] API_URL
#   e.g. tests/deploy/traffic.sh --db .stack/personaworlds.db http://127.0.0.1:8080
# Without --db the command-line jobs and the 5xx are left out. The webhook
# failure needs ALLOW_PRIVATE_WEBHOOKS=true in the api and worker (else the
# API refuses the loopback callback_url with 400, which is reported and
# skipped). The 5xx takes as long as the API's busy timeout
# (DATABASE_BUSY_TIMEOUT_MS, 10 s by default).
# Needs: curl, jq; sqlite3 for the 5xx.

set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
db="" bin=$root/build/personaworlds rounds=1 api=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --db) db=$2; shift ;;
    --bin) bin=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) api=${1%/} ;;
  esac
  shift
done
[[ -n $api ]] || { echo "usage: $0 [--db DATABASE] [--bin PERSONAWORLDS] [--rounds N] API_URL" >&2; exit 2; }
for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "required tool not found: $tool" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-traffic.XXXXXX")
lock_pid=""
cleanup() {
  [[ -n $lock_pid ]] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

problems=0
note() { printf '%s\n' "$*"; }
problem() { problems=$((problems + 1)); printf 'PROBLEM %s\n' "$*"; }

# call EXPECTED METHOD PATH [curl args...]: sets BODY; a problem when the status differs.
call() {
  local expected=$1 method=$2 path=$3 status
  shift 3
  status=$(curl -sS --max-time 60 -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$api$path" 2>"$tmp/curl") || status=000
  BODY=$(cat "$tmp/body" 2>/dev/null)
  if [[ $status != "$expected" ]]; then
    problem "$method $path: expected $expected, got $status $(head -c 200 <<<"$BODY") $(cat "$tmp/curl")"
    return 1
  fi
}
json=(-H 'Content-Type: application/json')

wait_for() { # TIMEOUT_S COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
finished() { [[ $1 =~ ^(succeeded|dead|canceled)$ ]]; }
api_job_finished() {
  finished "$(curl -s --max-time 30 -H "Authorization: Bearer $token" "$api/v1/jobs/$1" | jq -r '.state // empty')"
}
cli_job_finished() {
  finished "$("$bin" jobs show "$1" --db "$db" --json 2>/dev/null | jq -r '.state // empty')"
}
closed_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

api_jobs=() cli_jobs=()
for ((round = 1; round <= rounds; round++)); do
  handle="traffic_${RANDOM}${RANDOM}_$round"
  call 201 POST /v1/users "${json[@]}" -H "X-Request-ID: traffic-signup-$round" --data-binary "{\"handle\":\"$handle\"}" || exit 1
  token=$(jq -r '.token' <<<"$BODY")
  auth=(-H "Authorization: Bearer $token")
  call 201 POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary "{\"name\":\"Traffic $round\",\"seed\":$round}" || exit 1
  world=$(jq -r '.id' <<<"$BODY")

  call 202 POST "/v1/worlds/$world/personas:generate" "${auth[@]}" "${json[@]}" \
    -H "X-Request-ID: traffic-generate-$round" --data-binary '{"count":4}' && api_jobs+=("$(jq -r '.job.id' <<<"$BODY")")
  wait_for 120 api_job_finished "${api_jobs[-1]}" || problem "persona.generate job ${api_jobs[-1]} did not finish"
  call 202 POST "/v1/worlds/$world/simulations" "${auth[@]}" "${json[@]}" \
    -H "X-Request-ID: traffic-simulate-$round" --data-binary '{"ticks":10}' && api_jobs+=("$(jq -r '.job.id' <<<"$BODY")")
  port=$(closed_port)
  if curl -s -o "$tmp/body" -w '%{http_code}' -X POST "${auth[@]}" "${json[@]}" -H "X-Request-ID: traffic-webhook-$round" \
       --data-binary "{\"ticks\":2,\"callback_url\":\"http://127.0.0.1:$port/hook\"}" \
       "$api/v1/worlds/$world/simulations" | grep -qx 202; then
    webhook_simulation=$(jq -r '.job.id' "$tmp/body")
    api_jobs+=("$webhook_simulation")
  else
    webhook_simulation=""
    note "skipped the failing webhook: loopback callbacks are refused (set ALLOW_PRIVATE_WEBHOOKS=true)"
  fi

  # Reads, some with ids in the path (the route label stays a template).
  call 200 GET /v1/worlds "${auth[@]}"
  call 200 GET "/v1/worlds/$world" "${auth[@]}"
  call 200 GET "/v1/worlds/$world/personas" "${auth[@]}"
  call 200 GET "/v1/jobs/${api_jobs[0]}" "${auth[@]}"
  call 200 GET /healthz
  # 4xx.
  call 400 POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary '{"name": "unterminated'
  call 404 GET "/v1/no-such-route/$RANDOM"
  call 401 GET /v1/worlds
  call 401 GET /v1/worlds -H "Authorization: Bearer pw_$(printf '0%.0s' $(seq 1 64))"
  call 404 GET "/v1/worlds/999999999" "${auth[@]}"

  # 5xx: hold the write lock from another process until a /v1 write gives up.
  if [[ -n $db ]] && command -v sqlite3 >/dev/null 2>&1; then
    rm -f "$tmp/lock.fifo"
    mkfifo "$tmp/lock.fifo"
    sqlite3 "$db" <"$tmp/lock.fifo" >"$tmp/lock.out" 2>&1 &
    lock_pid=$!
    exec {lock_fd}>"$tmp/lock.fifo"
    printf '.timeout 60000\nBEGIN IMMEDIATE;\n' >&"$lock_fd"
    db_locked() { ! sqlite3 -bail "$db" '.timeout 0' 'BEGIN IMMEDIATE;' 'ROLLBACK;' >/dev/null 2>&1; }
    if wait_for 30 db_locked; then
      call 503 POST /v1/worlds "${auth[@]}" "${json[@]}" -H "X-Request-ID: traffic-locked-$round" \
        --data-binary '{"name":"Behind a lock"}'
    else
      problem "sqlite3 did not take the write lock: $(cat "$tmp/lock.out")"
    fi
    printf 'COMMIT;\n.quit\n' >&"$lock_fd"
    exec {lock_fd}>&-
    wait "$lock_pid" 2>/dev/null
    lock_pid=""
  fi

  # Command-line jobs: no trace, and a type no worker knows.
  if [[ -n $db ]]; then
    if out=$("$bin" jobs enqueue --db "$db" --type noop --count 5 --json 2>&1); then
      for ((id = $(jq .first_id <<<"$out"); id <= $(jq .last_id <<<"$out"); id++)); do cli_jobs+=("$id"); done
    else
      problem "jobs enqueue --type noop: $out"
    fi
    if out=$("$bin" jobs enqueue --db "$db" --type no.such.type --json 2>&1); then
      unknown_job=$(jq .first_id <<<"$out")
      cli_jobs+=("$unknown_job")
    else
      problem "jobs enqueue --type no.such.type: $out"
    fi
  fi

  for id in "${api_jobs[@]}"; do
    wait_for 120 api_job_finished "$id" || problem "job $id did not finish"
  done
  if [[ -n $webhook_simulation ]]; then
    webhook_job=$(curl -s "${auth[@]}" "$api/v1/jobs/$webhook_simulation" | jq -r '.result.webhook_job_id // empty')
    if [[ -z $webhook_job ]]; then
      problem "simulation job $webhook_simulation with a callback_url has no webhook_job_id"
    elif wait_for 120 api_job_finished "$webhook_job"; then
      state=$(curl -s "${auth[@]}" "$api/v1/jobs/$webhook_job" | jq -c '{state, attempts}')
      if jq -e '.state == "dead" and .attempts > 1' <<<"$state" >/dev/null; then
        note "webhook.deliver job $webhook_job to a closed port: $state"
      else
        problem "webhook.deliver job $webhook_job to a closed port: $state (expected dead after retries)"
      fi
    else
      problem "webhook.deliver job $webhook_job did not finish"
    fi
  fi
  for id in "${cli_jobs[@]}"; do
    wait_for 120 cli_job_finished "$id" || problem "command-line job $id did not finish"
  done
  api_jobs=() cli_jobs=()
done

if [[ $problems == 0 ]]; then
  note "traffic done: $rounds round(s), every response and job as expected"
else
  note "traffic done with $problems problem(s)"
fi
[[ $problems == 0 ]]
