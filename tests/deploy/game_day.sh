#!/usr/bin/env bash
# Game day (issue 19): the failures an operator gets paged for, played
# against the real api, worker and Prometheus on 127.0.0.1, with scrape and
# rule evaluation every second. Prometheus loads the shipped
# deploy/prometheus/alerts.yml and a copy made here with every `for:` cut to
# 1 s (its alerts carry the label copy="short"), so alerts that wait minutes
# in production fire within seconds; thresholds and windows are the shipped ones.
#
# One Prometheus session, scenarios in order (the last one stops the worker):
#   new-series  a burst of three 405s (a status no route has answered yet)
#               and a dead job of a type no worker knows: increase() over
#               the burst equals what was sent; DeadJobs fires for `unknown`.
#   probes      slow user requests among many fast probes: HighApiLatency fires.
#   lock        a write lock held by another process: /readyz says writes
#               are held up (503, checks.writes); the lock-wait histogram
#               shows the wait and the dashboard panel's query returns it; a
#               write that waits past the busy timeout is counted as a busy
#               time-out and as database-unavailable (reason busy). With only
#               the main file immutable (chattr, skipped where not allowed),
#               writes succeed and /readyz is 200, reporting the main file.
#   no-worker   the only worker stops while users enqueue: the backlog
#               series are present at every scrape, QueueBacklogGrowing and
#               NoWorkerRunning fire.
#
# Usage: game_day.sh [PERSONAWORLDS_BINARY] [REPO_ROOT] [SCENARIO...]
# (no scenario: all of them). Needs prometheus, promtool, curl, jq, sqlite3.
# PW_KEEP_TMP=1 keeps the temporary folder (logs, database, rules).

# PromQL and jq are single-quoted on purpose; functions are called through wait_for.
# shellcheck disable=SC2016,SC2317
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=scene.sh
source "$(dirname "${BASH_SOURCE[0]}")/scene.sh"

