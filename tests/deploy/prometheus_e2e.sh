#!/usr/bin/env bash
# End to end against a real Prometheus (issue 6): scripts/stack.sh starts
# migrate, api, worker and Debian's Prometheus on 127.0.0.1 (free ports,
# scrape and rule evaluation every second, the compose scrape config with
# loopback targets, deploy/prometheus/alerts.yml); tests/deploy/traffic.sh
# drives successes, 4xx, 5xx and succeeding, retried and dead jobs. Then,
# through Prometheus's HTTP API:
#   - both scrape targets (backend, worker) are up;
#   - every alert rule is loaded and evaluates without error;
#   - Prometheus saw the traffic: 4xx and 5xx, failed attempts, retries,
#     dead jobs, trace present and missing;
#   - every dashboard panel query and alert expression evaluates without
#     error, and every panel returns data (dashboard_queries.sh --require-data);
# and finally SIGTERM stops the stack, every process of it included.
#
# Usage: prometheus_e2e.sh [PERSONAWORLDS_BINARY] [REPO_ROOT]
# Needs: prometheus, promtool, curl, jq, sqlite3. PW_KEEP_TMP=1 keeps the
# temporary folder (logs, database, generated config).

# jq programs and PromQL are single-quoted on purpose; functions are called
# through check/wait_for.
# shellcheck disable=SC2016,SC2317
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=scene.sh
source "$(dirname "${BASH_SOURCE[0]}")/scene.sh"

