#!/usr/bin/env bash
# The operator console on a database of a million jobs, SQLite and
# PostgreSQL: how long each admin API call the page makes takes, and how long
# the page takes to show its overview and job table in headless Chromium.
# Usage: bench/console/run.sh BUILD_DIR
#
#  1. A migrated database filled with BENCH_CONSOLE_JOBS jobs by one
#     INSERT ... SELECT (bench/console/jobs_sql.sh: the mix is described
#     there), through sqlite3 / psql. SQLite gets no ANALYZE (the product
#     never runs one); PostgreSQL gets VACUUM (ANALYZE) jobs until its pages
#     are all-visible, which is what autovacuum does to this table by itself
#     within minutes of the load (its insert and analyze thresholds are
#     20,000 and 10,000 rows).
#  2. `personaworlds api` on 127.0.0.1 with ADMIN_TOKEN_FILE; each request
#     below once as a warm-up, then BENCH_CONSOLE_RUNS times with curl (a new
#     connection each), curl's time_total; medians quoted. Each twice: with
#     no compression, and with the Accept-Encoding Chromium sends.
#  3. The page: bench/console/page_load.py loads /admin/ in headless
#     Chromium with the token set through the page's form (sessionStorage),
#     then 1 + BENCH_CONSOLE_RUNS reloads; navigationStart to the marks
#     'pw-overview-rendered' and 'pw-jobs-rendered'. Then the same with the
#     browser sending Accept-Encoding: identity (a diagnosis: what the page
#     takes when the server compresses nothing). Both also on a SQLite
#     database of BENCH_CONSOLE_BASELINE_JOBS jobs.
#  4. PostgreSQL only: every request once more with auto_explain on (plans
#     with actual times, in .bench/console/postgres-plans.log).
# Then bench/console/report.py writes the "Operator console" section of
# BENCHMARKS.md.
#
# Settings (environment), defaults in brackets:
#   BENCH_CONSOLE_JOBS [1000000]            jobs in the table
#   BENCH_CONSOLE_RUNS [5]                  measured runs of each request and page load
#   BENCH_CONSOLE_DRIVERS ["sqlite postgres"]
#   BENCH_CONSOLE_BASELINE_JOBS [1000]      the page also on a SQLite database this small (0: not)
#   BENCH_CONSOLE_MARKDOWN [BENCHMARKS.md]  ("" writes no markdown)
# Scratch files (databases, logs, results, the server) live in .bench/console/;
# everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
count="${BENCH_CONSOLE_JOBS:-1000000}"
runs="${BENCH_CONSOLE_RUNS:-5}"
drivers="${BENCH_CONSOLE_DRIVERS:-sqlite postgres}"
markdown="${BENCH_CONSOLE_MARKDOWN-$root/BENCHMARKS.md}"
binary="$build/personaworlds"
scratch="$root/.bench/console"
server="$scratch/postgres-server"
postgres_sh="$root/tests/support/postgres.sh"
results="$scratch/results.jsonl"
python=/usr/bin/python3  # Debian's, which has python3-selenium

for d in $drivers; do
  [[ "$d" == sqlite || "$d" == postgres ]] || { echo "bench-console: unknown driver '$d'" >&2; exit 2; }
done
wants() { [[ " $drivers " == *" $1 "* ]]; }
for tool in curl jq sqlite3 psql chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "bench-console: $tool is required" >&2; exit 1; }
done
"$python" -c 'import selenium' 2>/dev/null || { echo "bench-console: python3-selenium is required" >&2; exit 1; }
[[ -x "$binary" ]] || { echo "bench-console: build $binary first" >&2; exit 1; }

say() { echo "== bench-console $(date -u +%H:%M:%S) (load $(cut -d' ' -f1-3 /proc/loadavg)): $*"; }
now_ms() { date +%s%3N; }

rm -rf "$scratch"
mkdir -p "$scratch"
: >"$results"
record() { echo "$1" >>"$results"; }

