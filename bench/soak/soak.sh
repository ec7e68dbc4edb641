#!/usr/bin/env bash
# `make soak`: the whole system under steady traffic for a long time, with
# job pruning on, checking that nothing grows without bound. One API and two
# workers on a fresh database; for SECONDS:
#   - churn.lua (wrk): worlds created, personas generated, small simulations
#     run and read back, old worlds deleted, so the domain tables stay flat;
#   - reader.lua (wrk): back-to-back pages of every world's events, so some
#     read transaction is nearly always open while the workers checkpoint;
#   - SOAK_NOOPS_PER_SECOND noop jobs enqueued each second from the CLI.
# Workers prune jobs finished more than SOAK_RETENTION_MS ago every
# SOAK_PRUNE_INTERVAL_MS. Every SOAK_SAMPLE_SECONDS: RSS of the three
# processes, database and WAL file sizes, queue backlog, rows, jobs done.
# Then the queue must drain, every process must exit 0 on SIGTERM and
# PRAGMA integrity_check must say ok.
# Fails (exit 1) when a bound is passed (settings, environment):
#   SOAK_MAX_RSS_MB (200)          peak RSS (VmHWM) of each process
#   SOAK_MAX_RSS_GROWTH_MB (32)    RSS growth of each process over the second half
#   SOAK_MAX_WAL_MB (128)          largest WAL file seen (sampled every second);
#                                  the worker truncates it past 64 MiB
#   SOAK_DB_GROWTH (1.5), SOAK_DB_SLACK_MB (4)
#                                  database file at the end <= GROWTH x its size
#                                  at half time + SLACK: once retention has
#                                  passed, pruning and world deletion free pages
#                                  as fast as traffic fills them
#   SOAK_MAX_BACKLOG (2000)        most queued jobs seen; SOAK_DRAIN_SECONDS (60)
#                                  for the queue to empty after the traffic
# and also on: no pruning at all, a dead job, a lapsed or lost lease, a 5xx or
# an unexpected 4xx from the API, wrk socket errors, "database is locked" /
# SQLITE_BUSY or any error line in the logs, a process that died.
# Then, with SOAK_COPY_TO_POSTGRES=1 (the default when the PostgreSQL server
# binaries are installed; 0 skips it), bench/soak/copy_check.sh copies the
# database into a throwaway PostgreSQL server with `migrate copy` and fails
# the soak unless the copy verifies and an api on each database answers the
# soak user's GETs with identical bodies.
# Usage: bench/soak/soak.sh BUILD_DIR [SECONDS]   (SECONDS: SOAK_SECONDS, 600)
# Prints the table and writes it into BENCHMARKS.md (section "Soak").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
seconds="${2:-${SOAK_SECONDS:-600}}"
sample_every="${SOAK_SAMPLE_SECONDS:-5}"
retention_ms="${SOAK_RETENTION_MS:-10000}"
prune_interval_ms="${SOAK_PRUNE_INTERVAL_MS:-2000}"
noops_per_second="${SOAK_NOOPS_PER_SECOND:-200}"
churn_threads="${SOAK_CHURN_THREADS:-2}"
reader_threads="${SOAK_READER_THREADS:-2}"
export SOAK_CHURN_DELAY_MS="${SOAK_CHURN_DELAY_MS:-10}"
export SOAK_READ_DELAY_MS="${SOAK_READ_DELAY_MS:-0}"
export SOAK_KEEP_WORLDS="${SOAK_KEEP_WORLDS:-8}"
max_rss_mb="${SOAK_MAX_RSS_MB:-200}"
max_rss_growth_mb="${SOAK_MAX_RSS_GROWTH_MB:-32}"
max_wal_mb="${SOAK_MAX_WAL_MB:-128}"
db_growth="${SOAK_DB_GROWTH:-1.5}"
db_slack_mb="${SOAK_DB_SLACK_MB:-4}"
max_backlog="${SOAK_MAX_BACKLOG:-2000}"
drain_seconds="${SOAK_DRAIN_SECONDS:-60}"
copy_to_postgres="${SOAK_COPY_TO_POSTGRES:-}"
if [[ -z "$copy_to_postgres" ]]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && copy_to_postgres=1 || copy_to_postgres=0
fi
binary="$build/personaworlds"
scratch="$root/.bench/soak"
# shellcheck source=bench/http/lib.sh
source "$root/bench/http/lib.sh"