root=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${1:-$root/build/personaworlds}
for tool in prometheus promtool curl jq sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL - required tool not found: $tool"; exit 2; }
done
[[ -x $bin ]] || { echo "FAIL - no binary at $bin (build it first)"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-prometheus-e2e.XXXXXX")
stack_pid=""
passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
die() { fail "$*"; exit 1; }

cleanup() {
  local pid
  if [[ -n $stack_pid ]] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null
    for _ in $(seq 1 400); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # Whatever the stack left behind (it was killed, say): stop it by pid.
  for pid in ${API_PID:-} ${WORKER_PID:-} ${PROMETHEUS_PID:-} $stack_pid; do
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  end_scene "$failed" "$tmp" "$tmp/stack.out" "$tmp/traffic.out" "$tmp/stack/api.err" "$tmp/stack/worker.err" "$tmp/stack/prometheus.log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the stack

# Fast retries and few attempts (the failing webhook goes dead quickly),
# loopback webhooks allowed, a short busy timeout for the 5xx.
unset PORT HOST DATABASE_PATH WORKER_OBSERVABILITY_PORT WORKER_OBSERVABILITY_HOST
export LOG_FORMAT=json LOG_LEVEL=info ALLOW_PRIVATE_WEBHOOKS=true BACKOFF_BASE_MS=50 BACKOFF_CAP_MS=200 \
  JOB_MAX_ATTEMPTS=3 WEBHOOK_TIMEOUT_MS=2000 DATABASE_BUSY_TIMEOUT_MS=3000 WORKER_LEASE_MS=5000

bash "$root/scripts/stack.sh" --bin "$bin" --dir "$tmp/stack" --api-port 0 --worker-port 0 \
  --prometheus-port 0 --scrape-interval 1s >"$tmp/stack.out" 2>&1 &
stack_pid=$!
stack_up() { [[ -s $tmp/stack/stack.env ]] || ! kill -0 "$stack_pid" 2>/dev/null; }
wait_for 120 stack_up
[[ -s $tmp/stack/stack.env ]] || die "scripts/stack.sh did not come up: $(tail -n 20 "$tmp/stack.out")"
# shellcheck source=/dev/null
source "$tmp/stack/stack.env"
pass "scripts/stack.sh: api $API_URL, worker $WORKER_URL, Prometheus $PROMETHEUS_URL"
for url in "$API_URL" "$WORKER_URL" "$PROMETHEUS_URL"; do
  [[ $url == http://127.0.0.1:* ]] || fail "$url is not on 127.0.0.1"
done

# query PROMQL: the first value of an instant query ("" when empty or failing).
query() {
  curl -s --max-time 10 --get --data-urlencode "query=$1" "$PROMETHEUS_URL/api/v1/query" \
    | jq -r 'select(.status == "success") | .data.result[0].value[1] // empty' 2>/dev/null
}
# holds PROMQL: the query returns a non-empty result (a comparison that is true).
holds() { [[ -n $(query "$1") ]]; }

targets_up() {
  curl -s --max-time 10 "$PROMETHEUS_URL/api/v1/targets" | jq -e --arg api "$API_URL/metrics" --arg worker "$WORKER_URL/metrics" '
    [.data.activeTargets[] | select(.health == "up") | {job: .labels.job, url: .scrapeUrl}]
    | any(.job == "backend" and .url == $api) and any(.job == "worker" and .url == $worker)' >/dev/null 2>&1
}
if wait_for 90 targets_up; then
  pass "/api/v1/targets: backend ($API_URL) and worker ($WORKER_URL) are up"
else
  fail "/api/v1/targets: not both up: $(curl -s "$PROMETHEUS_URL/api/v1/targets" | jq -c '[.data.activeTargets[] | {job: .labels.job, health, lastError}]')"
fi

# ---------------------------------------------------------------- traffic

if bash "$root/tests/deploy/traffic.sh" --db "$DATABASE_PATH" --bin "$bin" --rounds 2 "$API_URL" >"$tmp/traffic.out" 2>&1; then
  pass "traffic: $(tail -n 1 "$tmp/traffic.out")"
else
  fail "traffic.sh:"$'\n'"$(grep -v '^webhook' "$tmp/traffic.out" | sed 's/^/       /')"
fi

# Prometheus sees what happened, as the dashboard's rates do.
seen() {
  local what=$1 expr=$2
  if wait_for 90 holds "$expr"; then pass "Prometheus sees $what: $expr"; else fail "Prometheus does not see $what: $expr (value: $(query "${expr%%>*}"))"; fi
}
seen "2xx from the API" 'sum(rate(http_requests_total{job="backend",status=~"2.."}[5m])) > 0'
seen "4xx from the API" 'sum(rate(http_requests_total{job="backend",status=~"4.."}[5m])) > 0'
seen "5xx from a /v1 route" 'sum(rate(http_requests_total{job="backend",route=~"/v1/.*",status=~"5.."}[5m])) > 0'
seen "succeeded jobs" 'sum(rate(jobs_processed_total{status="succeeded"}[5m])) > 0'
seen "failed attempts" 'sum(rate(jobs_processed_total{status="failed"}[5m])) > 0'
seen "retries" 'sum(rate(job_retries_total{type="webhook.deliver"}[5m])) > 0'
seen "dead jobs of a known type" 'sum(increase(jobs_dead_total{type="webhook.deliver"}[5m])) > 0'
seen "dead jobs of an unknown type" 'sum(increase(jobs_dead_total{type="unknown"}[5m])) > 0'
seen "traced jobs" 'sum(rate(jobs_trace_total{trace="present"}[5m])) > 0'
seen "untraced jobs" 'sum(rate(jobs_trace_total{trace="missing"}[5m])) > 0'
seen "DB query latency" 'sum(rate(db_query_duration_seconds_count[5m])) > 0'

# ---------------------------------------------------------------- rules and dashboard

declared=$(grep -c '^[[:space:]]*-[[:space:]]*alert:' "$root/deploy/prometheus/alerts.yml")
rules_evaluated() {
  curl -s --max-time 10 "$PROMETHEUS_URL/api/v1/rules" | jq -e --argjson n "$declared" '
    [.data.groups[].rules[] | select(.type == "alerting")] | length == $n
    and all(.health == "ok" and (.lastError // "") == "" and .lastEvaluation != "0001-01-01T00:00:00Z")' >/dev/null 2>&1
}
if wait_for 60 rules_evaluated; then
  pass "all $declared alert rules of deploy/prometheus/alerts.yml loaded and evaluated without error"
else
  fail "alert rules: $(curl -s "$PROMETHEUS_URL/api/v1/rules" | jq -c '[.data.groups[].rules[] | {name, health, lastError}]')"
fi

if bash "$root/tests/deploy/dashboard_queries.sh" --require-data --except-row PostgreSQL --rate-interval 1m --root "$root" "$PROMETHEUS_URL" >"$tmp/queries.out" 2>&1; then
  pass "every dashboard panel and alert expression evaluates, every panel outside the PostgreSQL row has data ($(tail -n 1 "$tmp/queries.out"))"
else
  fail "dashboard_queries.sh --require-data:"$'\n'"$(grep -v '^OK' "$tmp/queries.out" | sed 's/^/       /')"
fi

# ---------------------------------------------------------------- stopping

kill -TERM "$stack_pid"
stack_stopped() { ! kill -0 "$stack_pid" 2>/dev/null; }
if wait_for 60 stack_stopped; then
  wait "$stack_pid"
  status=$?
  alive=""
  for pid in $API_PID $WORKER_PID $PROMETHEUS_PID; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done
  if [[ $status == 0 && -z $alive ]]; then
    pass "SIGTERM stops the stack (exit 0) and every process it started"
  else
    fail "after SIGTERM: stack.sh exit status $status, still running:${alive:- none}"
  fi
else
  fail "scripts/stack.sh did not stop within 60 s of SIGTERM"
fi
stack_pid=""

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
