#!/usr/bin/env bash
# `make bench-http`: the API against a bare cpp-httplib server in the same run.
#
# The yardstick is pw_bare_http (bench/http/bare_server.cpp): the same
# cpp-httplib library, 16 handler threads like the API's default, keep-alive
# up to 1000 requests, TCP_NODELAY, GET /healthz only, no logging or metrics.
# Every measurement of ours is preceded by one of the bare server's /healthz
# in the same round, and its ratio is taken against that one, so a machine
# that gets busier or quieter during the run moves both sides.
#
# Rows of ours (API at LOG_LEVEL=info with its JSON access log written to a
# file, metrics on, the per-user and per-world limits lifted), each on every
# database of BENCH_HTTP_DRIVERS:
#   GET /healthz
#   GET /v1/worlds/{id}                  bearer token, one owned world
#   GET /v1/worlds/{id}/events?limit=100 a world holding >= 100 events
#   POST /v1/worlds
#   POST /v1/worlds/{id}/simulations     {"ticks":1}, one worker at its defaults
#   POST .../simulations, 100k backlog   worker stopped, BENCH_HTTP_BACKLOG noop
#                                        jobs enqueued first (measured last)
#
# Usage: bench/http/http.sh BUILD_DIR [SECONDS] [RUNS] [CONNECTIONS]
# Environment:
#   BENCH_HTTP_DRIVERS  "sqlite postgres", "sqlite" or "postgres"; default:
#                       both when PostgreSQL server binaries are installed
#   BENCH_HTTP_WARMUP   seconds of wrk before each measurement (default 1)
#   BENCH_HTTP_BACKLOG  jobs enqueued for the backlog row (default 100000)
# Prints the table and writes it into BENCHMARKS.md (section "HTTP").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
seconds="${2:-5}"
runs="${3:-3}"
connections="${4:-16}"
warmup="${BENCH_HTTP_WARMUP:-1}"
backlog="${BENCH_HTTP_BACKLOG:-100000}"
binary="$build/personaworlds"
bare_binary="$build/bench/http/pw_bare_http"
scratch="$root/.bench/http"
postgres_sh="$root/tests/support/postgres.sh"
# shellcheck source=bench/http/lib.sh
source "$here/lib.sh"

if [[ -n "${BENCH_HTTP_DRIVERS:-}" ]]; then
  drivers="$BENCH_HTTP_DRIVERS"
elif ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  drivers="sqlite postgres"
else
  drivers="sqlite"
fi
for d in $drivers; do
  [[ "$d" == sqlite || "$d" == postgres ]] || { echo "bench-http: unknown driver '$d' in BENCH_HTTP_DRIVERS" >&2; exit 2; }
done
[[ -x "$bare_binary" ]] || { echo "bench-http: build $bare_binary first (target pw_bare_http)" >&2; exit 1; }

