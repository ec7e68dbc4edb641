# Shared by bench/http/*.sh and bench/soak/soak.sh (sourced, not run):
# starting the real binary on 127.0.0.1, signing up a caller, reading wrk's
# report, sampling memory, and writing a section of BENCHMARKS.md.

# start_api LOG_FILE ENV_ASSIGNMENTS... -- API_FLAGS...
# Starts `personaworlds api` on a free port of 127.0.0.1 with its stdout in
# LOG_FILE; sets API_PID and API_PORT. The binary and database come from
# $binary and $db. The port is picked here (the log level may hide the
# api_started line): a random one, tried again if it was taken.
start_api() {
  local log="$1"; shift
  local env=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do env+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  for _ in $(seq 1 20); do
    API_PORT=$((20000 + RANDOM % 40000))
    # Appending, so the file can be emptied between runs while the API writes.
    : >"$log"
    env "${env[@]}" "$binary" api --db "$db" --host 127.0.0.1 --port "$API_PORT" "$@" >>"$log" 2>&1 &
    API_PID=$!
    for _ in $(seq 1 500); do
      if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$API_PORT/healthz"; then
        kill -0 "$API_PID" 2>/dev/null && return 0
      fi
      kill -0 "$API_PID" 2>/dev/null || break
      sleep 0.02
    done
    kill -0 "$API_PID" 2>/dev/null && { kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; }
  done
  echo "the api did not start:" >&2
  cat "$log" >&2
  return 1
}

# stop_pid PID: SIGTERM, wait (bounded), and return its exit code.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  local code=0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 124
  fi
  wait "$pid" 2>/dev/null || code=$?
  return "$code"
}

# sign_up HANDLE -> prints the bearer token.
sign_up() {
  curl -sf -XPOST "http://127.0.0.1:$API_PORT/v1/users" -H 'Content-Type: application/json' \
    -d "{\"handle\":\"$1\"}" | jq -r .token
}

# post_json PATH TOKEN BODY -> prints the response body (fails on non-2xx).
post_json() {
  curl -sf -XPOST "http://127.0.0.1:$API_PORT$1" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d "$3"
}

# to_ms VALUE: wrk's "1.23ms" / "850.00us" / "1.02s" -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000
    printf "%.3f", n }'
}

# wrk_field REPORT NAME: one figure from a wrk --latency report:
# rps, p50, p99 (ms), requests, non2xx, connect, read, write, timeout.
wrk_field() {
  local report="$1" name="$2"
  case "$name" in
    rps) awk '/^Requests\/sec:/ {print $2}' "$report" ;;
    p50) to_ms "$(awk '$1 == "50%" {print $2}' "$report")" ;;
    p99) to_ms "$(awk '$1 == "99%" {print $2}' "$report")" ;;
    requests) awk '/requests in/ {print $1}' "$report" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ {print $5}' "$report" | grep . || echo 0 ;;
    connect | read | write | timeout)
      awk -v k="$name" '/Socket errors:/ { for (i = 1; i <= NF; i++) { f = $i; sub(/,$/, "", f); if (f == k) { v = $(i + 1); sub(/,$/, "", v); print v } } }' "$report" | grep . || echo 0 ;;
  esac
}

# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# rss_kb PID / peak_rss_kb PID: resident and peak resident memory (kB).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

load_average() { cut -d' ' -f1 /proc/loadavg; }

machine_line() {
  local cpu
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}'), $(date -u +%Y-%m-%d)"
}

# write_section FILE TITLE CONTENT_FILE: replaces the "## TITLE" section of a
# markdown file (up to the next "## " heading) with CONTENT_FILE, or appends
# it. CONTENT_FILE starts with its own "## TITLE" line.
write_section() {
  local file="$1" title="$2" content="$3" tmp
  [[ -f "$file" ]] || printf '# Benchmarks\n' >"$file"
  tmp="$(mktemp "$file.XXXXXX")"
  awk -v title="## $title" -v content="$content" '
    BEGIN { while ((getline line < content) > 0) body = body line "\n" }
    $0 == title { printf "%s\n", body; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) printf "\n%s", body }' "$file" >"$tmp"
  # Collapse runs of blank lines the splice may leave.
  cat -s "$tmp" >"$file"
  rm -f "$tmp"
}

# prepare_run NAME TOOL...: refuses to start without the tools or the built
# $binary, then gives the run a fresh $scratch folder and a migrated
# database in it, $db ($scratch/NAME.db; migrate's output in migrate.log).
prepare_run() {
  local name="$1"; shift
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is required" >&2; exit 1; }
  done
  [[ -x "$binary" ]] || { echo "$name: build $binary first" >&2; exit 1; }
  rm -rf "$scratch"
  mkdir -p "$scratch"
  db="$scratch/$name.db"
  "$binary" migrate --db "$db" >"$scratch/migrate.log" 2>&1 ||
    { cat "$scratch/migrate.log" >&2; exit 1; }
}