API_PID=""
cleanup() {
  if [[ -n "$API_PID" ]]; then kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; fi
  bash "$postgres_sh" stop "$server" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The admin token, in a file only this run reads.
token_file="$scratch/admin-token"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
token="$(cat "$token_file")"

# start_api DATABASE_FLAGS...: the API on a free port of 127.0.0.1 with the
# admin token file; sets API_PID and API_PORT.
start_api() {
  local log="$scratch/api-$driver.log"
  for _ in $(seq 1 20); do
    API_PORT=$((20000 + RANDOM % 40000))
    ADMIN_TOKEN_FILE="$token_file" LOG_LEVEL=warn "$binary" api "$@" --host 127.0.0.1 --port "$API_PORT" >>"$log" 2>&1 &
    API_PID=$!
    for _ in $(seq 1 1500); do
      if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$API_PORT/healthz"; then return 0; fi
      kill -0 "$API_PID" 2>/dev/null || break
      sleep 0.02
    done
    kill "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
    API_PID=""
  done
  echo "bench-console: the api did not start:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stop_api() {
  kill -TERM "$API_PID" 2>/dev/null || true
  wait "$API_PID" 2>/dev/null || true
  API_PID=""
}

# One SQL statement's single value, on the database of this driver.
sql_value() {
  if [[ "$driver" == sqlite ]]; then sqlite3 "$db" "$1"; else psql "$db_url" -qAtX -c "$1"; fi
}

# iso MS: RFC 3339 UTC with milliseconds.
iso() { date -u -d "@$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

# The requests the page makes when it loads, then the job list's filters.
# Each line: NAME<TAB>PATH. Filled in once the table is loaded (the trace id
# and times come from it).
requests_file="$scratch/requests.tsv"
write_requests() {
  local trace mid_id day_after day_before rare_type deep_cursor dead_cursor
  mid_id=$((count / 2))
  trace="$(sql_value "SELECT trace_id FROM jobs WHERE id >= $mid_id AND trace_id IS NOT NULL ORDER BY id LIMIT 1")"
  # A window one day wide, three to four days back.
  day_after="$(iso "$(sql_value "SELECT created_at FROM jobs WHERE id = $((count * 3 / 7))")")"
  day_before="$(iso "$(sql_value "SELECT created_at FROM jobs WHERE id = $((count * 4 / 7))")")"
  rare_type="export.archive"   # 0.25% of the jobs (jobs_sql.sh)
  deep_cursor=$((count / 1000))  # a thousandth of the table left below it
  dead_cursor=$((count / 100))
  {
    printf 'overview\t/admin/v1/overview\n'
    printf 'workers\t/admin/v1/workers\n'
    printf 'jobs, first page\t/admin/v1/jobs?limit=50\n'
    printf 'state=dead\t/admin/v1/jobs?limit=50&state=dead\n'
    printf 'state=queued\t/admin/v1/jobs?limit=50&state=queued\n'
    printf 'type (0.25%% of jobs)\t/admin/v1/jobs?limit=50&type=%s\n' "$rare_type"
    printf 'state=dead + type\t/admin/v1/jobs?limit=50&state=dead&type=%s\n' "$rare_type"
    printf 'error, common text\t/admin/v1/jobs?limit=50&error=timed%%20out\n'
    printf 'error, rare text\t/admin/v1/jobs?limit=50&error=hooks.example.net/pw/996%%20answered\n'
    printf 'error, no match\t/admin/v1/jobs?limit=50&error=no%%20such%%20error%%20text\n'
    printf 'state=dead + error, rare text\t/admin/v1/jobs?limit=50&state=dead&error=hooks.example.net/pw/996%%20answered\n'
    printf 'trace_id\t/admin/v1/jobs?limit=50&trace_id=%s\n' "$trace"
    printf 'created range (one day, 3-4 days back)\t/admin/v1/jobs?limit=50&created_after=%s&created_before=%s\n' "$day_after" "$day_before"
    printf 'cursor deep (1/1000 of the table below)\t/admin/v1/jobs?limit=50&cursor=%s\n' "$deep_cursor"
    printf 'state=dead + cursor deep (1/100 below)\t/admin/v1/jobs?limit=50&state=dead&cursor=%s\n' "$dead_cursor"
  } >"$requests_file"
}

# measure_requests: every request once (warm-up) and $runs times, each time
# twice: asking for no compression (what the database and the handler cost)
# and with the Accept-Encoding Chromium sends (what the page pays).
browser_encoding="gzip, deflate, br"
measure_requests() {
  local name path run encoding out code time size rows
  while IFS=$'\t' read -r name path; do
    for run in $(seq 0 "$runs"); do
      for encoding in identity "$browser_encoding"; do
        out="$(curl -s -o "$scratch/body.out" --max-time 120 -H "Authorization: Bearer $token" \
          -H "Accept-Encoding: $encoding" -w '%{http_code} %{time_total} %{size_download}' \
          "http://127.0.0.1:$API_PORT$path")"
        read -r code time size <<<"$out"
        # A figure for a request that failed would mean nothing: stop.
        if [[ "$code" != 200 ]]; then
          echo "bench-console: $driver $name ($path) answered $code: $(head -c 300 "$scratch/body.out")" >&2
          exit 1
        fi
        if [[ "$encoding" == identity ]]; then
          rows="$(jq 'if has("jobs") then (.jobs | length) elif has("workers") then (.workers | length) else null end' \
            "$scratch/body.out")"
        fi
        [[ "$run" == 0 ]] && continue
        record "$(jq -cn --arg driver "$driver" --arg name "$name" --arg path "$path" --argjson run "$run" \
          --arg encoding "$encoding" --argjson code "$code" \
          --argjson ms "$(awk -v t="$time" 'BEGIN {printf "%.3f", t * 1000}')" \
          --argjson bytes "$size" --argjson rows "$rows" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
          '{kind: "request", driver: $driver, name: $name, path: $path, run: $run, encoding: $encoding,
            code: $code, ms: $ms, bytes: $bytes, rows: $rows, load: ($load | tonumber)}')"
      done
    done
    for encoding in identity "$browser_encoding"; do
      echo "bench-console: $driver $name ($encoding): $(jq -r --arg d "$driver" --arg n "$name" --arg e "$encoding" \
        'select(.kind == "request" and .driver == $d and .name == $n and .encoding == $e) | .ms' "$results" |
        sort -g | tr '\n' ' ')ms"
    done
  done <"$requests_file"
}

