#!/usr/bin/env bash
# Black-box test of the observability contract (observability.md, issue 5):
# runs the real `migrate`, `api` and `worker` on 127.0.0.1 (port 0) in a
# temporary folder, drives them like users and operators do, and then checks
# only what the processes print and serve:
#
#   logs     every stdout line of api and worker is one JSON object with ts
#            (RFC 3339 UTC, milliseconds), level, msg, service; access lines
#            carry request_id, route, method, status and latency_ms as
#            numbers, user_id only for authenticated requests; quotes,
#            backslashes, newlines, NUL and invalid UTF-8 in a path or header
#            never break a line, forge a field or reach the output; the seed's
#            jq filters work on the raw output.
#   tracing  a chosen X-Request-ID (or a traceparent) comes back in the
#            response, is the request_id of the access line, the trace_id of
#            the jobs it enqueued (GET /v1/jobs/{id}) and the trace_id and
#            request_id of every worker line about those jobs, across retries
#            and into the webhook job a simulation enqueues.
#   metrics  /metrics of both roles passes `promtool check metrics` with no
#            lint output; every contract metric is there with exactly its
#            labels; route labels are templates from docs/openapi.yaml (or
#            "unmatched"); 200 requests to random unknown paths and methods add
#            no series; jobs_trace_total separates present from missing.
#   health   /healthz is 200 throughout; /readyz is 503 on a database with
#            pending migrations, with the file deleted and with a directory in
#            its place, and 200 after `migrate`.
#
# Traffic: successes, 4xx (bad JSON, unknown route, 401, 404), 5xx (a /v1
# write while another process holds the database write lock, and /readyz on
# an unmigrated database), jobs that succeed, a webhook to a closed loopback
# port that is retried and goes dead, and a job of an unknown type (dead at
# once, type label "unknown").
#
# Usage: observability.sh [PERSONAWORLDS_BINARY] [REPO_ROOT]
# Needs: curl, jq, promtool, sqlite3, iconv, awk. PW_KEEP_TMP=1 keeps the
# temporary folder (logs, databases) for a look after a failure.

# jq programs and PromQL are single-quoted on purpose; functions are called
# through check/wait_for.
# shellcheck disable=SC2016,SC2317,SC2001
set -uo pipefail

