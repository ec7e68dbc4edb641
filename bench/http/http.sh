#!/usr/bin/env bash
# `make bench-http`: what JSON access logging costs. wrk against GET /healthz
# (no I/O) and GET /v1/worlds/{id} (bearer auth + one SQLite read), with the
# API at LOG_LEVEL=info (one JSON line per request, written to a file) and at
# LOG_LEVEL=error (no access lines); medians of RUNS runs each.
# Usage: bench/http/http.sh BUILD_DIR [SECONDS] [RUNS] [CONNECTIONS]
# Prints the table and writes it into BENCHMARKS.md (section "HTTP").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
seconds="${2:-10}"
runs="${3:-3}"
connections="${4:-32}"
binary="$build/personaworlds"
scratch="$root/.bench/http"
# shellcheck source=bench/http/lib.sh
source "$here/lib.sh"

prepare_run bench-http wrk jq curl
API_PID=""
trap '[[ -n "$API_PID" ]] && kill "$API_PID" 2>/dev/null; true' EXIT

declare -A results  # "level endpoint metric" -> space-separated values of each run
loads=()
for level in info error; do
  log="$scratch/api-$level.log"
  start_api "$log" "LOG_LEVEL=$level" --
  token="$(sign_up "bench_$level")"
  world="$(post_json /v1/worlds "$token" '{"name":"Bench","seed":1}' | jq -r .id)"
  for endpoint in healthz world; do
    if [[ "$endpoint" == healthz ]]; then
      url="http://127.0.0.1:$API_PORT/healthz"; auth=()
    else
      url="http://127.0.0.1:$API_PORT/v1/worlds/$world"; auth=(-H "Authorization: Bearer $token")
    fi
    wrk -t2 -c"$connections" -d2s "${auth[@]}" "$url" >/dev/null  # warm-up
    for run in $(seq 1 "$runs"); do
      report="$scratch/wrk-$level-$endpoint-$run.txt"
      wrk -t2 -c"$connections" -d"${seconds}s" --latency "${auth[@]}" "$url" >"$report"
      loads+=("$(load_average)")
      for metric in rps p50 p99 non2xx timeout read; do
        results["$level $endpoint $metric"]+="$(wrk_field "$report" "$metric") "
      done
      echo "bench-http: LOG_LEVEL=$level $endpoint run $run: $(wrk_field "$report" rps) req/s, p99 $(wrk_field "$report" p99) ms"
      : >"$log"  # keep the scratch folder small; the API appends to the emptied file
    done
  done
  stop_pid "$API_PID" || { echo "bench-http: the API did not stop cleanly" >&2; exit 1; }
  API_PID=""
done

table="$scratch/section.md"
{
  echo "## HTTP"
  echo
  echo "\`make bench-http\` (bench/http/http.sh): wrk, 2 threads, $connections keep-alive connections, ${seconds} s per run after a 2 s warm-up, medians of $runs runs; the API with its defaults (16 handler threads) on 127.0.0.1, its JSON log written to a file."
  echo
  echo "Machine: $(machine_line)"
  echo
  echo "Load: 1-minute load average after each run: $(median "${loads[@]}") (median), $(printf '%s\n' "${loads[@]}" | sort -g | tail -1) (highest), on $(nproc) cores; the machine is shared, so other work shows here too."
  echo
  echo "| Endpoint | LOG_LEVEL | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for endpoint in healthz world; do
    name="GET /healthz"; [[ "$endpoint" == world ]] && name="GET /v1/worlds/{id}"
    for level in info error; do
      # shellcheck disable=SC2086
      rps="$(median ${results["$level $endpoint rps"]})"
      # shellcheck disable=SC2086
      p50="$(median ${results["$level $endpoint p50"]})"
      # shellcheck disable=SC2086
      p99="$(median ${results["$level $endpoint p99"]})"
      non2xx="$(echo ${results["$level $endpoint non2xx"]} | tr ' ' '\n' | awk '{s += $1} END {print s + 0}')"
      errors="$(echo ${results["$level $endpoint timeout"]} ${results["$level $endpoint read"]} | tr ' ' '\n' | awk '{s += $1} END {print s + 0}')"
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$level" "$(printf '%.0f' "$rps")" "$p50" "$p99" "$non2xx" "$errors"
    done
  done
  echo
  for endpoint in healthz world; do
    # shellcheck disable=SC2086
    info="$(median ${results["info $endpoint rps"]})"
    # shellcheck disable=SC2086
    error="$(median ${results["error $endpoint rps"]})"
    name="GET /healthz"; [[ "$endpoint" == world ]] && name="GET /v1/worlds/{id}"
    awk -v n="$name" -v i="$info" -v e="$error" \
      'BEGIN { printf "- %s: access logging at info costs %.1f%% of the requests/s of LOG_LEVEL=error.\n", n, (e - i) / e * 100 }'
  done
  echo "- Metrics are always on (a counter and a histogram observation per request, label handles cached at start-up), so their cost is inside every figure above."
  echo "- Non-2xx and socket errors are totals over the runs; both should be 0."
} >"$table"
cat "$table"
write_section "$root/BENCHMARKS.md" HTTP "$table"
echo "bench-http: reports in $scratch; table written to BENCHMARKS.md (section HTTP)"