prepare_run bench-http wrk jq curl
API_PID="" WORKER_PID="" BARE_PID="" PG_DIR=""
# Runs under set -e: every step must succeed, or the rest are skipped (a kill
# of a process that already died fails).
cleanup() {
  local pid
  for pid in "$API_PID" "$WORKER_PID" "$BARE_PID"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  if [[ -n "$PG_DIR" ]]; then bash "$postgres_sh" stop "$PG_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

limits=(--max-worlds-per-user 1000000 --max-simulations-per-world 1000000 --max-pending-simulations 1000000)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the bare server --------------------------------------------------------

bare_log="$scratch/bare.log"
for _ in $(seq 1 20); do
  BARE_PORT=$((20000 + RANDOM % 40000))
  "$bare_binary" "$BARE_PORT" 16 >"$bare_log" 2>&1 &
  BARE_PID=$!
  for _ in $(seq 1 200); do
    grep -q '^listening' "$bare_log" && break
    kill -0 "$BARE_PID" 2>/dev/null || break
    sleep 0.02
  done
  grep -q '^listening' "$bare_log" && kill -0 "$BARE_PID" 2>/dev/null && break
  wait "$BARE_PID" 2>/dev/null || true
  BARE_PID=""
done
[[ -n "$BARE_PID" ]] || { echo "bench-http: the bare server did not start:" >&2; cat "$bare_log" >&2; exit 1; }

# ---- helpers -----------------------------------------------------------------

# Per measurement: results["DRIVER ROW ROUND METRIC"]; the bare run before it:
# results["DRIVER ROW ROUND bare_rps"].
declare -A results
loads=()

# wrk_run REPORT URL [wrk arguments...]: warm-up, then the measured run.
wrk_run() {
  local report="$1" url="$2"; shift 2
  wrk -t2 -c"$connections" -d"${warmup}s" "$@" "$url" >/dev/null
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "$url" >"$report"
  loads+=("$(load_average)")
}

lua_post() {  # lua_post FILE BODY: a wrk script sending BODY as a JSON POST
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
    "$(jq -Rn --arg b "$2" '$b')" >"$1"
}

record() {  # record KEY REPORT
  local key="$1" report="$2" metric
  for metric in rps p50 p99 non2xx requests connect read write timeout; do
    results["$key $metric"]="$(wrk_field "$report" "$metric")"
  done
}

# measure DRIVER ROW ROUND URL [wrk arguments...]: the bare server's /healthz,
# then the row, both recorded.
measure() {
  local driver="$1" row="$2" round="$3" url="$4"; shift 4
  local bare_report="$scratch/wrk-$driver-$row-$round-bare.txt"
  local report="$scratch/wrk-$driver-$row-$round.txt"
  wrk_run "$bare_report" "http://127.0.0.1:$BARE_PORT/healthz"
  results["$driver $row $round bare_rps"]="$(wrk_field "$bare_report" rps)"
  record "bare bare $driver-$row-$round" "$bare_report"
  wrk_run "$report" "$url" "$@"
  record "$driver $row $round" "$report"
  printf 'bench-http: %s %s round %s: %.0f req/s (bare %.0f), p99 %s ms, non-2xx %s\n' "$driver" "$row" "$round" \
    "${results["$driver $row $round rps"]}" "${results["$driver $row $round bare_rps"]}" \
    "${results["$driver $row $round p99"]}" "${results["$driver $row $round non2xx"]}"
  if [[ "$row" == post_sim ]]; then
    local depth
    depth="$(queued_jobs)"
    [[ "$depth" =~ ^[0-9]+$ ]] && (( depth > ${sim_depth[$driver]:-0} )) && sim_depth[$driver]=$depth
  fi
  # Keep the scratch folder small; both processes append to their emptied files.
  : >"$api_log"
  [[ -n "$WORKER_PID" ]] && : >"$worker_log"
  true
}

get_json() { curl -sf "http://127.0.0.1:$API_PORT$1" -H "Authorization: Bearer $2"; }

wait_job() {  # wait_job TOKEN JOB_ID: until it succeeded (fails if dead or slow)
  local state
  for _ in $(seq 1 1200); do
    state="$(get_json "/v1/jobs/$2" "$1" | jq -r .state)"
    [[ "$state" == succeeded ]] && return 0
    [[ "$state" == dead || "$state" == canceled ]] && { echo "bench-http: job $2 ended $state" >&2; return 1; }
    sleep 0.1
  done
  echo "bench-http: job $2 did not finish in 120 s (state $state)" >&2
  return 1
}

start_worker() {
  env LOG_LEVEL=info "$binary" worker "${db_args[@]}" --observability-host 127.0.0.1 --observability-port 0 >>"$worker_log" 2>&1 &
  WORKER_PID=$!
}

# queued_jobs: jobs ready to run, by the API's queue_depth gauges.
queued_jobs() {
  curl -sf "http://127.0.0.1:$API_PORT/metrics" | awk '/^queue_depth\{/ { s += $2 } END { printf "%d\n", s }' || echo "?"
}

rows_main=(healthz world events post_world post_sim)
declare -A row_name=(
  [healthz]='GET /healthz'
  [world]='GET /v1/worlds/{id}'
  [events]='GET /v1/worlds/{id}/events?limit=100'
  [post_world]='POST /v1/worlds'
  [post_sim]='POST /v1/worlds/{id}/simulations (worker running)'
  [post_sim_backlog]="POST /v1/worlds/{id}/simulations ($((backlog / 1000))k-job backlog, worker stopped)"
)
declare -A peak_api peak_worker backlog_before backlog_after server_errors sim_depth

# ---- one database -------------------------------------------------------------

run_driver() {
  local driver="$1"
  api_log="$scratch/api-$driver.log"
  worker_log="$scratch/worker-$driver.log"
  : >"$worker_log"
  if [[ "$driver" == sqlite ]]; then
    db_args=(--db "$db")
  else
    PG_DIR="$scratch/postgres-server"
    bash "$postgres_sh" stop "$PG_DIR" >/dev/null 2>&1 || true
    bash "$postgres_sh" start "$PG_DIR"
    local server_url
    server_url="$(cat "$PG_DIR/url")"
    psql "$server_url" -qAt -c "CREATE DATABASE pw_http"
    pg_version="$(psql "$server_url" -qAt -c "SHOW server_version" | cut -d' ' -f1)"
    db_args=(--database-url "${server_url/\/postgres\?//pw_http?}")
    "$binary" migrate "${db_args[@]}" >>"$scratch/migrate.log" 2>&1 ||
      { cat "$scratch/migrate.log" >&2; exit 1; }
  fi

  # start_api names the SQLite file itself; a PostgreSQL URL overrides it.
  local api_db_args=()
  [[ "$driver" == postgres ]] && api_db_args=("${db_args[@]}")
  start_api "$api_log" LOG_LEVEL=info -- "${api_db_args[@]}" "${limits[@]}"
  start_worker
  local token world events_world sim_world job sim count
  token="$(sign_up "bench_$driver")"
  world="$(post_json /v1/worlds "$token" '{"name":"Bench","seed":1}' | jq -r .id)"
  # A world whose first page of events is full: 8 personas, 100 ticks.
  events_world="$(post_json /v1/worlds "$token" '{"name":"Timeline","seed":2}' | jq -r .id)"
  job="$(post_json "/v1/worlds/$events_world/personas:generate" "$token" '{"count":8}' | jq -r .job.id)"
  wait_job "$token" "$job"
  sim="$(post_json "/v1/worlds/$events_world/simulations" "$token" '{"ticks":100}')"
  wait_job "$token" "$(echo "$sim" | jq -r .job.id)"
  count="$(get_json "/v1/worlds/$events_world/events?limit=100" "$token" | jq '.items | length')"
  [[ "$count" == 100 ]] || { echo "bench-http: the events world holds $count events, not >= 100" >&2; exit 1; }
  # Simulations of one tick over two personas: at most one event each.
  sim_world="$(post_json /v1/worlds "$token" '{"name":"Runs","seed":3}' | jq -r .id)"
  job="$(post_json "/v1/worlds/$sim_world/personas:generate" "$token" '{"count":2}' | jq -r .job.id)"
  wait_job "$token" "$job"
  lua_post "$scratch/post_world.lua" '{"name":"Bench","seed":1}'
  lua_post "$scratch/post_sim.lua" '{"ticks":1}'

  local base="http://127.0.0.1:$API_PORT" auth=(-H "Authorization: Bearer $token") round row
  for round in $(seq 1 "$runs"); do
    for row in "${rows_main[@]}"; do
      case "$row" in
        healthz) measure "$driver" "$row" "$round" "$base/healthz" ;;
        world) measure "$driver" "$row" "$round" "$base/v1/worlds/$world" "${auth[@]}" ;;
        events) measure "$driver" "$row" "$round" "$base/v1/worlds/$events_world/events?limit=100" "${auth[@]}" ;;
        post_world) measure "$driver" "$row" "$round" "$base/v1/worlds" "${auth[@]}" -s "$scratch/post_world.lua" ;;
        post_sim) measure "$driver" "$row" "$round" "$base/v1/worlds/$sim_world/simulations" "${auth[@]}" -s "$scratch/post_sim.lua" ;;
      esac
    done
  done

  # The backlog: the worker stops (its peak memory read first), then noop jobs
  # it would otherwise drain go in, in one transaction. The simulations posted
  # now pile up on top of them, pending.
  peak_worker[$driver]=$(peak_rss_kb "$WORKER_PID")
  stop_pid "$WORKER_PID" || echo "bench-http: the worker did not stop cleanly" >&2
  WORKER_PID=""
  "$binary" jobs enqueue "${db_args[@]}" --type noop --count "$backlog" >"$scratch/enqueue-$driver.log" 2>&1 ||
    { cat "$scratch/enqueue-$driver.log" >&2; exit 1; }
  backlog_before[$driver]="$(queued_jobs)"
  for round in $(seq 1 "$runs"); do
    measure "$driver" post_sim_backlog "$round" "$base/v1/worlds/$sim_world/simulations" "${auth[@]}" -s "$scratch/post_sim.lua"
  done
  backlog_after[$driver]="$(queued_jobs)"

  # Answers other than 2xx by the API's own count, for the notes.
  server_errors[$driver]="$(curl -sf "$base/metrics" |
    awk '/^http_requests_total\{/ && !/status="2/ && $2 > 0 { print $1 " " $2 }' | paste -sd';' - || true)"
  peak_api[$driver]=$(peak_rss_kb "$API_PID")
  stop_pid "$API_PID" || echo "bench-http: the API did not stop cleanly" >&2
  API_PID=""
  if [[ "$driver" == postgres ]]; then
    bash "$postgres_sh" stop "$PG_DIR" >/dev/null 2>&1 || true
    PG_DIR=""
  fi
}