root=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${1:-$root/build/personaworlds}
for tool in curl jq promtool sqlite3 iconv awk mkfifo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL - required tool not found: $tool"; exit 2; }
done
[[ -x $bin ]] || { echo "FAIL - no binary at $bin (build it first)"; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-observability.XXXXXX")
pids=()
passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
# check "description" condition-command...
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
die() { fail "$*"; exit 1; }
# jqt ARGS...: jq -e as a quiet condition (for check).
jqt() { jq -e "$@" >/dev/null 2>&1; }

cleanup() {
  local pid
  for pid in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]+"${pids[@]}"}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [[ $failed != 0 ]]; then
    local f
    for f in "$tmp"/*.out "$tmp"/*.err; do
      [[ -s $f ]] || continue
      echo "----- last lines of $(basename "$f")"
      tail -n 15 "$f" | cut -c1-400
    done
  fi
  if [[ ${PW_KEEP_TMP:-0} == 1 ]]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every process of this test sees the same settings: fast retries, few
# attempts, webhooks to loopback allowed, JSON logs at debug level.
unset PORT HOST DATABASE_PATH WORKER_OBSERVABILITY_PORT WORKER_OBSERVABILITY_HOST
export LOG_FORMAT=json LOG_LEVEL=debug ALLOW_PRIVATE_WEBHOOKS=true \
  BACKOFF_BASE_MS=50 BACKOFF_CAP_MS=200 JOB_MAX_ATTEMPTS=3 WEBHOOK_TIMEOUT_MS=2000 \
  WORKER_LEASE_MS=3000 WORKER_POLL_INTERVAL_MS=50

# ---------------------------------------------------------------- helpers

# start NAME ARGS...: runs the binary in the background, stdout to NAME.out.
start() {
  local name=$1
  shift
  "$bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  printf -v "${name}_pid" '%s' "$!"
}

# wait_for TIMEOUT_S COMMAND...: polls (every 0.2 s here) until the command succeeds.
# shellcheck source-path=SCRIPTDIR source=../deploy/scene.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/scene.sh"
WAIT_FOR_INTERVAL=0.2

# log_value FILE JQ_FILTER: the first value the filter gives on any JSON line.
log_value() { jq -R -r "fromjson? | $2" "$1" 2>/dev/null | head -n 1; }
has_log() { [[ -n $(log_value "$1" "$2") ]]; }

# started NAME MSG FIELD: waits for the start line and prints the port.
started() {
  local name=$1 msg=$2 field=$3 pid_var="${1}_pid"
  if ! wait_for 60 has_log "$tmp/$name.out" "select(.msg == \"$msg\") | .$field"; then
    kill -0 "${!pid_var}" 2>/dev/null || echo "# $name exited: $(cat "$tmp/$name.err")"
    return 1
  fi
  log_value "$tmp/$name.out" "select(.msg == \"$msg\") | .$field"
}

# http METHOD URL [curl args...]: sets STATUS and BODY; headers in $tmp/last.headers.
http() {
  local method=$1 url=$2
  shift 2
  STATUS=$(curl -sS --max-time 60 -o "$tmp/last.body" -D "$tmp/last.headers" -w '%{http_code}' \
                -X "$method" "$@" "$url" 2>"$tmp/last.curl") || STATUS=000
  BODY=$(cat "$tmp/last.body" 2>/dev/null)
}
# header NAME: a header of the last response.
header() {
  awk -v want="${1,,}" 'index($0, ":") { name = tolower(substr($0, 1, index($0, ":") - 1));
    if (name == want) { v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); sub(/\r$/, "", v); print v; exit } }' \
    "$tmp/last.headers"
}
status_of() { curl -s -o /dev/null --max-time 30 -w '%{http_code}' "$1"; }
is_status() { [[ $(status_of "$2") == "$1" ]]; }

# v1 METHOD PATH REQUEST_ID [JSON]: an authenticated /v1 call with a chosen request id.
v1() {
  local method=$1 path=$2 rid=$3 body=${4-}
  local args=(-H "Authorization: Bearer $token" -H "X-Request-ID: $rid")
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  http "$method" "$api$path" "${args[@]}"
}

# expect_status WHAT EXPECTED: checks the last response.
expect_status() {
  if [[ $STATUS == "$2" ]]; then pass "$1: $2"; else fail "$1: expected $2, got $STATUS $(head -c 300 <<<"$BODY")"; fi
}

job_state() { # JOB_ID -> state via the API (the owner's token)
  curl -s --max-time 30 -H "Authorization: Bearer $token" "$api/v1/jobs/$1" | jq -r '.state // empty'
}
job_finished() { [[ $(job_state "$1") =~ ^(succeeded|dead|canceled)$ ]]; }
cli_job() { "$bin" jobs show "$1" --db "$db" --json 2>/dev/null; }
cli_job_finished() { [[ $(cli_job "$1" | jq -r .state) =~ ^(succeeded|dead|canceled)$ ]]; }

# A loopback port on which nothing listens (connection refused at once).
closed_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

# raw PORT BYTES: sends one request as written (printf %b escapes) and
# prints the status line. For what curl refuses to send: raw quotes, control
# characters and invalid UTF-8 in the request line and headers.
raw() {
  local fd
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%b' "$2" >&"$fd"
  timeout 30 cat <&"$fd" >"$tmp/raw.response"
  exec {fd}>&-
  head -n 1 "$tmp/raw.response" | tr -d '\r'
}

access_lines() { jq -R -c 'fromjson? | select(.msg == "http_request")' "$1" | wc -l; }
# more_access_lines FILE N: the file has more than N access lines.
more_access_lines() { (($(access_lines "$1") > $2)); }

# access_line FILE REQUEST_ID: the access line(s) of one request.
access_line() { jq -R -c --arg rid "$2" 'fromjson? | select(.msg == "http_request" and .request_id == $rid)' "$1"; }

# ---------------------------------------------------------------- start

db=$tmp/main.db
echo "# working in $tmp"
if "$bin" migrate --db "$db" >"$tmp/migrate.out" 2>"$tmp/migrate.err"; then
  pass "migrate applies the embedded migrations"
else
  die "migrate failed: $(cat "$tmp/migrate.err")"
fi

# A short busy timeout for the API, so that a write behind another process's
# write lock turns into a 503 quickly.
start api api --db "$db" --host 127.0.0.1 --port 0 --db-busy-timeout-ms 3000 --shutdown-delay-ms 0
start worker worker --db "$db" --observability-host 127.0.0.1 --observability-port 0 --concurrency 2
api_port=$(started api api_started port) || die "api did not log api_started with its port"
worker_port=$(started worker worker_started observability_port) || die "worker did not log worker_started"
api=http://127.0.0.1:$api_port
worker=http://127.0.0.1:$worker_port
pass "api on $api and worker on $worker"

for url in "$api/healthz" "$api/readyz" "$worker/healthz" "$worker/readyz"; do
  check "GET ${url#http://127.0.0.1:} is 200" wait_for 30 is_status 200 "$url"
done

# ---------------------------------------------------------------- traffic

# Sign-up (no Authorization: no user_id expected, except the one it creates).
http POST "$api/v1/users" -H 'X-Request-ID: obs-signup' -H 'Content-Type: application/json' \
  --data-binary '{"handle":"observer"}'
expect_status "POST /v1/users" 201
token=$(jq -r '.token // empty' <<<"$BODY")
user_id=$(jq -r '.user.id // .id // empty' <<<"$BODY")
[[ -n $token && -n $user_id ]] || die "sign-up returned no token or user id: $BODY"

v1 POST /v1/worlds obs-world '{"name":"Observatory","seed":42}'
expect_status "POST /v1/worlds" 201
world=$(jq -r '.id // .world.id // empty' <<<"$BODY")
[[ -n $world ]] || die "world creation returned no id: $BODY"

v1 POST "/v1/worlds/$world/personas:generate" obs-trace-generate '{"count":3}'
expect_status "POST /v1/worlds/{id}/personas:generate" 202
check "the response echoes the chosen X-Request-ID" [ "$(header X-Request-ID)" == obs-trace-generate ]
job_generate=$(jq -r '.job.id // empty' <<<"$BODY")
[[ -n $job_generate ]] || die "generate returned no job: $BODY"
check "persona.generate job $job_generate finishes" wait_for 120 job_finished "$job_generate"

v1 POST "/v1/worlds/$world/simulations" obs-trace-simulate '{"ticks":5}'
expect_status "POST /v1/worlds/{id}/simulations" 202
job_simulate=$(jq -r '.job.id // empty' <<<"$BODY")

# A simulation whose webhook goes to a closed loopback port: retried with
# backoff until max_attempts (3), then dead.
hook_port=$(closed_port) || die "no closed loopback port found"
v1 POST "/v1/worlds/$world/simulations" obs-trace-webhook "{\"ticks\":3,\"callback_url\":\"http://127.0.0.1:$hook_port/hook\"}"
expect_status "POST /v1/worlds/{id}/simulations with a callback_url" 202
job_callback=$(jq -r '.job.id // empty' <<<"$BODY")

# traceparent instead of X-Request-ID: its trace id becomes the request id.
traceparent_id=4bf92f3577b34da6a3ce929d0e0e4736
http POST "$api/v1/worlds/$world/personas:generate" -H "Authorization: Bearer $token" \
  -H "traceparent: 00-$traceparent_id-00f067aa0ba902b7-01" -H 'Content-Type: application/json' --data-binary '{"count":1}'
expect_status "personas:generate with a traceparent" 202
check "a valid traceparent gives the request id" [ "$(header X-Request-ID)" == "$traceparent_id" ]
job_traceparent=$(jq -r '.job.id // empty' <<<"$BODY")

# An invalid X-Request-ID is replaced by a generated one (32 lowercase hex).
http GET "$api/v1/worlds" -H "Authorization: Bearer $token" -H 'X-Request-ID: not valid!'
expect_status "GET /v1/worlds" 200
check "an invalid X-Request-ID is replaced by 32 lowercase hex" grep -Eqx "[0-9a-f]{32}" <<<"$(header X-Request-ID)"
long_id=$(printf 'r%.0s' $(seq 1 128))
http GET "$api/v1/worlds/$world" -H "Authorization: Bearer $token" -H "X-Request-ID: $long_id"
expect_status "GET /v1/worlds/{id}" 200
check "a 128-character X-Request-ID is kept" [ "$(header X-Request-ID)" == "$long_id" ]

# 4xx
v1 POST /v1/worlds obs-bad-json '{"name": "unterminated'
expect_status "malformed JSON" 400
check "the error body carries the request id" [ "$(jq -r '.error.request_id // empty' <<<"$BODY")" == obs-bad-json ]
http GET "$api/v1/no-such-route/12345" -H 'X-Request-ID: obs-unknown-route'
expect_status "an unknown route" 404
http GET "$api/v1/worlds" -H 'X-Request-ID: obs-no-token'
expect_status "GET /v1/worlds without a token" 401
http GET "$api/v1/worlds/$world" -H 'X-Request-ID: obs-bad-token' -H "Authorization: Bearer pw_$(printf '0%.0s' $(seq 1 64))"
expect_status "GET /v1/worlds/{id} with an unknown token" 401
v1 GET /v1/worlds/987654321 obs-missing-world
expect_status "GET /v1/worlds/{id} of a world that does not exist" 404
v1 GET "/v1/jobs/$job_generate" obs-get-job
expect_status "GET /v1/jobs/{id}" 200

# 5xx from a /v1 route: another process holds the database write lock for
# longer than the API's busy timeout.
mkfifo "$tmp/lock.fifo"
sqlite3 "$db" <"$tmp/lock.fifo" >"$tmp/lock.out" 2>&1 &
lock_pid=$!
pids+=("$lock_pid")
exec {lock_fd}>"$tmp/lock.fifo"
printf '.timeout 60000\nBEGIN IMMEDIATE;\n' >&"$lock_fd"
db_locked() { ! sqlite3 -bail "$db" '.timeout 0' 'BEGIN IMMEDIATE;' 'ROLLBACK;' >/dev/null 2>&1; }
if wait_for 30 db_locked; then
  v1 POST /v1/worlds obs-locked '{"name":"Behind a lock"}'
  expect_status "POST /v1/worlds while another process holds the write lock" 503
else
  fail "sqlite3 did not take the write lock: $(cat "$tmp/lock.out")"
fi
printf 'COMMIT;\n.quit\n' >&"$lock_fd"
exec {lock_fd}>&-
wait "$lock_pid" 2>/dev/null

# Jobs from the command line: without a trace, with one, and of a type no
# worker knows (dead at once, metrics label "unknown").
"$bin" jobs enqueue --db "$db" --type noop --count 3 --json >"$tmp/enqueue.json" 2>>"$tmp/cli.err"
noop_first=$(jq -r .first_id "$tmp/enqueue.json" 2>/dev/null)
noop_last=$(jq -r .last_id "$tmp/enqueue.json" 2>/dev/null)
"$bin" jobs enqueue --db "$db" --type noop --trace-id cli-trace-1 --json >"$tmp/enqueue.json" 2>>"$tmp/cli.err"
noop_traced=$(jq -r .first_id "$tmp/enqueue.json" 2>/dev/null)
"$bin" jobs enqueue --db "$db" --type no.such.type --json >"$tmp/enqueue.json" 2>>"$tmp/cli.err"
job_unknown=$(jq -r .first_id "$tmp/enqueue.json" 2>/dev/null)
[[ $noop_first =~ ^[0-9]+$ && $noop_traced =~ ^[0-9]+$ && $job_unknown =~ ^[0-9]+$ ]] \
  || die "personaworlds jobs enqueue failed: $(cat "$tmp/cli.err")"

# Hostile input. Percent-encoded: quote, newline, NUL, invalid UTF-8,
# backslash, and an attempt to close the path string and forge fields.
hostile_path='/v1/obs%22quote%0Anewline%0D%00nul%FFbad%C3%28%5Cslash%09tab?q=%22%0A%00%FF'
http GET "$api$hostile_path" -H 'X-Request-ID: obs-hostile-path'
check "a path with encoded quote, newline, NUL and invalid UTF-8 gets an answer" [ "$STATUS" != 000 ]
http GET "$api/v1/x%22,%22level%22:%22error%22,%22msg%22:%22forged%22,%22y%22:%22" -H 'X-Request-ID: obs-forge'
check "a path that tries to forge log fields gets an answer" [ "$STATUS" != 000 ]
http GET "$api/v1/worlds" -H 'X-Request-ID: obs-hostile-headers' \
  -H 'User-Agent: agent"with\quotes' -H $'Authorization: Bearer "\xff\xfe"' -H $'traceparent: 00-"\x01\xff'
expect_status "GET /v1/worlds with a hostile Authorization header" 401
# Raw bytes that curl would encode or refuse: a raw quote, backslash and
# 0xFF in the request line, control characters and 0xFF in header values.
before=$(access_lines "$tmp/api.out")
raw_status=$(raw "$api_port" 'GET /v1/raw"quote\\slash\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: obs-raw-path\r\nConnection: close\r\n\r\n')
check "a raw quote and 0xFF in the request line get an answer ($raw_status)" [ -n "$raw_status" ]
raw_status=$(raw "$api_port" 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: evil"id\\\x01\xff\r\nUser-Agent: \x01\x1b[31m"red"\xc3\r\nConnection: close\r\n\r\n')
check "control characters and 0xFF in headers get an answer ($raw_status)" [ -n "$raw_status" ]
raw_status=$(raw "$api_port" 'BREW /v1/\x00\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
check "an unknown method with NUL in the path gets an answer ($raw_status)" [ -n "$raw_status" ]
raw_status=$(raw "$api_port" 'this is not http\r\n\r\n')
check "a line that is not HTTP gets an answer ($raw_status)" [ -n "$raw_status" ]
# One access line per request, including those refused before routing.
check "each raw request left an access line" wait_for 30 more_access_lines "$tmp/api.out" $((before + 3))
# The worker's observability server gets the same treatment.
http GET "$worker/metrics%22%0A%00%FF" -H 'X-Request-ID: obs-worker-hostile'
check "the worker answers a hostile path" [ "$STATUS" != 000 ]
raw_status=$(raw "$worker_port" 'GET /x"\xff\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: a"\x01\xff\r\nConnection: close\r\n\r\n')
check "the worker answers raw hostile bytes ($raw_status)" [ -n "$raw_status" ]

# ---------------------------------------------------------------- jobs settle

for job in "$job_simulate" "$job_callback" "$job_traceparent"; do
  check "job $job finishes" wait_for 120 job_finished "$job"
done
webhook_job=$(curl -s -H "Authorization: Bearer $token" "$api/v1/jobs/$job_callback" | jq -r '.result.webhook_job_id // empty')
if [[ -n $webhook_job ]]; then
  check "webhook.deliver job $webhook_job goes dead" wait_for 120 job_finished "$webhook_job"
  v1 GET "/v1/jobs/$webhook_job" obs-get-webhook-job
  check "the webhook job is dead after 3 attempts with an error" \
    jqt '.state == "dead" and .attempts == 3 and .max_attempts == 3 and (.last_error | type == "string")' <<<"$BODY"
else
  fail "the world.simulate job with a callback_url names no webhook_job_id"
fi
for id in $(seq "$noop_first" "$noop_last") "$noop_traced" "$job_unknown"; do
  wait_for 120 cli_job_finished "$id" || fail "command-line job $id did not finish"
done
check "the job of an unknown type is dead" [ "$(cli_job "$job_unknown" | jq -r .state)" == dead ]

# ---------------------------------------------------------------- tracing

v1 GET "/v1/jobs/$job_generate" obs-check-trace
check "GET /v1/jobs/{id}: trace_id is the chosen X-Request-ID, state succeeded" \
  jqt '.trace_id == "obs-trace-generate" and .state == "succeeded"' <<<"$BODY"
v1 GET "/v1/jobs/$job_traceparent" obs-check-traceparent
check "GET /v1/jobs/{id}: trace_id is the traceparent's trace id" \
  jqt --arg t "$traceparent_id" '.trace_id == $t' <<<"$BODY"

# The operator's view of a job carries the trace in its payload as well.
check "jobs show --json: .payload.trace_id of the persona.generate job is its X-Request-ID" \
  jqt '.payload.trace_id == "obs-trace-generate" and .trace_id == "obs-trace-generate"' <<<"$(cli_job "$job_generate")"
if [[ -n ${webhook_job:-} ]]; then
  check "jobs show --json: .payload.trace_id of the webhook job is the simulation request's id" \
    jqt '.payload.trace_id == "obs-trace-webhook" and .trace_id == "obs-trace-webhook"' <<<"$(cli_job "$webhook_job")"
fi
check "jobs show --json: .payload.trace_id of a job enqueued with --trace-id" \
  jqt '.payload.trace_id == "cli-trace-1"' <<<"$(cli_job "$noop_traced")"
check "jobs show --json: an untraced job has no .payload.trace_id" \
  jqt '(.payload | has("trace_id") | not) and .trace_id == null' <<<"$(cli_job "$noop_first")"

line=$(access_line "$tmp/api.out" obs-trace-generate)
check "one API access line for request obs-trace-generate" [ "$(grep -c . <<<"$line")" == 1 ]
check "its route is the template, method POST, status 202, user_id $user_id" \
  jqt --argjson uid "$user_id" '.route == "/v1/worlds/{id}/personas:generate" and .method == "POST"
       and .status == 202 and .user_id == $uid' <<<"$line"

# trace_check JOB_ID TRACE WHAT: every worker line of the job carries the trace.
trace_check() {
  local lines
  lines=$(jq -R -c --argjson id "$1" 'fromjson? | select(.job_id == $id)' "$tmp/worker.out")
  if [[ -z $lines ]]; then fail "the worker logged nothing about job $1 ($3)"; return; fi
  if jq -e -s --arg t "$2" 'all(.trace_id == $t and .request_id == $t)' <<<"$lines" >/dev/null; then
    pass "worker lines of job $1 ($3) carry trace_id and request_id $2 ($(grep -c . <<<"$lines") lines)"
  else
    fail "worker lines of job $1 ($3) do not all carry trace_id/request_id $2: $(head -n 3 <<<"$lines")"
  fi
}
trace_check "$job_generate" obs-trace-generate persona.generate
trace_check "$job_simulate" obs-trace-simulate world.simulate
trace_check "$job_traceparent" "$traceparent_id" "persona.generate from a traceparent"
trace_check "$noop_traced" cli-trace-1 "noop with --trace-id"
if [[ -n $webhook_job ]]; then
  trace_check "$webhook_job" obs-trace-webhook "webhook.deliver enqueued by a simulation"
  check "the webhook job failed twice (warn) then went dead (error)" \
    jqt -s --argjson id "$webhook_job" '[.[] | select(.job_id == $id)] as $l
      | ([$l[] | select(.msg == "job_failed" and .level == "warn") | .attempt] | sort) == [1, 2]
        and ([$l[] | select(.msg == "job_dead" and .level == "error") | .attempt] == [3])' \
      < <(jq -R -c 'fromjson?' "$tmp/worker.out")
fi
check "worker lines of untraced jobs have neither trace_id nor request_id" \
  jqt -s --argjson a "$noop_first" --argjson b "$noop_last" \
    '[.[] | select(.job_id != null and .job_id >= $a and .job_id <= $b)] | length > 0 and all(has("trace_id") or has("request_id") | not)' \
    < <(jq -R -c 'fromjson?' "$tmp/worker.out")
check "the unknown job type is logged as dead" \
  has_log "$tmp/worker.out" "select(.job_id == $job_unknown and .msg == \"job_dead\" and .level == \"error\") | .msg"

# ---------------------------------------------------------------- readiness

# A second API and worker on a database that does not exist yet: they start,
# are alive, and not ready until `migrate` has run.
fresh=$tmp/fresh/personaworlds.db
mkdir -p "$tmp/fresh"
start api2 api --db "$fresh" --host 127.0.0.1 --port 0 --shutdown-delay-ms 0
start worker2 worker --db "$fresh" --observability-host 127.0.0.1 --observability-port 0 --concurrency 1
api2_port=$(started api2 api_started port) || die "the second api did not start on an unmigrated database"
worker2_port=$(started worker2 worker_started observability_port) || die "the second worker did not start on an unmigrated database"
api2=http://127.0.0.1:$api2_port
worker2=http://127.0.0.1:$worker2_port

# ready_check WHAT STATUS: /readyz of api2 and worker2 answer STATUS, /healthz 200.
ready_check() {
  local what=$1 want=$2 url
  for url in "$api2" "$worker2"; do
    local role=api
    [[ $url == "$worker2" ]] && role=worker
    if wait_for 30 is_status "$want" "$url/readyz"; then
      http GET "$url/readyz"
      if jq -e '.checks | type == "object"' <<<"$BODY" >/dev/null && [[ $(header Cache-Control) == no-store ]]; then
        pass "$role /readyz is $want $what (checks: $(jq -c .checks <<<"$BODY"))"
      else
        fail "$role /readyz $what: body without checks or no Cache-Control: no-store: $BODY"
      fi
    else
      fail "$role /readyz is not $want $what (got $(status_of "$url/readyz"))"
    fi
    check "$role /healthz is 200 $what" wait_for 30 is_status 200 "$url/healthz"
  done
}
ready_check "before migrate (pending migrations)" 503
if "$bin" migrate --db "$fresh" >>"$tmp/migrate.out" 2>>"$tmp/migrate.err"; then
  ready_check "after migrate" 200
else
  fail "migrate of the fresh database: $(cat "$tmp/migrate.err")"
fi
rm -f "$fresh" "$fresh-wal" "$fresh-shm"
ready_check "with the database file deleted" 503
mkdir "$fresh"
ready_check "with a directory where the database file was" 503
rmdir "$fresh"
"$bin" migrate --db "$fresh" >>"$tmp/migrate.out" 2>>"$tmp/migrate.err"
ready_check "after migrate again" 200

# ---------------------------------------------------------------- metrics

# metrics_json URL: one JSON object per sample: {name, labels, value}.
# Label values are copied as they are escaped in the exposition format
# (\\, \" and \n), which are valid JSON escapes too.
metrics_json() {
  curl -s --max-time 30 "$1" | awk '
    /^#/ || /^[[:space:]]*$/ { next }
    {
      line = $0
      match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)
      name = substr(line, 1, RLENGTH); rest = substr(line, RLENGTH + 1); out = ""
      if (substr(rest, 1, 1) == "{") {
        i = 2; n = length(rest)
        while (i <= n) {
          c = substr(rest, i, 1)
          if (c == "}") { i++; break }
          if (c == "," || c == " ") { i++; continue }
          match(substr(rest, i), /^[a-zA-Z_][a-zA-Z0-9_]*/)
          label = substr(rest, i, RLENGTH); i += RLENGTH + 2; value = ""
          while (i <= n) {
            c = substr(rest, i, 1)
            if (c == "\\") { value = value c substr(rest, i + 1, 1); i += 2; continue }
            if (c == "\"") { i++; break }
            value = value c; i++
          }
          out = out (out == "" ? "" : ",") "\"" label "\":\"" value "\""
        }
        rest = substr(rest, i)
      }
      split(rest, f, " ")
      printf "{\"name\":\"%s\",\"labels\":{%s},\"value\":\"%s\"}\n", name, out, f[1]
    }'
}
series_keys() { metrics_json "$1" | jq -S -c '{name, labels}' | sort; }

