#!/usr/bin/env bash
# The whole system on one machine without containers: `migrate`, then `api`,
# `worker` and a real Prometheus (Debian's package), all on 127.0.0.1.
# Prometheus loads the same rule files as the compose profile and a scrape
# config generated from deploy/prometheus/prometheus.yml, with the compose
# targets (backend:8080, worker:9091) rewritten to the local ports.
# Ctrl-C (or SIGTERM) stops everything and exits 0; if one process fails by
# itself, the others are stopped and the script exits non-zero.
#
# Usage: scripts/stack.sh [options]
#   --bin PATH              the personaworlds binary (default: build/personaworlds)
#   --dir DIR               state folder: database, logs, generated config (default: .stack)
#   --api-port N            API port (default 8080; 0 picks a free one)
#   --worker-port N         worker observability port (default 9091; 0 picks a free one)
#   --prometheus-port N     Prometheus port (default 9090; 0 picks a free one)
#   --scrape-interval D     scrape and rule evaluation interval (default: the compose config's)
# The processes inherit the environment, so any setting of `personaworlds
# --help` applies, e.g. `ALLOW_PRIVATE_WEBHOOKS=true LOG_LEVEL=debug scripts/stack.sh`.
# Once everything is up, DIR/stack.env holds API_URL, WORKER_URL,
# PROMETHEUS_URL, DATABASE_PATH and the process ids (for scripts and tests).
# Needs: prometheus, promtool, curl (apt-get install prometheus curl).

set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/build/personaworlds
dir=$root/.stack
api_port=8080
worker_port=9091
prom_port=9090
scrape_interval=""

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) bin=$2; shift ;;
    --dir) dir=$2; shift ;;
    --api-port) api_port=$2; shift ;;
    --worker-port) worker_port=$2; shift ;;
    --prometheus-port) prom_port=$2; shift ;;
    --scrape-interval) scrape_interval=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "stack: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*" >&2; }