for driver in $drivers; do
  run_driver "$driver"
done
stop_pid "$BARE_PID" || true
BARE_PID=""

# ---- the table ----------------------------------------------------------------

med() { median "$@"; }
values() {  # values DRIVER ROW METRIC: the per-round figures
  local r
  for r in $(seq 1 "$runs"); do echo "${results["$1 $2 $r $3"]}"; done
}
per_round() { awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }'; }
# Three decimals below 0.1, so a slow row does not read as 0.00.
ratio_text() { awk -v r="$1" 'BEGIN { printf (r < 0.1 ? "%.3f" : "%.2f"), r }'; }
sum() { awk '{s += $1} END {print s + 0}'; }
ratios() {  # ratios DRIVER ROW: ours / bare of the same round, per round
  local r
  for r in $(seq 1 "$runs"); do
    awk -v a="${results["$1 $2 $r rps"]}" -v b="${results["$1 $2 $r bare_rps"]}" 'BEGIN { printf "%.4f\n", a / b }'
  done
}
bare_rps_all=()
for key in "${!results[@]}"; do
  [[ "$key" == "bare bare "*" rps" ]] && bare_rps_all+=("${results[$key]}")
done
bare_keys() { for key in "${!results[@]}"; do [[ "$key" == "bare bare "*" $1" ]] && echo "${results[$key]}"; done; }