# promtool: clean exposition with no lint output, for both roles.
for url in "$api/metrics" "$worker/metrics"; do
  curl -s --max-time 30 -D "$tmp/metrics.headers" -o "$tmp/metrics.txt" "$url"
  if lint=$(promtool check metrics <"$tmp/metrics.txt" 2>&1) && [[ -z $lint ]]; then
    pass "promtool check metrics: $url is clean"
  else
    fail "promtool check metrics $url: $lint"
  fi
  check "Content-Type of $url is text/plain; version=0.0.4; charset=utf-8" \
    grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$tmp/metrics.headers"
done

metrics_json "$api/metrics" >"$tmp/api.metrics.json"
metrics_json "$worker/metrics" >"$tmp/worker.metrics.json"

# Every contract metric with exactly its labels, and `route` a template of
# docs/openapi.yaml (or "unmatched").
templates=$(awk '/^paths:/ { p = 1; next } p && /^[^ ]/ { p = 0 } p && /^  \/[^ ]*:[[:space:]]*$/ { sub(/^  /, ""); sub(/:[[:space:]]*$/, ""); print }' \
  "$root/docs/openapi.yaml" | jq -R . | jq -s -c '. + ["unmatched"]')
[[ $(jq length <<<"$templates") -gt 5 ]] || fail "no paths read from docs/openapi.yaml"
contract='{
  "http_requests_total": ["method", "route", "status"],
  "http_request_duration_seconds_bucket": ["le", "method", "route"],
  "jobs_processed_total": ["status", "type"],
  "job_duration_seconds_bucket": ["le", "type"],
  "job_retries_total": ["type"],
  "db_query_duration_seconds_bucket": ["le"],
  "queue_depth": ["type"],
  "jobs_trace_total": ["status", "trace", "type"]
}'
# metric_problems ROLE REQUIRED_NAMES_JSON: one line per problem.
metric_problems() {
  jq -r -s --arg role "$1" --argjson required "$2" --argjson contract "$contract" --argjson templates "$templates" '
    . as $samples
    | ($required[] | select(. as $n | $samples | any(.name == $n) | not) | "\($role): no \(.) series"),
      ($samples[] | select($contract[.name] != null and (.labels | keys) != $contract[.name])
        | "\($role): \(.name) has labels \(.labels | keys), expected \($contract[.name])"),
      ($samples[] | select(.labels.route != null and (.labels.route as $r | $templates | index($r) | not))
        | "\($role): route \(.labels.route | tojson) is not a template of docs/openapi.yaml"),
      ($samples[] | select(.labels.route != null and (.labels.route | test("/[0-9]+(/|$)")))
        | "\($role): route \(.labels.route | tojson) has a digits-only segment"),
      ($samples[] | select(.labels.method != null and (.labels.method | IN("GET","POST","PUT","PATCH","DELETE","HEAD","OPTIONS","OTHER") | not))
        | "\($role): unbounded method label \(.labels.method | tojson)"),
      ($samples[] | select(.labels.type != null and (.labels.type | IN("noop","sleep","persona.generate","world.simulate","webhook.deliver","world.purge","unknown") | not))
        | "\($role): job type label \(.labels.type | tojson) is not a known type")
  '
}
problems=$(metric_problems api '["http_requests_total","http_request_duration_seconds_bucket","db_query_duration_seconds_bucket"]' <"$tmp/api.metrics.json")
problems+=$'\n'$(metric_problems worker "$(jq -c 'keys' <<<"$contract")" <"$tmp/worker.metrics.json")
problems=$(sed '/^$/d' <<<"$problems")
if [[ -z $problems ]]; then
  pass "every contract metric is present with exactly its labels; routes are templates; methods and types bounded"