root=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${1:-$root/build/personaworlds}
shift $(($# < 2 ? $# : 2))
scenarios=("$@")
[[ ${#scenarios[@]} == 0 ]] && scenarios=(new-series probes lock no-worker)
for tool in prometheus promtool curl jq sqlite3 mkfifo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL - required tool not found: $tool"; exit 2; }
done
[[ -x $bin ]] || { echo "FAIL - no binary at $bin (build it first)"; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-game-day.XXXXXX")
api_pid="" worker_pid="" prom_pid="" lock_pid=""
passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
die() { fail "$*"; exit 1; }

cleanup() {
  local pid
  for pid in $lock_pid $prom_pid $worker_pid $api_pid; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in $lock_pid $prom_pid $worker_pid $api_pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in $lock_pid $prom_pid $worker_pid $api_pid; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  chattr -i "$tmp/personaworlds.db" 2>/dev/null
  end_scene "$failed" "$tmp" "$tmp"/api.err "$tmp"/worker.err "$tmp"/prometheus.log
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_field PID LOG MSG FIELD: the FIELD of the first JSON line with MSG.
wait_for_field() {
  local pid=$1 log=$2 msg=$3 field=$4 value
  for _ in $(seq 1 300); do
    value=$(grep "\"msg\":\"$msg\"" "$log" 2>/dev/null | head -n 1 | grep -oE "\"$field\":[0-9]+" | grep -oE "[0-9]+$")
    [[ -n $value ]] && { echo "$value"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- the system

# A short busy timeout (the lock scenario outlasts it once), fast retries.
unset PORT HOST DATABASE_PATH WORKER_OBSERVABILITY_PORT WORKER_OBSERVABILITY_HOST
export LOG_FORMAT=json LOG_LEVEL=info DATABASE_BUSY_TIMEOUT_MS=2500 BACKOFF_BASE_MS=50 BACKOFF_CAP_MS=200 \
  JOB_MAX_ATTEMPTS=3 WORKER_LEASE_MS=5000
db=$tmp/personaworlds.db
"$bin" migrate --db "$db" >"$tmp/migrate.log" 2>&1 || die "migrate: $(tail -n 5 "$tmp/migrate.log")"
"$bin" api --db "$db" --host 127.0.0.1 --port 0 >"$tmp/api.log" 2>"$tmp/api.err" &
api_pid=$!
api_port=$(wait_for_field "$api_pid" "$tmp/api.log" api_started port) || die "the api did not start"
"$bin" worker --db "$db" --observability-host 127.0.0.1 --observability-port 0 >"$tmp/worker.log" 2>"$tmp/worker.err" &
worker_pid=$!
worker_port=$(wait_for_field "$worker_pid" "$tmp/worker.log" worker_started observability_port) || die "the worker did not start"
api=http://127.0.0.1:$api_port

# The shipped rules, and the copy with every `for:` at 1 s.
rules=$root/deploy/prometheus/alerts.yml
sed -E -e 's/^([[:space:]]*-[[:space:]]*name:[[:space:]]*)(.*)$/\1short-\2/' \
       -e 's/^([[:space:]]*)for:.*$/\1for: 1s/' \
       -e 's/^([[:space:]]*)severity:(.*)$/\1copy: short\n\1severity:\2/' "$rules" >"$tmp/alerts-short.yml"
promtool check rules "$tmp/alerts-short.yml" >"$tmp/promtool.log" 2>&1 || die "the short copy of the rules is invalid: $(cat "$tmp/promtool.log")"
[[ $(grep -c 'copy: short' "$tmp/alerts-short.yml") == $(grep -c '^[[:space:]]*-[[:space:]]*alert:' "$rules") ]] \
  || die "not every alert of the short copy carries copy=\"short\""
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - "$rules"
  - "$tmp/alerts-short.yml"
scrape_configs:
  - job_name: backend
    static_configs:
      - targets: ["127.0.0.1:$api_port"]
  - job_name: worker
    static_configs:
      - targets: ["127.0.0.1:$worker_port"]
YAML
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5; do
  for _ in $(seq 1 50); do prom_port=$((20000 + RANDOM % 40000)); port_free "$prom_port" && break; done
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  prometheus_ready() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$prom_port/-/ready" || ! kill -0 "$prom_pid" 2>/dev/null; }
  wait_for 60 prometheus_ready
  kill -0 "$prom_pid" 2>/dev/null && break
  wait "$prom_pid" 2>/dev/null
  prom_pid=""
done
[[ -n $prom_pid ]] || die "Prometheus did not start: $(tail -n 5 "$tmp/prometheus.log")"
prom=http://127.0.0.1:$prom_port

# query PROMQL: the first value of an instant query ("" when empty or failing).
query() {
  curl -s --max-time 10 --get --data-urlencode "query=$1" "$prom/api/v1/query" \
    | jq -r 'select(.status == "success") | .data.result[0].value[1] // empty' 2>/dev/null
}
holds() { [[ -n $(query "$1") ]]; }
# expect WHAT TIMEOUT PROMQL: passes once the query returns a result.
expect() {
  if wait_for "$2" holds "$3"; then pass "$1"; else fail "$1: no result for $3 (without the comparison: $(query "${3%%>*}"))"; fi
}
# firing ALERTNAME [MATCHERS]: the short copy's alert is firing.
firing() { holds "ALERTS{alertname=\"$1\",alertstate=\"firing\",copy=\"short\"${2:+,$2}}"; }
expect_firing() {
  if wait_for "$2" firing "$1" "${3:-}"; then
    pass "$1${3:+ {$3\}} fires"
  else
    fail "$1${3:+ {$3\}} does not fire: $(curl -s --max-time 10 "$prom/api/v1/rules" | jq -c --arg a "$1" '[.data.groups[].rules[] | select(.name == $a) | {query, state, health, lastError, alerts: [.alerts[].labels]}]')"
  fi
}
# Both targets scraped twice: every pre-created series has a first sample.
scraped_twice() { holds 'min(count_over_time(up{job=~"backend|worker"}[1m])) >= 2 and min(up{job=~"backend|worker"}) == 1'; }
wait_for 60 scraped_twice || die "Prometheus did not scrape both targets: $(curl -s "$prom/api/v1/targets" | jq -c '[.data.activeTargets[] | {job: .labels.job, health, lastError}]')"
pass "api $api, worker 127.0.0.1:$worker_port and Prometheus $prom are up (1 s scrape and evaluation)"

# ---------------------------------------------------------------- user helpers

json=(-H 'Content-Type: application/json')
# status METHOD PATH [curl args...]: the HTTP status (000 when no answer).
status() {
  local method=$1 path=$2
  shift 2
  curl -s --max-time 30 -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$api$path" 2>/dev/null || echo 000
}
signup() {
  [[ $(status POST /v1/users "${json[@]}" --data-binary "{\"handle\":\"gameday_${RANDOM}${RANDOM}\"}") == 201 ]] \
    || die "sign-up failed: $(cat "$tmp/body")"
  token=$(jq -r .token "$tmp/body")
  auth=(-H "Authorization: Bearer $token")
  [[ $(status POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary '{"name":"Game day"}') == 201 ]] \
    || die "world creation failed: $(cat "$tmp/body")"
  world=$(jq -r .id "$tmp/body")
}
signup

# hold_lock SECONDS: another process takes the database write lock and keeps
# it for SECONDS; returns once the lock is held.
hold_lock() {
  rm -f "$tmp/lock.fifo"
  mkfifo "$tmp/lock.fifo"
  sqlite3 "$db" <"$tmp/lock.fifo" >"$tmp/lock.out" 2>&1 &
  lock_pid=$!
  rm -f "$tmp/locked"
  exec {lock_fd}>"$tmp/lock.fifo"
  printf '.timeout 60000\nBEGIN IMMEDIATE;\n.shell touch %s\n.shell sleep %s\nCOMMIT;\n.quit\n' "$tmp/locked" "$1" >&"$lock_fd"
  exec {lock_fd}>&-
  local i
  for i in $(seq 1 300); do
    [[ -e $tmp/locked ]] && return 0
    sleep 0.05
  done
  die "sqlite3 did not take the write lock: $(cat "$tmp/lock.out")"
}
release_lock() { [[ -n $lock_pid ]] && wait "$lock_pid" 2>/dev/null; lock_pid=""; }

# ---------------------------------------------------------------- scenarios

scenario_new_series() {
  echo "# new-series: a burst on a status no route has answered yet, a dead job of an unknown type"
  local code sent=0
  for _ in 1 2 3; do
    code=$(status PUT /v1/users "${json[@]}" --data-binary '{}')
    [[ $code == 405 ]] && sent=$((sent + 1))
  done
  [[ $sent == 3 ]] || fail "PUT /v1/users answered $code, not 405"
  expect "increase() over the burst counts all three 405s" 30 \
    'round(sum(increase(http_requests_total{job="backend",status="405"}[1m]))) == 3'
  local out
  out=$("$bin" jobs enqueue --db "$db" --type no.such.type --json 2>&1) || fail "jobs enqueue --type no.such.type: $out"
  expect "increase() counts the dead job of an unknown type" 30 \
    'round(sum(increase(jobs_dead_total{type="unknown"}[1m]))) == 1'
  expect_firing DeadJobs 30 'type="unknown"'
}

scenario_probes() {
  echo "# probes: slow user requests among fast probes"
  # Fast user reads: enough for the alert's traffic guard (0.1 user req/s over 5 m).
  local i code bad=0
  for i in $(seq 1 50); do
    code=$(status GET /v1/worlds "${auth[@]}")
    [[ $code == 200 ]] || bad=$((bad + 1))
  done
  # Ten slow writes: each waits about 1 s behind a lock held by another process.
  local writers=()
  hold_lock 1
  for i in $(seq 1 10); do
    curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X POST "${auth[@]}" "${json[@]}" \
      --data-binary "{\"name\":\"Slow $i\"}" "$api/v1/worlds" >"$tmp/slow.$i" 2>/dev/null &
    writers+=($!)
  done
  wait "${writers[@]}"
  release_lock
  for i in $(seq 1 10); do [[ $(cat "$tmp/slow.$i") == 201 ]] || bad=$((bad + 1)); done
  # Probes and scrapes: fast, and many more than the user requests.
  for _ in $(seq 1 400); do echo "url = \"$api/healthz\""; echo "output = /dev/null"; done >"$tmp/probes.curl"
  curl -s --max-time 60 -K "$tmp/probes.curl" || bad=$((bad + 1))
  if [[ $bad == 0 ]]; then
    pass "50 fast reads, 10 slow writes, 400 probes answered as expected"
  else
    fail "$bad user requests or probes were not answered as expected"
  fi
  expect_firing HighApiLatency 40
  if ! firing HighApiLatency; then
    echo "# user p95: $(query 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="backend",route!~"/healthz|/readyz|/metrics"}[5m])))')," \
         "user req/s: $(query 'sum(rate(http_requests_total{job="backend",route!~"/healthz|/readyz|/metrics"}[5m]))')"
  fi
}

scenario_lock() {
  echo "# lock: the write lock held from another process"
  hold_lock 4
  # Readiness says writes are held up, and why.
  local ready
  ready=$(curl -s --max-time 10 -w ' %{http_code}' "$api/readyz")
  if [[ ${ready##* } == 503 ]] && jq -e '.checks.writes.ok == false and (.checks.writes.error | test("write lock"))' <<<"${ready% *}" >/dev/null 2>&1; then
    pass "/readyz answers 503 while another process holds the write lock: ${ready% *}"
  else
    fail "/readyz while another process holds the write lock: $ready"
  fi
  # Waits past the 2.5 s busy timeout: 503.
  local code
  code=$(status POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary '{"name":"Behind a lock"}')
  release_lock
  ready=$(curl -s --max-time 10 -w ' %{http_code}' "$api/readyz")
  if [[ ${ready##* } == 200 ]] && jq -e '.checks.writes.ok == true and .checks.writes.main_file_writable == true' <<<"${ready% *}" >/dev/null 2>&1; then
    pass "/readyz answers 200 once the lock is free"
  else
    fail "/readyz after the lock was released: $ready"
  fi
  # Only the main file immutable: commits still go to the WAL, so the API is
  # ready (and says the main file cannot take checkpoints).
  if command -v chattr >/dev/null 2>&1 && chattr +i "$db" 2>"$tmp/chattr.err"; then
    local write
    write=$(status POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary '{"name":"Main file frozen"}')
    ready=$(curl -s --max-time 10 -w ' %{http_code}' "$api/readyz")
    chattr -i "$db"
    if [[ $write == 201 && ${ready##* } == 200 ]] \
       && jq -e '.checks.writes.ok == true and .checks.writes.main_file_writable == false' <<<"${ready% *}" >/dev/null 2>&1; then
      pass "only the main file immutable: a write succeeds (201) and /readyz is 200, reporting the main file: ${ready% *}"
    else
      fail "only the main file immutable: write $write, /readyz $ready"
    fi
  else
    echo "# SKIPPED: cannot set the immutable flag here: $(cat "$tmp/chattr.err")"
  fi
  if [[ $code == 503 ]]; then
    pass "a write behind a 4 s lock answers 503 after the busy timeout"
  else
    fail "a write behind a 4 s lock answered $code, not 503: $(cat "$tmp/body")"
  fi
  expect "the lock-wait histogram shows waits of a second and more" 30 \
    'histogram_quantile(0.95, sum by (le) (rate(db_lock_wait_seconds_bucket{job="backend"}[1m]))) >= 1'
  local panel
  panel=$(jq -r '.panels[] | select(.title == "DB write lock wait p95") | .targets[0].expr' \
            "$root/deploy/grafana/dashboards/personaworlds-observability.json")
  if [[ -z $panel ]]; then
    fail "the dashboard has no panel \"DB write lock wait p95\""
  else
    panel=${panel//\$__rate_interval/1m}
    expect "the dashboard's lock-wait panel returns the wait: $panel" 30 "($panel) >= 1"
  fi
  expect "the busy time-out is counted" 30 'sum(increase(db_busy_timeouts_total{job="backend"}[1m])) >= 1'
  expect "the write that gave up is counted as database-unavailable (reason busy)" 30 \
    'sum(increase(db_unavailable_total{job="backend",reason="busy"}[1m])) >= 1'
}

scenario_no_worker() {
  echo "# no-worker: the only worker stops while users enqueue"
  kill -TERM "$worker_pid"
  wait "$worker_pid" 2>/dev/null
  worker_pid=""
  local stopped_at
  stopped_at=$(date +%s)
  # Users keep enqueueing: a few through the API, the bulk from the command line.
  local i out
  for i in 1 2 3; do
    [[ $(status POST "/v1/worlds/$world/personas:generate" "${auth[@]}" "${json[@]}" --data-binary '{"count":1}') == 202 ]] \
      || fail "POST personas:generate: $(cat "$tmp/body")"
  done
  for i in $(seq 1 6); do
    out=$("$bin" jobs enqueue --db "$db" --type noop --count 30 --json 2>&1) || fail "jobs enqueue: $out"
    sleep 1
  done
  expect_firing NoWorkerRunning 30
  expect_firing QueueBacklogGrowing 30 'type="noop"'
  expect "the backlog is visible with no worker: queue_depth of noop above 100" 10 \
    'max by (type) (queue_depth{type="noop"}) > 100'
  expect "the oldest-ready age is visible with no worker" 10 \
    'max by (type) (job_oldest_ready_age_seconds{type="noop"}) > 0'
  # Present at every scrape since the worker stopped (one sample a second).
  local since=$(($(date +%s) - stopped_at - 1))
  expect "queue_depth and the oldest-ready age have a sample at every scrape of the last ${since}s" 5 \
    "min(count_over_time(queue_depth{job=\"backend\",type=\"noop\"}[${since}s])) >= $((since - 1)) and min(count_over_time(job_oldest_ready_age_seconds{job=\"backend\",type=\"noop\"}[${since}s])) >= $((since - 1))"
}

for scenario in "${scenarios[@]}"; do
  case $scenario in
    new-series) scenario_new_series ;;
    probes) scenario_probes ;;
    lock) scenario_lock ;;
    no-worker) scenario_no_worker ;;
    *) die "unknown scenario: $scenario" ;;
  esac
done

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