for tool in prometheus promtool curl; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool is not installed (apt-get install prometheus curl)"; exit 2; }
done
[[ -x $bin ]] || { say "no binary at $bin (run \`make build\` first)"; exit 2; }
mkdir -p "$dir" || exit 2
dir=$(cd "$dir" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
db=$dir/personaworlds.db
tsdb=""
api_pid="" worker_pid="" prom_pid=""
rm -f "$dir/stack.env"

# ---------------------------------------------------------------- stopping

stop_all() {
  local pid
  for pid in $prom_pid $worker_pid $api_pid; do kill -TERM "$pid" 2>/dev/null; done
  # The worker lets running jobs finish (WORKER_SHUTDOWN_GRACE_MS); after
  # 30 s whatever is left is killed.
  for _ in $(seq 1 300); do
    local alive=0
    for pid in $prom_pid $worker_pid $api_pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in $prom_pid $worker_pid $api_pid; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -f "$dir/stack.env"
  [[ -n $tsdb ]] && rm -rf "$tsdb"
  prom_pid="" worker_pid="" api_pid="" tsdb=""
}
stopping=0
trap 'stopping=1' INT TERM HUP
trap stop_all EXIT

# fail_start WHAT LOG: reports a process that did not come up.
fail_start() {
  say "$1 did not start; last lines of $2:"
  tail -n 20 "$2" >&2
  [[ -s ${2%.log}.err ]] && tail -n 20 "${2%.log}.err" >&2
  exit 1
}

# wait_for_field PID LOG MSG FIELD: the FIELD of the first JSON line with MSG.
wait_for_field() {
  local pid=$1 log=$2 msg=$3 field=$4 value
  for _ in $(seq 1 600); do
    [[ $stopping == 1 ]] && exit 130
    # JSON lines, or LOG_FORMAT=text (`... api_started host=... port=8080`).
    value=$(grep -E "\"msg\":\"$msg\"| $msg( |$)" "$log" 2>/dev/null | head -n 1 | grep -oE "(\"$field\":| $field=)[0-9]+" | grep -oE "[0-9]+$")
    [[ -n $value ]] && { echo "$value"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- start

say "migrating $db"
"$bin" migrate --db "$db" >"$dir/migrate.log" 2>&1 || fail_start migrate "$dir/migrate.log"

"$bin" api --db "$db" --host 127.0.0.1 --port "$api_port" >"$dir/api.log" 2>"$dir/api.err" &
api_pid=$!
api_port=$(wait_for_field "$api_pid" "$dir/api.log" api_started port) || fail_start api "$dir/api.log"

"$bin" worker --db "$db" --observability-host 127.0.0.1 --observability-port "$worker_port" \
  >"$dir/worker.log" 2>"$dir/worker.err" &
worker_pid=$!
worker_port=$(wait_for_field "$worker_pid" "$dir/worker.log" worker_started observability_port) \
  || fail_start worker "$dir/worker.log"

# The scrape config: the compose one with its targets on loopback, its rule
# files by absolute path (the very files compose mounts) and, if asked, a
# shorter interval. Anything it scrapes that has no local counterpart is an
# error rather than a silent gap.
compose_config=$root/deploy/prometheus/prometheus.yml
config=$dir/prometheus.yml
awk -v api="127.0.0.1:$api_port" -v worker="127.0.0.1:$worker_port" \
    -v rules="$root/deploy/prometheus" -v interval="$scrape_interval" '
  /^[^[:space:]#]/ { in_rules = ($0 ~ /^rule_files:/) }
  interval != "" && /^[[:space:]]+(scrape|evaluation)_interval:/ { sub(/:.*/, ": " interval) }
  in_rules && /^[[:space:]]*-[[:space:]]*[^[:space:]]/ {
    match($0, /-[[:space:]]*/); file = substr($0, RSTART + RLENGTH); gsub(/["\047]/, "", file)
    if (file !~ /^\//) file = rules "/" file
    $0 = substr($0, 1, RSTART + RLENGTH - 1) "\"" file "\""
  }
  { gsub(/"backend:8080"/, "\"" api "\""); gsub(/"worker:9091"/, "\"" worker "\""); print }
' "$compose_config" >"$config"
if unknown=$(grep -E 'targets:' "$config" | grep -vE 'targets:[[:space:]]*\[("127\.0\.0\.1:[0-9]+",?[[:space:]]*)+\]'); then
  say "$compose_config scrapes targets stack.sh cannot map to this machine: $unknown"
  exit 1
fi
promtool check config "$config" >"$dir/promtool.log" 2>&1 || { say "generated $config is invalid:"; cat "$dir/promtool.log" >&2; exit 1; }

# Prometheus cannot report a port it picked itself: with port 0, try free ones.
tsdb=$(mktemp -d "${TMPDIR:-/tmp}/pw-stack-tsdb.XXXXXX")
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5; do
  port=$prom_port
  if [[ $prom_port == 0 ]]; then
    for _ in $(seq 1 50); do port=$((20000 + RANDOM % 40000)); port_free "$port" && break; done
  fi
  prometheus --config.file="$config" --storage.tsdb.path="$tsdb" --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
  prom_pid=$!
  up=0
  for _ in $(seq 1 600); do
    [[ $stopping == 1 ]] && exit 130
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready"; then up=1; break; fi
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $up == 1 ]] && break
  kill -TERM "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; prom_pid=""
  [[ $prom_port == 0 ]] || break
done
[[ $up == 1 ]] || fail_start prometheus "$dir/prometheus.log"
prom_port=$port

cat >"$dir/stack.env.tmp" <<ENV
API_URL=http://127.0.0.1:$api_port
WORKER_URL=http://127.0.0.1:$worker_port
PROMETHEUS_URL=http://127.0.0.1:$prom_port
DATABASE_PATH=$db
API_PID=$api_pid
WORKER_PID=$worker_pid
PROMETHEUS_PID=$prom_pid
STACK_PID=$$
ENV
mv "$dir/stack.env.tmp" "$dir/stack.env"

cat >&2 <<EOF
==> PersonaWorlds is running on 127.0.0.1:
      API          http://127.0.0.1:$api_port        (healthz, readyz, metrics, /v1)
      worker       http://127.0.0.1:$worker_port/metrics
      Prometheus   http://127.0.0.1:$prom_port/classic/graph  (alerts: /classic/alerts, targets: /classic/targets)
    logs:     tail -f $dir/api.log $dir/worker.log
    database: $db
    jobs:     $bin jobs list --db $db
    Ctrl-C stops everything.
EOF

# ---------------------------------------------------------------- run

status=0
while [[ $stopping == 0 ]]; do
  wait -n "$api_pid" "$worker_pid" "$prom_pid"
  status=$?
  [[ $stopping == 1 ]] && break
  # Ctrl-C reaches the whole process group at once: a child may stop
  # (status 0, or 130 if SIGINT ended it) before this shell's trap has run.
  # None of them exits by itself with those statuses, so they mean a
  # deliberate stop too.
  [[ $status == 0 || $status == 130 ]] && break
  # wait -n returned for a child that failed: find out which one.
  for name in api worker prometheus; do
    case $name in api) pid=$api_pid ;; worker) pid=$worker_pid ;; prometheus) pid=$prom_pid ;; esac
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) exited with status $status; stopping the others"
      stop_all
      exit 1
    fi
  done
done
say "stopping"
stop_all
say "stopped"
exit 0