else
  fail "metric names and labels:"$'\n'"$(sed 's/^/       /' <<<"$problems")"
fi

# sample ROLE NAME LABELS_JSON: the value of one series (0 when absent).
sample() {
  jq -r -s --arg n "$2" --argjson l "$3" \
    '[.[] | select(.name == $n and .labels == $l) | .value | tonumber] | add // 0' "$tmp/$1.metrics.json"
}
at_least() { # WHAT MIN VALUE
  if awk -v v="$3" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'; then pass "$1 = $3"; else fail "$1 = $3, expected at least $2"; fi
}
at_least 'api http_requests_total{route="/v1/worlds/{id}/personas:generate",method="POST",status="202"}' 2 \
  "$(sample api http_requests_total '{"route":"/v1/worlds/{id}/personas:generate","method":"POST","status":"202"}')"
at_least 'api http_requests_total{route="/v1/worlds",method="POST",status="400"}' 1 \
  "$(sample api http_requests_total '{"route":"/v1/worlds","method":"POST","status":"400"}')"
at_least 'api http_requests_total{route="/v1/worlds",method="POST",status="503"}' 1 \
  "$(sample api http_requests_total '{"route":"/v1/worlds","method":"POST","status":"503"}')"
at_least 'api http_requests_total{route="/v1/worlds",method="GET",status="401"}' 2 \
  "$(sample api http_requests_total '{"route":"/v1/worlds","method":"GET","status":"401"}')"