all_rows=("${rows_main[@]}" post_sim_backlog)
declare -A row_ratio row_p99 row_bad
table="$scratch/section.md"
{
  echo "## HTTP"
  echo
  echo "\`make bench-http\` (bench/http/http.sh): wrk, 2 threads, $connections keep-alive connections, ${seconds} s per measurement after a ${warmup} s warm-up, on 127.0.0.1. Every measurement of ours is preceded by one of a bare cpp-httplib server's \`GET /healthz\` (bench/http/bare_server.cpp: the same cpp-httplib $(pkg-config --modversion cpp-httplib 2>/dev/null || echo ?) library, 16 handler threads like the API's default, keep-alive up to 1000 requests, TCP_NODELAY, no logging or metrics); the ratio is ours / that bare run, per round, and the table gives the median of $runs rounds (of the ratios, and of each figure). Non-2xx and socket errors are totals over the rounds."
  echo
  echo "The API runs at LOG_LEVEL=info with its JSON access log written to a file, metrics on (a counter and a histogram observation per request), its defaults otherwise (16 handler threads), and the limits lifted: \`${limits[*]}\`. \`GET /v1/worlds/{id}\` and the rows after it carry a bearer token. The events world holds more than 100 events (8 generated personas, one simulation of 100 ticks run to completion first). \`POST /v1/worlds\` sends \`{\"name\":\"Bench\",\"seed\":1}\`; \`POST .../simulations\` sends \`{\"ticks\":1}\` to a world of 2 personas. In the first rows one \`personaworlds worker\` runs at its defaults on the same database to drain the queue; whether it keeps the queue near empty is measured, not assumed (the notes below give the queue depth after each such measurement). Backlog row (measured after all other rounds): the worker is stopped and $backlog \`noop\` jobs are enqueued (\`personaworlds jobs enqueue --count $backlog\`, one transaction); nothing drains the queue then, so the simulations the row posts pile up on top of the backlog as pending (they count against the per-user and per-world limits, which is what the quota check reads)."
  echo
  echo "Machine: $(machine_line), run finished $(date -u +%H:%M) UTC; binary built $(date -u -r "$binary" '+%Y-%m-%d %H:%M') UTC; source tree at run time: main at $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo ' plus uncommitted changes under src/')${pg_version:+, PostgreSQL $pg_version (throwaway server from tests/support/postgres.sh: fsync and full_page_writes off)}"
  echo
  echo "Load: the whole run took $((SECONDS / 60)) min $((SECONDS % 60)) s; 1/5/15-minute load average before the run $load_before; 1-minute load after each measurement: $(median "${loads[@]}") (median), $(printf '%s\n' "${loads[@]}" | sort -g | tail -1) (highest), on $(nproc) cores. wrk itself runs on the same cores."
  echo
  echo "| Database | Endpoint | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors | x bare /healthz |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  # shellcheck disable=SC2046
  printf '| - | bare cpp-httplib GET /healthz (all %d runs) | %.0f | %s | %s | %s | %s | 1.00 |\n' "${#bare_rps_all[@]}" \
    "$(med "${bare_rps_all[@]}")" "$(med $(bare_keys p50))" "$(med $(bare_keys p99))" \
    "$(bare_keys non2xx | sum)" "$( (bare_keys connect; bare_keys read; bare_keys write; bare_keys timeout) | sum)"
  for driver in $drivers; do
    for row in "${all_rows[@]}"; do
      # shellcheck disable=SC2046
      rps="$(med $(values "$driver" "$row" rps))"
      # shellcheck disable=SC2046
      p50="$(med $(values "$driver" "$row" p50))"
      # shellcheck disable=SC2046
      p99="$(med $(values "$driver" "$row" p99))"
      # shellcheck disable=SC2046
      ratio="$(med $(ratios "$driver" "$row"))"
      non2xx="$(values "$driver" "$row" non2xx | sum)"
      requests="$(values "$driver" "$row" requests | sum)"
      errors="$( (values "$driver" "$row" connect; values "$driver" "$row" read; values "$driver" "$row" write; values "$driver" "$row" timeout) | sum)"
      row_ratio["$driver $row"]="$ratio"; row_p99["$driver $row"]="$p99";
      row_bad["$driver $row"]=$(( non2xx + errors ))
      non2xx_cell="$non2xx"
      (( non2xx > 0 )) && non2xx_cell="**$non2xx** of $requests"
      errors_cell="$errors"; (( errors > 0 )) && errors_cell="**$errors**"
      printf '| %s | %s | %.0f | %s | %s | %s | %s | %s |\n' "$driver" "${row_name[$row]}" "$rps" "$p50" "$p99" \
        "$non2xx_cell" "$errors_cell" "$(ratio_text "$ratio")"
    done
  done
  echo
  for driver in $drivers; do
    printf -- '- %s: peak RSS (VmHWM) over the run: api %.1f MB, worker %.1f MB. Jobs ready in the queue right after each worker-running simulations measurement: at most %s. Jobs ready in the queue (queue_depth, summed) at the start of the backlog row: %s; at its end: %s.' \
      "$driver" "$(awk -v k="${peak_api[$driver]}" 'BEGIN {print k / 1024}')" \
      "$(awk -v k="${peak_worker[$driver]}" 'BEGIN {print k / 1024}')" "${sim_depth[$driver]:-0}" "${backlog_before[$driver]}" "${backlog_after[$driver]}"
    if [[ -n "${server_errors[$driver]}" ]]; then
      echo " Non-2xx answers by the API's own count (http_requests_total, setup requests included): ${server_errors[$driver]//;/, }."
    else
      echo " The API counted no answer other than 2xx."
    fi
  done
  echo
  echo "Targets of issue 14 (SQLite, this run; computed by the script):"
  echo
  verdict() { if [[ "$1" == 1 ]]; then echo "met"; else echo "**not met**"; fi; }
  ok() { awk "BEGIN { exit !($1) }" && echo 1 || echo 0; }
  # A row that answered errors does not meet a target, whatever its speed.
  clean() { [[ "${row_bad["sqlite $1"]}" == 0 ]] && echo 1 || echo 0; }
  if [[ " $drivers " == *" sqlite "* ]]; then
    r="${row_ratio["sqlite healthz"]}"
    echo "- \`GET /healthz\` >= 0.9x bare: $(ratio_text "$r")x, $(verdict "$(ok "$r >= 0.9 && $(clean healthz)")")."
    r="${row_ratio["sqlite world"]}"
    echo "- Authenticated \`GET /v1/worlds/{id}\` >= 0.5x bare /healthz: $(ratio_text "$r")x, $(verdict "$(ok "$r >= 0.5 && $(clean world)")")."
    r="${row_ratio["sqlite post_sim"]}"; p="${row_p99["sqlite post_sim"]}"
    echo "- \`POST .../simulations\` >= 0.25x bare /healthz: $(ratio_text "$r")x, $(verdict "$(ok "$r >= 0.25 && $(clean post_sim)")"); p99 < 20 ms at $connections connections: $p ms, $(verdict "$(ok "$p < 20")")."
    rb="${row_ratio["sqlite post_sim_backlog"]}"; pb="${row_p99["sqlite post_sim_backlog"]}"
    echo "- \`POST .../simulations\` requests/s per round: worker running $(values sqlite post_sim rps | per_round); backlog $(values sqlite post_sim_backlog rps | per_round)."
    echo "- Flat with a $((backlog / 1000))k-job backlog (here: the backlog row's ratio at least 0.9x the worker-running row's, and its p99 under 20 ms): $(ratio_text "$rb")x vs $(ratio_text "$r")x, p99 $pb ms, $(verdict "$(ok "$rb >= 0.9 * $r && $pb < 20 && $(clean post_sim_backlog)")")."
    api_mb="$(awk -v k="${peak_api[sqlite]}" 'BEGIN {printf "%.1f", k / 1024}')"
    worker_mb="$(awk -v k="${peak_worker[sqlite]}" 'BEGIN {printf "%.1f", k / 1024}')"
    echo "- RSS of each role < 64 MB: api $api_mb MB, worker $worker_mb MB, $(verdict "$(ok "$api_mb < 64 && $worker_mb < 64")")."
  else
    echo "- Not evaluated: SQLite was not measured in this run (BENCH_HTTP_DRIVERS=$drivers)."
  fi
} >"$table"
cat "$table"
write_section "$root/BENCHMARKS.md" HTTP "$table"
echo "bench-http: reports in $scratch; table written to BENCHMARKS.md (section HTTP)"