# measure_page JOBS [ACCEPT_ENCODING]: the page's loads; JOBS labels the
# database; ACCEPT_ENCODING replaces Chromium's own (a diagnosis only).
measure_page() {
  local jobs="$1" encoding="${2:-}" line out
  out="$scratch/page-$driver-$jobs${encoding:+-$encoding}.jsonl"
  if ! "$python" "$here/page_load.py" "http://127.0.0.1:$API_PORT/admin/" "$token_file" "$runs" \
      ${encoding:+"$encoding"} >"$out" 2>"$out.err"; then
    echo "bench-console: the page load failed:" >&2
    tail -n 20 "$out.err" >&2
    exit 1
  fi
  while read -r line; do
    record "$(jq -c --arg driver "$driver" --argjson jobs "$jobs" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
      --arg encoding "${encoding:-chromium}" \
      '. + {kind: "page", driver: $driver, jobs: $jobs, encoding: $encoding, load: ($load | tonumber)}' <<<"$line")"
    echo "bench-console: $driver page ($jobs jobs, encoding ${encoding:-as Chromium asks}): $(jq -c .marks <<<"$line")"
  done <"$out"
}

record "$(jq -cn --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  --arg kernel "$(uname -sr)" --argjson cores "$(nproc)" --arg date "$(date -u +%Y-%m-%d)" \
  --arg sqlite "$(sqlite3 --version | awk '{print $1}')" --arg chromium "$(chromium --version 2>/dev/null | awk '{print $2}')" \
  --argjson count "$count" --argjson runs "$runs" --arg memory "$(free -g | awk '/^Mem:/ {print $2}')" \
  '{kind: "machine", cpu: $cpu, kernel: $kernel, cores: $cores, date: $date, sqlite: $sqlite,
    chromium: $chromium, jobs: $count, runs: $runs, memory_gb: ($memory | tonumber)}')"

# A baseline: the same page on a small SQLite database, to tell what the
# million rows cost from what the page costs anyway.
baseline="${BENCH_CONSOLE_BASELINE_JOBS:-1000}"
if wants sqlite && [[ "$baseline" -gt 0 ]]; then
  driver=sqlite
  db="$scratch/baseline.db"
  "$binary" migrate --db "$db" >"$scratch/migrate-baseline.log" 2>&1 || { cat "$scratch/migrate-baseline.log" >&2; exit 1; }
  bash "$here/jobs_sql.sh" sqlite "$baseline" "$(now_ms)" | sqlite3 -bail "$db"
  start_api --db "$db"
  say "sqlite baseline ($baseline jobs): page load in headless Chromium, 1 warm-up + $runs loads"
  measure_page "$baseline"
  measure_page "$baseline" identity
  stop_api
fi