at_least 'api http_requests_total{route="unmatched",method="GET",status="404"}' 1 \
  "$(sample api http_requests_total '{"route":"unmatched","method":"GET","status":"404"}')"
# The /v1 write behind another process's lock: its wait, its time-out and its 503's reason.
at_least 'api db_busy_timeouts_total (the write behind a held lock)' 1 "$(sample api db_busy_timeouts_total '{}')"
at_least 'api db_unavailable_total{reason="busy"}' 1 "$(sample api db_unavailable_total '{"reason":"busy"}')"
at_least 'api db_lock_wait_seconds observations longer than 1 s (the busy timeout)' 1 \
  "$(jq -r -s '[.[] | select(.name == "db_lock_wait_seconds_bucket")] as $b
               | ([$b[] | select(.labels.le == "+Inf") | .value | tonumber] | add) - ([$b[] | select(.labels.le == "1") | .value | tonumber] | add)' \
     "$tmp/api.metrics.json")"
check 'api db_unavailable_total has a series at 0 for every bounded reason' \
  jqt -s '[.[] | select(.name == "db_unavailable_total") | .labels.reason] | sort == ["busy","connection","corrupt","full","io","missing","other","overloaded","readonly","schema"]' \
    "$tmp/api.metrics.json"
check 'api http_request_duration_seconds has a bucket at le="0.5" (the latency alert threshold)' \
  jqt -s 'any(.name == "http_request_duration_seconds_bucket" and .labels.le == "0.5")' "$tmp/api.metrics.json"
