#!/usr/bin/env bash
# `make bench-overload`: the API under more connections than it has handler
# threads. wrk holds CONNECTIONS keep-alive connections on GET /v1/worlds/{id}
# for SECONDS, first against the default pool (16 threads, 512 queued
# connections), then against a deliberately small one (4 threads, 16 queued)
# so that load is shed with 503 + Retry-After. Meanwhile the API's memory is
# sampled and /healthz and /metrics are probed once a second.
# Fails (exit 1) when the API dies, does not exit 0 on SIGTERM, a health probe
# fails, or the peak RSS passes OVERLOAD_MAX_RSS_MB.
# Usage: bench/http/overload.sh BUILD_DIR [SECONDS] [CONNECTIONS]
# Prints the table and writes it into BENCHMARKS.md (section "Overload").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
seconds="${2:-30}"
connections="${3:-256}"
max_rss_mb="${OVERLOAD_MAX_RSS_MB:-256}"
binary="$build/personaworlds"
scratch="$root/.bench/overload"
# shellcheck source=bench/http/lib.sh
source "$here/lib.sh"

prepare_run bench-overload wrk jq curl
API_PID=""
trap '[[ -n "$API_PID" ]] && kill "$API_PID" 2>/dev/null; true' EXIT

failures=()
rows=()
for scenario in default small; do
  flags=()
  [[ "$scenario" == small ]] && flags=(--http-threads 4 --http-max-queued 16)
  log="$scratch/api-$scenario.log"
  start_api "$log" "LOG_LEVEL=warn" -- "${flags[@]}"
  token="$(sign_up "overload_$scenario")"
  world="$(post_json /v1/worlds "$token" '{"name":"Busy","seed":1}' | jq -r .id)"
  rss_start=$(rss_kb "$API_PID")

  report="$scratch/wrk-$scenario.txt"
  wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s --latency -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$API_PORT/v1/worlds/$world" >"$report" &
  wrk_pid=$!

  # Once a second: memory, and whether /healthz and /metrics still answer.
  rss_max=0 probes=0 health_ok=0 metrics_ok=0 health_max_ms=0
  while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 1
    kill -0 "$API_PID" 2>/dev/null || break
    rss=$(rss_kb "$API_PID"); (( rss > rss_max )) && rss_max=$rss
    probes=$((probes + 1))
    read -r code took < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 2 \
      "http://127.0.0.1:$API_PORT/healthz" || echo "000 2")
    [[ "$code" == 200 ]] && health_ok=$((health_ok + 1))
    health_max_ms=$(awk -v a="$health_max_ms" -v b="$took" 'BEGIN { b *= 1000; print (b > a ? b : a) }')
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$API_PORT/metrics" || echo 000)
    [[ "$code" == 200 ]] && metrics_ok=$((metrics_ok + 1))
  done
  wait "$wrk_pid" || true

  if ! kill -0 "$API_PID" 2>/dev/null; then
    failures+=("$scenario: the API died under load")
    tail -20 "$log" >&2
    API_PID=""
    continue
  fi
  peak=$(peak_rss_kb "$API_PID")
  ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$API_PORT/readyz" || echo 000)
  metrics="$(curl -s --max-time 5 "http://127.0.0.1:$API_PORT/metrics")"
  served() { echo "$metrics" | awk -v s="$1" 'index($0, "http_requests_total{method=\"GET\",route=\"/v1/worlds/{id}\",status=\"" s "\"}") == 1 {print $2}' | grep . || echo 0; }
  ok_count=$(served 200)
  shed_count=$(served 503)
  if stop_pid "$API_PID"; then code=0; else code=$?; fi
  API_PID=""

  [[ "$code" == 0 ]] || failures+=("$scenario: exit code $code after SIGTERM")
  [[ "$ready" == 200 ]] || failures+=("$scenario: /readyz answered $ready after the run")
  (( health_ok == probes )) || failures+=("$scenario: /healthz answered $health_ok of $probes probes")
  (( metrics_ok == probes )) || failures+=("$scenario: /metrics answered $metrics_ok of $probes probes")
  (( peak <= max_rss_mb * 1024 )) || failures+=("$scenario: peak RSS $((peak / 1024)) MB > $max_rss_mb MB")
  errors="$(wrk_field "$report" connect)/$(wrk_field "$report" read)/$(wrk_field "$report" write)/$(wrk_field "$report" timeout)"
  max_latency="$(to_ms "$(awk '/^    Latency/ {print $4}' "$report")")"
  pool="16 threads, 512 queued (defaults)"; [[ "$scenario" == small ]] && pool="4 threads, 16 queued"
  rows+=("$(printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f | %s/%s, max %.0f ms | %s/%s |' \
    "$pool" "$(wrk_field "$report" rps)" "$ok_count" "$shed_count" "$(wrk_field "$report" non2xx)" "$errors" \
    "$(wrk_field "$report" p50)" "$(wrk_field "$report" p99)" "$max_latency" \
    "$(awk -v k="$rss_start" 'BEGIN {print k / 1024}')" "$(awk -v k="$peak" 'BEGIN {print k / 1024}')" \
    "$health_ok" "$probes" "$health_max_ms" "$metrics_ok" "$probes")")
  echo "bench-overload: $scenario done: ${rows[-1]}"
done

table="$scratch/section.md"
{
  echo "## Overload"
  echo
  echo "\`make bench-overload\` (bench/http/overload.sh): wrk, 2 threads, $connections keep-alive connections for ${seconds} s (request timeout 10 s) on GET /v1/worlds/{id} with a bearer token, API at LOG_LEVEL=warn on 127.0.0.1; /healthz and /metrics probed once a second during the run; RSS sampled once a second, peak from VmHWM."
  echo
  echo "Machine: $(machine_line); 1-minute load average at the end: $(load_average)."
  echo
  echo "| Handler pool | requests/s | 200 (server count) | 503 shed (server count) | non-2xx (wrk) | socket errors connect/read/write/timeout | p50 (ms) | p99 (ms) | max (ms) | RSS start / peak (MB) | /healthz ok, slowest | /metrics ok |"
  echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "- Every answer is a valid HTTP response: 200, or 503 with Retry-After and a JSON error when the pool and its backlog are full; wrk counts the 503s as non-2xx. The API kept running, answered /readyz 200 afterwards and exited 0 on SIGTERM."
  echo "- A keep-alive connection keeps its handler thread only while nobody waits: once others are queued it is told to close after a 10 ms slice, and the client reconnects at the back of the queue. Connections beyond threads + backlog are shed; the small pool shows that path under the same load."
  echo "- The API listens with an accept queue of 1,024; httplib alone listens with 5, and 256 clients reconnecting after their slices then have SYNs dropped and wait out the retransmits (1, 3, 7 s). Measured on 2026-12-01 with a queue of 5: 12 and 17 requests per 30 s run unanswered after wrk's 10 s timeout, slowest answer 6.8 s, slowest /healthz probe 1.1 s (defaults). The probes are fresh connections with a 2 s limit."
  echo "- Memory stays flat: the backlog is bounded (HTTP_MAX_QUEUED), and shed connections are answered and closed, never queued."
  if ((${#failures[@]})); then
    echo
    echo "**Failed:** ${failures[*]}"
  fi
} >"$table"
cat "$table"
write_section "$root/BENCHMARKS.md" Overload "$table"
echo "bench-overload: reports in $scratch; table written to BENCHMARKS.md (section Overload)"
if ((${#failures[@]})); then
  printf 'bench-overload: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