for driver in sqlite postgres; do
  wants "$driver" || continue
  if [[ "$driver" == sqlite ]]; then
    db="$scratch/console.db"
    "$binary" migrate --db "$db" >"$scratch/migrate-sqlite.log" 2>&1 || { cat "$scratch/migrate-sqlite.log" >&2; exit 1; }
    say "sqlite: loading $count jobs"
    started="$(now_ms)"
    # synchronous=OFF only speeds the load; the API opens the file with its own settings.
    { echo "PRAGMA synchronous=OFF; BEGIN;"; bash "$here/jobs_sql.sh" sqlite "$count" "$started"; echo "COMMIT;"; } |
      sqlite3 -bail "$db"
    load_s=$(( ($(now_ms) - started) / 1000 ))
    db_flags=(--db "$db")
    size_mb=$(( $(stat -c %s "$db") / 1048576 ))
    version="SQLite $(sqlite3 --version | awk '{print $1}')"
  else
    bash "$postgres_sh" start "$server"
    server_url="$(cat "$server/url")"
    psql "$server_url" -qAtX -c "CREATE DATABASE pw_console"
    db_url="${server_url/\/postgres\?//pw_console?}"
    db="$db_url"
    "$binary" migrate --database-url "$db_url" >"$scratch/migrate-postgres.log" 2>&1 ||
      { cat "$scratch/migrate-postgres.log" >&2; exit 1; }
    say "postgres: loading $count jobs"
    started="$(now_ms)"
    bash "$here/jobs_sql.sh" postgres "$count" "$started" | psql "$db_url" -qX -v ON_ERROR_STOP=1 >/dev/null
    psql "$db_url" -qAtX -v ON_ERROR_STOP=1 -c "SELECT setval('jobs_id_seq', (SELECT max(id) FROM jobs))" >/dev/null
    # Vacuumed until its pages are all-visible, as autovacuum keeps a live
    # table (index-only scans depend on it). A VACUUM right after the load
    # sometimes marks no page (seen here: the server commits asynchronously,
    # and the load's commit may not be flushed yet), so it may take two.
    vacuums=0
    while :; do
      psql "$db_url" -qAtX -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) jobs"
      vacuums=$((vacuums + 1))
      visible="$(psql "$db_url" -qAtX -c "SELECT relallvisible >= relpages * 0.99 FROM pg_class WHERE relname = 'jobs'")"
      [[ "$visible" == t || "$vacuums" -ge 5 ]] && break
      sleep 1
    done
    say "postgres: $vacuums VACUUM (ANALYZE) runs; pages all-visible: $visible"
    load_s=$(( ($(now_ms) - started) / 1000 ))
    db_flags=(--database-url "$db_url")
    size_mb="$(psql "$db_url" -qAtX -c "SELECT pg_total_relation_size('jobs') / 1048576")"
    version="PostgreSQL $(psql "$db_url" -qAtX -c "SHOW server_version" | awk '{print $1}'), $vacuums VACUUM (ANALYZE)"
  fi
  jobs_now="$(sql_value "SELECT count(*) FROM jobs")"
  indexes="$(sql_value "SELECT $( [[ $driver == sqlite ]] && echo "group_concat(name, ', ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND name NOT LIKE 'sqlite_%' ORDER BY name)" || echo "string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'jobs'")")"
  states="$(sql_value "SELECT state || ' ' || count(*) FROM jobs GROUP BY state ORDER BY state" | paste -sd, -)"
  record "$(jq -cn --arg driver "$driver" --arg version "$version" --argjson jobs "$jobs_now" --argjson load_s "$load_s" \
    --argjson size_mb "$size_mb" --arg indexes "$indexes" --arg states "$states" \
    '{kind: "database", driver: $driver, version: $version, jobs: $jobs, load_s: $load_s, size_mb: $size_mb,
      indexes: $indexes, states: $states}')"
  say "$driver: $jobs_now jobs ($states) in ${load_s} s, ${size_mb} MB; indexes: $indexes"

  write_requests
  start_api "${db_flags[@]}"
  say "$driver: API requests, 1 warm-up + $runs runs each"
  measure_requests
  say "$driver: page load in headless Chromium, 1 warm-up + $runs loads"
  measure_page "$count"
  say "$driver: page load again, the browser asking for no compression (diagnosis)"
  measure_page "$count" identity
  stop_api

  if [[ "$driver" == postgres ]]; then
    # The plans of the product's own statements, with real parameters and times.
    say "postgres: plans (auto_explain)"
    psql "$db_url" -qAtX -c "ALTER DATABASE pw_console SET session_preload_libraries = 'auto_explain'" \
      -c "ALTER DATABASE pw_console SET auto_explain.log_min_duration = 0" \
      -c "ALTER DATABASE pw_console SET auto_explain.log_analyze = on" \
      -c "ALTER DATABASE pw_console SET auto_explain.log_buffers = on" \
      -c "ALTER DATABASE pw_console SET log_min_messages = 'log'" >/dev/null
    log_lines_before="$(wc -l <"$server/server.log")"
    start_api "${db_flags[@]}"
    while IFS=$'\t' read -r name path; do
      echo "== $name: $path" >>"$scratch/postgres-requests.log"
      curl -s -o /dev/null --max-time 120 -H "Authorization: Bearer $token" "http://127.0.0.1:$API_PORT$path"
    done <"$requests_file"
    stop_api
    tail -n "+$((log_lines_before + 1))" "$server/server.log" >"$scratch/postgres-plans.log"
    bash "$postgres_sh" stop "$server"
  fi
done

say "done; results in $results"
if [[ -n "$markdown" ]]; then
  "$python" "$here/report.py" "$results" "$markdown"
fi