at_least 'worker jobs_processed_total{type="persona.generate",status="succeeded"}' 2 \
  "$(sample worker jobs_processed_total '{"type":"persona.generate","status":"succeeded"}')"
at_least 'worker jobs_processed_total{type="webhook.deliver",status="failed"}' 3 \
  "$(sample worker jobs_processed_total '{"type":"webhook.deliver","status":"failed"}')"
at_least 'worker job_retries_total{type="webhook.deliver"}' 2 \
  "$(sample worker job_retries_total '{"type":"webhook.deliver"}')"
at_least 'worker jobs_processed_total{type="unknown",status="failed"}' 1 \
  "$(sample worker jobs_processed_total '{"type":"unknown","status":"failed"}')"
at_least 'worker jobs_trace_total{type="persona.generate",status="succeeded",trace="present"}' 2 \
  "$(sample worker jobs_trace_total '{"type":"persona.generate","status":"succeeded","trace":"present"}')"
at_least 'worker jobs_trace_total{type="noop",status="succeeded",trace="missing"}' 3 \
  "$(sample worker jobs_trace_total '{"type":"noop","status":"succeeded","trace":"missing"}')"
at_least 'worker jobs_trace_total{type="noop",status="succeeded",trace="present"} (jobs enqueue --trace-id)' 1 \
  "$(sample worker jobs_trace_total '{"type":"noop","status":"succeeded","trace":"present"}')"
at_least 'worker jobs_trace_total{type="webhook.deliver",status="failed",trace="present"}' 3 \
  "$(sample worker jobs_trace_total '{"type":"webhook.deliver","status":"failed","trace":"present"}')"
check "worker queue_depth has a series for every job type" \
  jqt -s '[.[] | select(.name == "queue_depth") | .labels.type] as $t
            | all(("noop","persona.generate","world.simulate","webhook.deliver"); . as $x | $t | index($x))' \
    "$tmp/worker.metrics.json"
check "api exports queue_depth and job_oldest_ready_age_seconds for every job type (the backlog without a worker)" \
  jqt -s '[.[] | select(.name == "queue_depth") | .labels.type] as $d
          | [.[] | select(.name == "job_oldest_ready_age_seconds") | .labels.type] as $a
          | all(("noop","persona.generate","world.simulate","webhook.deliver","unknown"); . as $x | ($d | index($x)) and ($a | index($x)))' \
    "$tmp/api.metrics.json"

