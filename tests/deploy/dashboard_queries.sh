#!/usr/bin/env bash
# Runs every panel query of the Grafana dashboard and every alert expression
# of deploy/prometheus/alerts.yml against a live Prometheus, and fails when
# Prometheus rejects one (bad PromQL, unknown function, wrong types).
# With --require-data it also fails when a panel query returns no series,
# which shows that the running binaries export what the dashboard charts.
# Alert expressions are expected to be empty while nothing is wrong, so an
# empty alert result is never a failure.
#
# Usage: dashboard_queries.sh [--require-data] [--rate-interval 1m] [--root REPO_ROOT]
#                             [--row TITLE | --except-row TITLE] PROM_URL
#   e.g. dashboard_queries.sh --require-data http://127.0.0.1:9090
# --row / --except-row: only the panels under that row, or all but those
# (the PostgreSQL row has data only from the stack of compose.postgres.yaml).
# Grafana's $__rate_interval (and $__interval, $__range) become --rate-interval.
# Needs: curl, jq, awk.

set -uo pipefail

require_data=0
rate_interval=1m
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prom_url=""
only_row="" except_row=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --require-data) require_data=1 ;;
    --rate-interval) rate_interval=$2; shift ;;
    --root) root=$2; shift ;;
    --row) only_row=$2; shift ;;
    --except-row) except_row=$2; shift ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) prom_url=${1%/} ;;
  esac
  shift
done
if [[ -z $prom_url ]]; then
  echo "usage: $0 [--require-data] [--rate-interval 1m] [--root REPO_ROOT] PROM_URL" >&2
  exit 2
fi
for tool in curl jq awk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "required tool not found: $tool" >&2; exit 2; }
done

dashboard=$root/deploy/grafana/dashboards/personaworlds-observability.json
alerts=$root/deploy/prometheus/alerts.yml

# One query per line as "label<TAB>expr" (exprs are flattened to one line).
# A panel belongs to the row above it, or to the collapsed row holding it.
panel_queries() {
  jq -r --arg only "$only_row" --arg except "$except_row" '
         [foreach .panels[]? as $p (""; if $p.type == "row" then $p.title else . end; [., $p]),
          (.panels[]? | select(.type == "row") | .title as $t | .panels[]? | [$t, .])][]
         | select(.[1].type != "row")
         | select(($only == "" or .[0] == $only) and ($except == "" or .[0] != $except))
         | .[1] as $p
         | $p.targets[]? | select((.expr // "") != "")
         | "panel \($p.title | tojson) [\(.refId)]\t\(.expr | gsub("\\s*\\n\\s*"; " "))"' "$dashboard"
}

# Alert expressions: `expr: ...` on one line or as a `|` / `>` block.
alert_queries() {
  awk '
    function flush() { if (expr != "") { gsub(/[[:space:]]+/, " ", expr); sub(/^ /, "", expr); sub(/ $/, "", expr); printf "alert %s\t%s\n", name, expr } expr = ""; inblock = 0 }
    inblock { match($0, /^[[:space:]]*/); if ($0 ~ /^[[:space:]]*$/ || RLENGTH > indent) { expr = expr " " $0; next } flush() }
    /^[[:space:]]*-[[:space:]]*alert:/ { name = $0; sub(/^[^:]*:[[:space:]]*/, "", name); next }
    /^[[:space:]]*expr:[[:space:]]*[|>][-+]?[[:space:]]*$/ { match($0, /^[[:space:]]*/); indent = RLENGTH; inblock = 1; expr = ""; next }
    /^[[:space:]]*expr:/ { expr = $0; sub(/^[[:space:]]*expr:[[:space:]]*/, "", expr); flush() }
    END { flush() }
  ' "$alerts"
}

passed=0 failed=0
run() {
  local label=$1 expr=$2 kind=$3 query response status count
  query=${expr//\$__rate_interval/$rate_interval}
  query=${query//\$__interval/$rate_interval}
  query=${query//\$__range/$rate_interval}
  if ! response=$(curl -sS --max-time 10 --get --data-urlencode "query=$query" "$prom_url/api/v1/query" 2>&1); then
    printf 'ERROR %s: %s\n      %s\n' "$label" "$query" "$response"
    failed=$((failed + 1)); return
  fi
  status=$(jq -r '.status // "error"' <<<"$response" 2>/dev/null || echo error)
  if [[ $status != success ]]; then
    printf 'ERROR %s: %s\n      %s\n' "$label" "$query" "$(jq -r '.error // .' <<<"$response" 2>/dev/null || echo "$response")"
    failed=$((failed + 1)); return
  fi
  count=$(jq -r '.data.result | if type == "array" then length else 1 end' <<<"$response")
  if [[ $count == 0 ]]; then
    printf 'EMPTY %s: %s\n' "$label" "$query"
    if [[ $kind == panel && $require_data == 1 ]]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
  else
    printf 'OK    %s: %s (%s series)\n' "$label" "$query" "$count"
    passed=$((passed + 1))
  fi
}

if ! ready=$(curl -sS --max-time 5 "$prom_url/-/ready" 2>&1); then
  echo "ERROR Prometheus at $prom_url does not answer: $ready"
  exit 1
fi
n=0
while IFS=$'\t' read -r label expr; do run "$label" "$expr" panel; n=$((n + 1)); done < <(panel_queries)
while IFS=$'\t' read -r label expr; do run "$label" "$expr" alert; n=$((n + 1)); done < <(alert_queries)
if [[ $n == 0 ]]; then
  echo "ERROR no queries found in $dashboard or $alerts"
  exit 1
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed == 0 ]]