(( seconds >= 2 * sample_every )) || { echo "soak: run for at least $((2 * sample_every)) s" >&2; exit 1; }
prepare_run soak wrk jq curl sqlite3
: >"$scratch/enqueue.log"

API_PID="" W1_PID="" W2_PID="" CHURN_PID="" READER_PID="" NOOP_PID="" COPY_PID=""
# On any exit, nothing started here outlives the script: all are signalled
# at once, then each is waited for (stop_pid escalates to SIGKILL).
cleanup() {
  local pid pids=("$CHURN_PID" "$READER_PID" "$NOOP_PID" "$W1_PID" "$W2_PID" "$API_PID" "$COPY_PID")
  for pid in "${pids[@]}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do [[ -n "$pid" ]] && { stop_pid "$pid" || true; }; done
  true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "soak: $*"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }           # kB -> MB
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }      # bytes -> MiB
file_bytes() { stat -c %s "$1" 2>/dev/null || echo 0; }

# start_worker N: a worker with its metrics on a free port of 127.0.0.1; sets
# W<N>_PID and W<N>_PORT. The port comes from its worker_started line, hence
# LOG_LEVEL=info (which also shows jobs_pruned).
start_worker() {
  local n="$1" log="$scratch/worker-$1.log" pid port=""
  LOG_LEVEL=info "$binary" worker --db "$db" --observability-host 127.0.0.1 --observability-port 0 \
    --worker-id "soak-$n" --retention-ms "$retention_ms" --prune-interval-ms "$prune_interval_ms" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 500); do
    port="$(grep -m1 '"msg":"worker_started"' "$log" 2>/dev/null | jq -r .observability_port || true)"
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  [[ -n "$port" ]] || { echo "soak: worker $n did not start:" >&2; cat "$log" >&2; exit 1; }
  printf -v "W${n}_PID" '%s' "$pid"
  printf -v "W${n}_PORT" '%s' "$port"
}

start_api "$scratch/api.log" "LOG_LEVEL=warn" --
start_worker 1
start_worker 2
say "api pid $API_PID on :$API_PORT, workers pid $W1_PID (:$W1_PORT) and $W2_PID (:$W2_PORT), db $db"

export SOAK_TOKEN
SOAK_TOKEN="$(sign_up soak)"
# For copy_check.sh, which reads the copied database with it (also by hand,
# after the run). Only a hash of it is in the database.
(umask 077 && echo "$SOAK_TOKEN" >"$scratch/soak.token")
# A world that is never deleted, with a long timeline for the readers to page
# through.
library="$(post_json /v1/worlds "$SOAK_TOKEN" '{"name":"Library","seed":7}' | jq -r .id)"
setup_jobs=("$(post_json "/v1/worlds/$library/personas:generate" "$SOAK_TOKEN" '{"count":50}' | jq -r .job.id)")
await_job() {
  local state=""
  for _ in $(seq 1 600); do
    state="$(curl -sf "http://127.0.0.1:$API_PORT/v1/jobs/$1" -H "Authorization: Bearer $SOAK_TOKEN" | jq -r .state)"
    [[ "$state" == succeeded ]] && return 0
    [[ "$state" == queued || "$state" == running ]] || break
    sleep 0.1
  done
  echo "soak: setup job $1 ended $state" >&2
  exit 1
}
await_job "${setup_jobs[0]}"
setup_jobs+=("$(post_json "/v1/worlds/$library/simulations" "$SOAK_TOKEN" '{"ticks":1000}' | jq -r .job.id)")
await_job "${setup_jobs[1]}"