# The README's WorkerJobFailures runbook filter finds one line per failed
# attempt: as many as jobs_processed_total{status="failed"} counts.
runbook_filter=$(awk '/^#### WorkerJobFailures/ { p = 1; next } /^#### / { p = 0 } p' "$root/README.md" \
  | grep -o "jq -R '[^']*'" | head -n 1 | sed "s/^jq -R '//; s/'\$//")
failed_attempts=$(jq -r -s '[.[] | select(.name == "jobs_processed_total" and .labels.status == "failed") | .value | tonumber] | add // 0' \
  "$tmp/worker.metrics.json")
filtered_lines=$(jq -R -c "$runbook_filter" "$tmp/worker.out" 2>/dev/null | grep -c .)
if [[ -n $runbook_filter && $failed_attempts -ge 4 && $filtered_lines == "$failed_attempts" ]]; then
  pass "README WorkerJobFailures filter ($runbook_filter) finds $filtered_lines lines for $failed_attempts failed attempts"
else
  fail "README WorkerJobFailures filter (${runbook_filter:-none found}) finds $filtered_lines lines for $failed_attempts failed attempts"
fi

for role in api worker; do
  check "$role: no label value holds a raw path or id of this run" \
    jqt -s --arg w "/v1/worlds/$world" 'all(.[].labels[]; (contains($w) or contains("obs-") or contains("no-such-route")) | not)' \
      "$tmp/$role.metrics.json"
done

# A burst of requests to random unknown paths, with random query strings and
# unknown methods, adds no series. One request of each shape first, so that
# the status series they need exist before the count.
burst() { # URL N: N requests with random paths in one curl (one connection)
  local i config=$tmp/burst.curl
  : >"$config"
  for ((i = 0; i < $2; i++)); do
    printf 'url = "%s/v1/r%s/%s/%s?x=%s"\noutput = "/dev/null"\n' "$1" "$RANDOM$RANDOM" "$i" "$RANDOM" "$RANDOM" >>"$config"
  done
  curl -s --max-time 120 -K "$config" || true
}
burst_methods() { # URL N: unknown methods on random paths
  local i
  for ((i = 0; i < $2; i++)); do
    curl -s -o /dev/null --max-time 30 -X "M$RANDOM" "$1/p$RANDOM$RANDOM" || true
  done
}
for url in "$api" "$worker"; do
  burst "$url" 1
  burst_methods "$url" 1
  curl -s -o /dev/null "$url/metrics"
  series_keys "$url/metrics" >"$tmp/series.before"
  burst "$url" 200
  burst_methods "$url" 20
  series_keys "$url/metrics" >"$tmp/series.after"
  added=$(comm -13 "$tmp/series.before" "$tmp/series.after")
  if [[ -z $added && -s $tmp/series.before ]]; then
    pass "$url: 220 requests to random unknown paths and methods add no series ($(wc -l <"$tmp/series.after") series)"
  else
    fail "$url: random unknown paths added series:"$'\n'"$(head -n 10 <<<"$added" | sed 's/^/       /')"
  fi
done

# ---------------------------------------------------------------- logs

# Everything above is logged by now; give the last access lines a moment.
sleep 0.5
# The seed's filters, as written in observability.md, on the raw output.
if out=$(jq 'select(.level=="error")' "$tmp/api.out" "$tmp/worker.out" "$tmp/api2.out" "$tmp/worker2.out" 2>&1) && [[ -n $out ]]; then
  pass "jq 'select(.level==\"error\")' works on the raw logs ($(jq -c . <<<"$out" | wc -l) lines)"
else
  fail "jq 'select(.level==\"error\")' on the raw logs: $(head -c 300 <<<"$out")"
fi
if out=$(jq 'select(.job_id != null)' "$tmp/worker.out" 2>&1) && [[ -n $out ]]; then
  pass "jq 'select(.job_id != null)' works on the raw worker log ($(jq -c . <<<"$out" | wc -l) lines)"
else
  fail "jq 'select(.job_id != null)' on the raw worker log: $(head -c 300 <<<"$out")"
fi