# metric PORT NAME STATUS: sum of a worker counter over its types.
metric() {
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v name="$2" -v status="$3" 'index($0, name "{") == 1 && (status == "" || index($0, "status=\"" status "\"")) {s += $2} END {print s + 0}'
}
# One line of samples.tsv (columns in its header).
samples="$scratch/samples.tsv"
echo -e "t\tapi_rss\tapi_hwm\tw1_rss\tw1_hwm\tw2_rss\tw2_hwm\tdb\twal\tqueued\trunning\tjob_rows\tevents\tworlds\tsucceeded" >"$samples"
sample() {
  local counts succeeded
  counts="$(sqlite3 -readonly -cmd ".timeout 5000" -separator $'\t' "$db" \
    "SELECT (SELECT count(*) FROM jobs WHERE state = 'queued'), (SELECT count(*) FROM jobs WHERE state = 'running'),
            (SELECT count(*) FROM jobs), (SELECT count(*) FROM events), (SELECT count(*) FROM worlds)" 2>>"$scratch/sqlite3.log" ||
    echo -e "-1\t-1\t-1\t-1\t-1")"
  succeeded=$(( $(metric "$W1_PORT" jobs_processed_total succeeded) + $(metric "$W2_PORT" jobs_processed_total succeeded) ))
  echo -e "$1\t$(rss_kb "$API_PID")\t$(peak_rss_kb "$API_PID")\t$(rss_kb "$W1_PID")\t$(peak_rss_kb "$W1_PID")\t$(rss_kb "$W2_PID")\t$(peak_rss_kb "$W2_PID")\t$(file_bytes "$db")\t$(file_bytes "$db-wal")\t$counts\t$succeeded" >>"$samples"
}
sample 0
say "library world $library ready ($(tail -1 "$samples" | cut -f13) events); traffic for ${seconds} s, sampled every ${sample_every} s"

failures=()
t0=$(date +%s)
traffic_end=$((t0 + seconds))
wrk -t"$churn_threads" -c"$churn_threads" -d"${seconds}s" --timeout 10s -s "$here/churn.lua" \
  "http://127.0.0.1:$API_PORT" >"$scratch/wrk-churn.txt" 2>&1 &
CHURN_PID=$!
wrk -t"$reader_threads" -c"$reader_threads" -d"${seconds}s" --timeout 10s -s "$here/reader.lua" \
  "http://127.0.0.1:$API_PORT" >"$scratch/wrk-reader.txt" 2>&1 &
READER_PID=$!
(
  while (( $(date +%s) < traffic_end )); do
    "$binary" jobs enqueue --db "$db" --type noop --count "$noops_per_second" >/dev/null 2>>"$scratch/enqueue.log" ||
      echo "enqueue failed" >>"$scratch/enqueue.log"
    sleep 1
  done
) &
NOOP_PID=$!

# Every second the WAL size (it can spike and be truncated between samples),
# every sample_every seconds the full sample.
wal_peak=0 next_sample=$((t0 + sample_every)) died=""
while (( $(date +%s) < traffic_end )); do
  sleep 1
  wal=$(file_bytes "$db-wal"); (( wal > wal_peak )) && wal_peak=$wal
  for role in API W1 W2; do
    pid_var="${role}_PID"
    kill -0 "${!pid_var}" 2>/dev/null || died+=" $role"
  done
  [[ -n "$died" ]] && break
  now=$(date +%s)
  if (( now >= next_sample )); then
    sample $((now - t0))
    next_sample=$((next_sample + sample_every))
    awk -F'\t' 'END { printf "soak: t=%4ds rss api/w1/w2 %.0f/%.0f/%.0f MB, db %.1f MiB, wal %.1f MiB, queued %d, running %d, job rows %d, events %d, succeeded %d\n",
      $1, $2 / 1024, $4 / 1024, $6 / 1024, $8 / 1048576, $9 / 1048576, $10, $11, $12, $13, $15 }' "$samples"
  fi
done
if [[ -n "$died" ]]; then
  failures+=("process died during the run:$died")
  say "FAILED: process died:$died"
fi
wait "$CHURN_PID" || failures+=("wrk (churn) exited $?")
CHURN_PID=""
wait "$READER_PID" || failures+=("wrk (reader) exited $?")
READER_PID=""
wait "$NOOP_PID" || true
NOOP_PID=""
[[ "$(tail -1 "$samples" | cut -f1)" == "$seconds" ]] || sample "$(( $(date +%s) - t0 ))"

# The backlog must drain once the traffic stops.
traffic_stopped=$(date +%s.%N)
drained=""
for _ in $(seq 1 $((drain_seconds * 5))); do
  left="$(sqlite3 -readonly -cmd ".timeout 5000" "$db" "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')" 2>/dev/null || echo -1)"
  if [[ "$left" == 0 ]]; then drained=$(awk -v now="$(date +%s.%N)" -v end="$traffic_stopped" 'BEGIN { d = now - end; printf "%.1f", d < 0 ? 0 : d }'); break; fi
  sleep 0.2
done
say "queue drained ${drained:-never} s after the traffic stopped"

# Figures only the live processes can give.
api_hwm=$(peak_rss_kb "$API_PID") w1_hwm=$(peak_rss_kb "$W1_PID") w2_hwm=$(peak_rss_kb "$W2_PID")
succeeded_total=$(( $(metric "$W1_PORT" jobs_processed_total succeeded) + $(metric "$W2_PORT" jobs_processed_total succeeded) ))
failed_total=$(( $(metric "$W1_PORT" jobs_processed_total failed) + $(metric "$W2_PORT" jobs_processed_total failed) ))
dead_total=$(( $(metric "$W1_PORT" jobs_dead_total "") + $(metric "$W2_PORT" jobs_dead_total "") ))
api_metrics="$(curl -s --max-time 5 "http://127.0.0.1:$API_PORT/metrics")"
statuses() { echo "$api_metrics" | awk -v pattern="$1" '/^http_requests_total\{/ { if (match($0, /status="[0-9]+"/)) { s = substr($0, RSTART + 8, 3); if (s ~ pattern) n += $2 } } END {print n + 0}'; }
http_2xx=$(statuses '^2') http_404=$(statuses '^404$') http_4xx_other=$(statuses '^4([1-9][0-9]|0[0-35-9])$') http_5xx=$(statuses '^5')

exit_codes=()
for role in API W1 W2; do
  pid_var="${role}_PID"
  if [[ -z "${!pid_var}" ]]; then exit_codes+=(-); continue; fi
  if stop_pid "${!pid_var}"; then code=0; else code=$?; fi
  printf -v "${role}_PID" '%s' ""
  exit_codes+=("$code")
done
say "api and workers stopped, exit codes ${exit_codes[*]}"
integrity="$(sqlite3 "$db" "PRAGMA integrity_check" 2>&1 | tr '\n' ' ' | sed 's/ $//')"

# Only once every process has exited: migrate copy wants no writer.
copy_section="$scratch/copy.md"
: >"$copy_section"
copy_result=skipped
if [[ "$copy_to_postgres" == 1 ]]; then
  say "copying the database to PostgreSQL (bench/soak/copy_check.sh)"
  # In the background so that cleanup can signal it: its own trap then stops
  # its PostgreSQL server and apis.
  bash "$here/copy_check.sh" "$build" "$db" "$scratch/soak.token" "$copy_section" &
  COPY_PID=$!
  if wait "$COPY_PID"; then copy_result=ok; else copy_result=FAILED; fi
  COPY_PID=""
fi

logs=("$scratch/api.log" "$scratch/worker-1.log" "$scratch/worker-2.log")
count_lines() { cat "${logs[@]}" | grep -ciE "$1" || true; }
locked=$(count_lines 'database is locked|database table is locked|SQLITE_BUSY')
error_lines=$(count_lines '"level":"error"')
warn_lines=$(count_lines '"level":"warn"')
lease_lines=$(count_lines '"msg":"(job_lease_expired|job_lost|job_lease_lost)"')
pruned=$(cat "$scratch/worker-1.log" "$scratch/worker-2.log" | jq -r 'select(.msg == "jobs_pruned") | .deleted' 2>/dev/null | awk '{s += $1} END {print s + 0}')
enqueue_failures=$(grep -c . "$scratch/enqueue.log" 2>/dev/null || true)
churn_requests=$(wrk_field "$scratch/wrk-churn.txt" requests) reader_requests=$(wrk_field "$scratch/wrk-reader.txt" requests)
socket_errors=0
for report in "$scratch/wrk-churn.txt" "$scratch/wrk-reader.txt"; do
  for kind in connect read write timeout; do socket_errors=$((socket_errors + $(wrk_field "$report" "$kind"))); done
done