# log_problems FILE SERVICE: one line per problem with a line of FILE.
log_problems() {
  jq -R -r --arg service "$2" --arg file "$(basename "$1")" '
    def problem($what): "\($file): \($what): \(.[0:300])";
    def num: type == "number";
    . as $raw
    | (try fromjson catch "not JSON") as $l
    | if $l == "not JSON" then ($raw | problem("not JSON"))
      elif ($l | type) != "object" then ($raw | problem("not an object"))
      else ($l | (
        [ (if (.ts | type) == "string" and ($l.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
           then empty else "ts is not RFC 3339 UTC with milliseconds" end),
          (if $l.level | IN("debug", "info", "warn", "error") then empty else "bad level" end),
          (if ($l.msg | type) == "string" and ($l.msg | test("^[a-z][a-z0-9_.]*$")) then empty else "msg is not a short event name" end),
          (if $l.service == $service then empty else "service is not \($service)" end),
          (if has("request_id") | not then empty
           elif ($l.request_id | type) == "string" and ($l.request_id | test("^[A-Za-z0-9._-]{1,128}$")) then empty
           else "request_id is not a valid id" end),
          (if $l.msg != "http_request" then empty else
             (if ($l.route | type) == "string" and ($l.method | type) == "string" then empty else "access line without route or method" end),
             (if ($l.request_id | type) == "string" then empty else "access line without request_id" end),
             (if ($l.status | num) and ($l.status | floor) == $l.status then empty else "status is not an integer" end),
             (if ($l.latency_ms | num) and $l.latency_ms >= 0 then empty else "latency_ms is not a number" end)
           end),
          (if has("status") and ($l.status | num | not) then "status is not a number" else empty end),
          (if has("latency_ms") and ($l.latency_ms | num | not) then "latency_ms is not a number" else empty end),
          (if has("user_id") and ($l.user_id | num | not) then "user_id is not a number" else empty end),
          (if has("job_id") | not then empty else
             (if $l.job_id | num then empty else "job_id is not a number" end),
             (if ($l.type | type) == "string" then empty else "job line without type" end),
             (if $l.attempt | num then empty else "job line without attempt" end),
             (if has("trace_id") and $l.request_id != $l.trace_id then "request_id differs from trace_id" else empty end)
           end)
        ] | .[] | . as $what | $raw | problem($what)))
      end
  ' "$1"
}
problems=""
for f in api:api worker:worker api2:api worker2:worker; do
  file=$tmp/${f%%:*}.out
  problems+=$(log_problems "$file" "${f#*:}")
  # jq replaces invalid UTF-8 silently: check the bytes themselves.
  iconv -f UTF-8 -t UTF-8 "$file" >/dev/null 2>&1 || problems+=$'\n'"$(basename "$file"): invalid UTF-8 in the output"
  # Raw control characters (NUL included) have no place in a JSON line.
  controls=$(LC_ALL=C tr -d '\n\040-\377' <"$file" | wc -c)
  [[ $controls == 0 ]] || problems+=$'\n'"$(basename "$file"): $controls raw control characters"
  [[ -s $file ]] || problems+=$'\n'"$(basename "$file") is empty"
done
problems=$(sed '/^$/d' <<<"$problems")
lines=$(cat "$tmp/api.out" "$tmp/worker.out" "$tmp/api2.out" "$tmp/worker2.out" | wc -l)
if [[ -z $problems ]]; then
  pass "all $lines log lines of api and worker are JSON objects with ts, level, msg, service and well-typed fields"
else
  fail "log lines:"$'\n'"$(head -n 20 <<<"$problems" | sed 's/^/       /')"
fi
check "no process wrote to stderr" [ ! -s "$tmp/api.err" -a ! -s "$tmp/worker.err" -a ! -s "$tmp/api2.err" -a ! -s "$tmp/worker2.err" ]
check "migrate's output is JSON lines too" jqt -s 'length > 0 and all(.service == "migrate")' "$tmp/migrate.out"

# One access line per request, with the contract fields.
one_each=1
for rid in obs-signup obs-world obs-bad-json obs-unknown-route obs-no-token obs-bad-token obs-missing-world obs-locked \
           obs-hostile-path obs-forge obs-hostile-headers "$long_id"; do
  n=$(access_line "$tmp/api.out" "$rid" | grep -c .)
  [[ $n == 1 ]] || { fail "request $rid has $n access lines, expected 1"; one_each=0; }
done
[[ $one_each == 1 ]] && pass "requests with a chosen X-Request-ID have exactly one access line each"
check "unauthenticated requests carry no user_id (401s, unknown route)" \
  jqt -s 'map(select(.msg == "http_request" and (.request_id | IN("obs-no-token", "obs-bad-token", "obs-unknown-route", "obs-hostile-headers"))))
            | length == 4 and all(has("user_id") | not)' < <(jq -R -c 'fromjson?' "$tmp/api.out")
check "authenticated requests carry the user_id (200, 400, 404, 503)" \
  jqt -s --argjson uid "$user_id" 'map(select(.msg == "http_request" and (.request_id | IN("obs-world", "obs-bad-json", "obs-missing-world", "obs-locked", "obs-get-job"))))
            | length == 5 and all(.user_id == $uid)' < <(jq -R -c 'fromjson?' "$tmp/api.out")
check "access lines: 4xx and 5xx with the right status and the route template" \
  jqt -s 'map(select(.msg == "http_request")) | INDEX(.request_id) as $by
            | $by["obs-bad-json"].status == 400 and $by["obs-bad-json"].route == "/v1/worlds"
              and $by["obs-unknown-route"].status == 404 and $by["obs-unknown-route"].route == "unmatched"
              and $by["obs-no-token"].status == 401 and $by["obs-missing-world"].route == "/v1/worlds/{id}"
              and $by["obs-locked"].status == 503 and $by["obs-locked"].level == "error"' \
    < <(jq -R -c 'fromjson?' "$tmp/api.out")
check "the 503 on /readyz of the unmigrated api is logged at error level" \
  has_log "$tmp/api2.out" 'select(.msg == "http_request" and .route == "/readyz" and .status == 503 and .level == "error") | .msg'
check "the forged fields stay inside the path string" \
  jqt -s 'map(select(.request_id == "obs-forge")) | length == 1 and .[0].msg == "http_request"
            and (.[0] | tostring | contains("forged"))' < <(jq -R -c 'fromjson?' "$tmp/api.out")
check 'no raw line contains the forged "msg":"forged"' bash -c '! grep -qF "\"msg\":\"forged\"" "$1"' _ "$tmp/api.out"
check "hostile bytes in the path are escaped or replaced, never dropped from the line" \
  jqt -s 'map(select(.request_id == "obs-hostile-path")) | length == 1 and (.[0] | tostring | test("quote"))' \
    < <(jq -R -c 'fromjson?' "$tmp/api.out")

# LOG_FORMAT=text: a readable line, not JSON.
start api3 api --db "$db" --host 127.0.0.1 --port 0 --log-format text --shutdown-delay-ms 5000
if wait_for 30 grep -q api_started "$tmp/api3.out"; then
  check "LOG_FORMAT=text gives one readable line per event, not JSON" \
    bash -c '! head -n 1 "$1" | jq -e . >/dev/null 2>&1 && head -n 1 "$1" | grep -q api_started' _ "$tmp/api3.out"
  # Shutdown: /readyz turns 503 while the listener still answers.
  api3_port=$(grep -m 1 api_started "$tmp/api3.out" | grep -oE ' port=[0-9]+' | cut -d= -f2)
  if [[ -n $api3_port ]] && wait_for 30 is_status 200 "http://127.0.0.1:$api3_port/readyz"; then
    kill -TERM "$api3_pid"
    check "after SIGTERM, /readyz is 503 before the listener closes" \
      wait_for 4 is_status 503 "http://127.0.0.1:$api3_port/readyz"
    api3_exited() { ! kill -0 "$api3_pid" 2>/dev/null; }
    if wait_for 60 api3_exited; then
      wait "$api3_pid"
      check "the api exits 0 after SIGTERM" [ $? == 0 ]
    else
      fail "the api did not exit within 60 s of SIGTERM"
    fi
  else
    fail "api with --log-format text: no port or not ready: $(head -n 2 "$tmp/api3.out")"
  fi
else
  fail "api with --log-format text did not log api_started: $(cat "$tmp/api3.err")"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