# Condensed time series: before the traffic, the first sample at half time,
# the last one, and the largest seen.
half_row="$(awk -F'\t' -v h=$((seconds / 2)) 'NR > 1 && $1 >= h {print; exit}' "$samples")"
start_row="$(sed -n 2p "$samples")"
end_row="$(tail -1 "$samples")"
half_row="${half_row:-$end_row}"  # a run cut short by a dead process
col() { echo "$1" | cut -f"$2"; }
peak() { awk -F'\t' -v c="$1" 'NR > 1 && $c > m {m = $c} END {print m + 0}' "$samples"; }
db_half=$(col "$half_row" 8) db_end=$(col "$end_row" 8) db_peak=$(peak 8)
(( $(peak 9) > wal_peak )) && wal_peak=$(peak 9)
backlog_peak=$(peak 10)

check_rows=()
check() {  # check NAME VALUE BOUND PASSED(0/1)
  local result=pass
  [[ "$4" == 1 ]] || { result=FAIL; failures+=("$1: $2 (bound $3)"); }
  check_rows+=("| $1 | $2 | $3 | $result |")
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
for role in api:2:3:$api_hwm w1:4:5:$w1_hwm w2:6:7:$w2_hwm; do
  IFS=: read -r name rss_col _ hwm <<<"$role"
  check "peak RSS $name" "$(mb "$hwm") MB" "$max_rss_mb MB" "$(le "$hwm" $((max_rss_mb * 1024)))"
  growth=$(( $(col "$end_row" "$rss_col") - $(col "$half_row" "$rss_col") ))
  check "RSS growth $name, second half" "$(mb "$growth") MB" "$max_rss_growth_mb MB" "$(le "$growth" $((max_rss_growth_mb * 1024)))"
done
check "WAL file, largest" "$(mib "$wal_peak") MiB" "$max_wal_mb MiB" "$(le "$wal_peak" $((max_wal_mb * 1048576)))"
db_bound=$(awk -v h="$db_half" -v g="$db_growth" -v s="$db_slack_mb" 'BEGIN { printf "%.0f", h * g + s * 1048576 }')
check "DB file at end" "$(mib "$db_end") MiB" "$db_growth x $(mib "$db_half") + $db_slack_mb = $(mib "$db_bound") MiB" "$(le "$db_end" "$db_bound")"
check "jobs pruned" "$pruned" "> 0" "$( (( pruned > 0 )) && echo 1 || echo 0)"
check "queued jobs, most" "$backlog_peak" "$max_backlog" "$(le "$backlog_peak" "$max_backlog")"
check "queue drained after traffic" "${drained:-no} s" "$drain_seconds s" "$([[ -n "$drained" ]] && echo 1 || echo 0)"
check "dead jobs" "$dead_total" "0" "$(le "$dead_total" 0)"
check "lapsed or lost leases (log lines)" "$lease_lines" "0" "$(le "$lease_lines" 0)"
check "API 5xx / 4xx other than 404" "$http_5xx / $http_4xx_other" "0 / 0" "$(le $((http_5xx + http_4xx_other)) 0)"
check "wrk socket errors" "$socket_errors" "0" "$(le "$socket_errors" 0)"
check "\"database is locked\" / SQLITE_BUSY log lines" "$locked" "0" "$(le "$locked" 0)"
check "error log lines" "$error_lines" "0" "$(le "$error_lines" 0)"
check "noop enqueue failures" "$enqueue_failures" "0" "$(le "$enqueue_failures" 0)"
check "exit codes api/w1/w2 on SIGTERM" "${exit_codes[*]}" "0 0 0" "$([[ "${exit_codes[*]}" == "0 0 0" ]] && echo 1 || echo 0)"
check "PRAGMA integrity_check" "$integrity" "ok" "$([[ "$integrity" == ok ]] && echo 1 || echo 0)"
if [[ "$copy_result" != skipped ]]; then
  check "migrate copy to PostgreSQL, then the same API answers" "$copy_result" "ok" "$([[ "$copy_result" == ok ]] && echo 1 || echo 0)"
fi

table="$scratch/section.md"
{
  echo "## Soak"
  echo
  echo "\`make soak\` (bench/soak/soak.sh, not part of \`make test\`): one API and two workers (\`--concurrency\` default, \`--retention-ms $retention_ms\`, \`--prune-interval-ms $prune_interval_ms\`) on a fresh SQLite database on 127.0.0.1 for ${seconds} s. Traffic: wrk with bench/soak/churn.lua, $churn_threads connections ${SOAK_CHURN_DELAY_MS} ms apart (create a world, generate 6-12 personas, 3 simulations of 10-40 ticks, wait for each job, read the world, its events, personas and simulations, delete the oldest world past $SOAK_KEEP_WORLDS per connection); wrk with bench/soak/reader.lua, $reader_threads connections paging 100 events a request through every world without pause (one world of 50 personas and 1,000 ticks is never deleted); $noops_per_second noop jobs a second from \`personaworlds jobs enqueue\`. Sampled every ${sample_every} s (the WAL file every second); peak RSS is VmHWM."
  echo
  echo "Machine: $(machine_line); 1-minute load average at the end: $(load_average)."
  echo
  echo "Traffic: $churn_requests churn requests ($(wrk_field "$scratch/wrk-churn.txt" rps)/s), $reader_requests reader requests ($(wrk_field "$scratch/wrk-reader.txt" rps)/s); API answers: $http_2xx 2xx, $http_404 404 (worlds deleted under a reader, expected), $http_4xx_other other 4xx, $http_5xx 5xx. Jobs: $succeeded_total succeeded ($(awk -v n="$succeeded_total" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')/s), $failed_total failed attempts, $dead_total dead, $pruned pruned; queue drained ${drained:-never} s after the traffic. Logs: $warn_lines warn lines, $error_lines error lines."
  echo
  echo "| Metric | start (t=0) | half (t=$(col "$half_row" 1) s) | end (t=$(col "$end_row" 1) s) | peak |"
  echo "|---|---:|---:|---:|---:|"
  printf '| RSS api (MB) | %s | %s | %s | %s |\n' "$(mb "$(col "$start_row" 2)")" "$(mb "$(col "$half_row" 2)")" "$(mb "$(col "$end_row" 2)")" "$(mb "$api_hwm")"
  printf '| RSS worker 1 (MB) | %s | %s | %s | %s |\n' "$(mb "$(col "$start_row" 4)")" "$(mb "$(col "$half_row" 4)")" "$(mb "$(col "$end_row" 4)")" "$(mb "$w1_hwm")"
  printf '| RSS worker 2 (MB) | %s | %s | %s | %s |\n' "$(mb "$(col "$start_row" 6)")" "$(mb "$(col "$half_row" 6)")" "$(mb "$(col "$end_row" 6)")" "$(mb "$w2_hwm")"
  printf '| DB file (MiB) | %s | %s | %s | %s |\n' "$(mib "$(col "$start_row" 8)")" "$(mib "$db_half")" "$(mib "$db_end")" "$(mib "$db_peak")"
  printf '| WAL file (MiB) | %s | %s | %s | %s |\n' "$(mib "$(col "$start_row" 9)")" "$(mib "$(col "$half_row" 9)")" "$(mib "$(col "$end_row" 9)")" "$(mib "$wal_peak")"
  for spec in "queued jobs:10" "running jobs:11" "rows in jobs:12" "rows in events:13" "rows in worlds:14"; do
    printf '| %s | %s | %s | %s | %s |\n' "${spec%%:*}" "$(col "$start_row" "${spec##*:}")" "$(col "$half_row" "${spec##*:}")" "$(col "$end_row" "${spec##*:}")" "$(peak "${spec##*:}")"
  done
  printf '| jobs succeeded (total) | %s | %s | %s | %s |\n' "$(col "$start_row" 15)" "$(col "$half_row" 15)" "$(col "$end_row" 15)" "$succeeded_total"
  echo
  if [[ -s "$copy_section" ]]; then
    cat "$copy_section"
    echo
  fi
  echo "| Check | value | bound | result |"
  echo "|---|---:|---:|---|"
  printf '%s\n' "${check_rows[@]}"
  if ((${#failures[@]})); then
    echo
    echo "**Failed:** $(printf '%s; ' "${failures[@]}" | sed 's/; $//')"
  fi
} >"$table"
cat "$table"
write_section "$root/BENCHMARKS.md" Soak "$table"
say "samples in $samples, logs in $scratch; table written to BENCHMARKS.md (section Soak)"
if ((${#failures[@]})); then
  printf 'soak: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
say "PASSED"
