#!/usr/bin/env bash
# Static checks of the Grafana dashboard deploy/grafana/dashboards/personaworlds-observability.json
# and of the provisioning that loads it: fixed title and uid, no import-time
# __inputs, a `datasource` variable used by every panel and query, a unit and
# a description on every panel, $__rate_interval in every rate()/increase(),
# and only metric and label names that the binary exports.
#
# Usage: check_dashboard.sh [--no-self-test] [REPO_ROOT]
# Needs: jq (1.6 or later), grep.

# PromQL, jq and $-placeholders below are literal on purpose; run_checks also runs
# in subshells (self-test), where its counters are meant to stay local.
# shellcheck disable=SC2016,SC2030,SC2031
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DASHBOARD=deploy/grafana/dashboards/personaworlds-observability.json
DATASOURCE=deploy/grafana/provisioning/datasources/prometheus.yml
PROVIDER=deploy/grafana/provisioning/dashboards/dashboards.yml

# What `personaworlds api` and `personaworlds worker` export (the names of the
# observability contract, observability.md), plus `up`, which Prometheus adds.
COUNTERS_AND_GAUGES=(
  http_requests_total personaworlds_build_info process_start_time_seconds
  jobs_processed_total job_retries_total jobs_trace_total queue_depth
  jobs_dead_total job_oldest_ready_age_seconds up db_busy_timeouts_total db_unavailable_total
  jobs_lease_lost_total admin_actions_total queue_paused jobs_rate_limited_total schedule_ticks_total
)
HISTOGRAMS=(http_request_duration_seconds db_query_duration_seconds job_duration_seconds db_lock_wait_seconds)
# What prometheus-postgres-exporter (Debian 12, with
# deploy/postgres-exporter/queries.yaml) exports, for the PostgreSQL row;
# tests/deploy/postgres_dashboard.sh proves each panel gets data from it.
POSTGRES_EXPORTER=(
  pg_up pg_stat_activity_count pg_settings_max_connections pg_stat_user_tables_n_dead_tup
  pg_stat_user_tables_n_live_tup pg_stat_database_xact_commit pg_stat_database_xact_rollback
)
LABELS=(route method status type trace le job instance version service reason action datname state relname schemaname
  schedule_kind)
# The dashboard must chart each of these somewhere.
REQUIRED=(
  http_requests_total http_request_duration_seconds jobs_processed_total
  job_duration_seconds job_retries_total db_query_duration_seconds queue_depth
  jobs_trace_total jobs_dead_total job_oldest_ready_age_seconds db_lock_wait_seconds
  db_busy_timeouts_total db_unavailable_total
  pg_stat_activity_count pg_stat_user_tables_n_dead_tup pg_stat_database_xact_commit pg_stat_database_xact_rollback
)

json_array() { printf '%s\n' "$@" | jq -R . | jq -sc .; }

# Prints one line per finding: "ok<TAB>message" or "FAIL<TAB>message".
JQ_CHECKS='
def report($ok; $msg): if $ok then "ok\t\($msg)" else "FAIL\t\($msg)" end;
def ds: {"type": "prometheus", "uid": "${datasource}"};

# PromQL made easy to scan: string literals emptied (a regex like "[45].."
# must not look like a range or a metric).
def no_strings: gsub("\"(?:[^\"\\\\]|\\\\.)*\""; "\"\"") | gsub("'"'"'(?:[^'"'"'\\\\]|\\\\.)*'"'"'"; "\"\"");
def grouping_re: "\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\(([^)]*)\\)";
def metric_names:
  no_strings
  | gsub("\\{[^}]*\\}"; " ") | gsub("\\[[^\\]]*\\]"; " ") | gsub(grouping_re; " ")
  | [scan("(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*(?![A-Za-z0-9_:])(?!\\s*\\()")]
  | map(select(ascii_downcase | IN("and", "or", "unless", "bool", "offset", "by", "without", "on",
                                   "ignoring", "group_left", "group_right", "inf", "nan") | not))
  | unique;
def label_names:
  no_strings
  | ([scan("\\{([^}]*)\\}")[0] | scan("([A-Za-z_][A-Za-z0-9_]*)\\s*(?:=~|!~|!=|=)")[0]]
     + [scan(grouping_re)[0] | split(",")[] | gsub("\\s"; "") | select(. != "")])
  | unique;
def rate_ranges: no_strings | [scan("\\b(?:rate|irate|increase)\\s*\\([^\\[]*\\[([^\\]]*)\\]")[0]];
def rate_calls: no_strings | [scan("\\b(?:rate|irate|increase)\\s*\\(")] | length;
def base_name: sub("_(?:bucket|sum|count)$"; "");

. as $d
| [.panels[]?, (.panels[]? | .panels[]?)] | map(select(.type != "row")) as $panels
| [$panels[] | .targets[]? | .expr // ""] as $exprs
| ([$exprs[] | metric_names[]] | unique) as $used

| report($d.title == "PersonaWorlds Observability"; "title is \"PersonaWorlds Observability\" (found \($d.title | tojson))"),
  report($d.uid == "personaworlds-observability"; "uid is \"personaworlds-observability\" (found \($d.uid | tojson))"),
  report(($d | has("__inputs") | not) and ($d | tostring | test("\\$\\{DS_") | not);
         "no __inputs and no ${DS_...} import placeholders"),
  report([$d.templating.list[]? | select(.name == "datasource" and .type == "datasource" and .query == "prometheus")] | length == 1;
         "templating has a variable \"datasource\" of type datasource, query prometheus"),
  report(($panels | length) > 0; "the dashboard has panels (\($panels | length))"),
  report(($panels | map(.id) | length) == ($panels | map(.id) | unique | length) and all($panels[]; .id != null);
         "every panel has its own id"),

  ($panels[] as $p
   | [ (if ($p.description | type) == "string" and ($p.description | length) > 0 then empty else "no description" end),
       (if ($p.fieldConfig.defaults.unit | type) == "string" and ($p.fieldConfig.defaults.unit | length) > 0
        then empty else "no fieldConfig.defaults.unit" end),
       (if $p.datasource == ds then empty else "datasource is \($p.datasource | tojson), not ${datasource}" end),
       (if ($p.targets | length) > 0 then empty else "no queries" end),
       ($p.targets[]? | . as $q | (.expr // "") as $e
        | (if $e == "" then "query \($q.refId) has no expr" else empty end),
          (if ($q.datasource == null) or ($q.datasource == ds) then empty
           else "query \($q.refId) datasource is \($q.datasource | tojson), not ${datasource}" end),
          (if ($e | rate_ranges | length) == ($e | rate_calls) and all($e | rate_ranges[]; . == "$__rate_interval")
           then empty else "a rate()/increase() without [$__rate_interval] in: \($e)" end),
          # As written (pg_stat_activity_count is a gauge), or a histogram series.
          ($e | metric_names[] | select((IN($exported[]) or (base_name | IN($exported[]))) | not) | "unknown metric \(.)"),
          ($e | metric_names[] | select(IN($histograms[])) | "histogram \(.) used without _bucket/_sum/_count"),
          ($e | label_names[] | select(IN($labels[]) | not) | "unknown label \(.) in: \($e)"),
          ($q.legendFormat // "" | [scan("\\{\\{\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*\\}\\}")[0]][]
           | select(IN($labels[]) | not) | "unknown label \(.) in legend"))
     ] as $problems
   | report($problems == [];
            "panel \($p.title // "(untitled)" | tojson): " + (if $problems == [] then
              "description, unit, ${datasource}, [$__rate_interval], exported metrics and labels only"
              else ($problems | join("; ")) end))
  ),

  ($required[] as $m | report(([$used[] | base_name] + $used) | index($m) != null; "some panel charts \($m)"))
'

run_checks() {
  local root=$1 before=$PW_FAILED file=$1/$DASHBOARD line exported
  if ! jq -e . "$file" >/dev/null 2>&1; then
    fail "$DASHBOARD is not valid JSON (or is missing)"
    [[ $PW_FAILED == "$before" ]]
    return
  fi
  exported=$(json_array "${COUNTERS_AND_GAUGES[@]}" "${HISTOGRAMS[@]}" "${POSTGRES_EXPORTER[@]}")
  while IFS=$'\t' read -r verdict line; do
    if [[ $verdict == ok ]]; then pass "$line"; else fail "$line"; fi
  done < <(jq -r --argjson exported "$exported" \
                 --argjson histograms "$(json_array "${HISTOGRAMS[@]}")" \
                 --argjson labels "$(json_array "${LABELS[@]}")" \
                 --argjson required "$(json_array "${REQUIRED[@]}")" \
                 "$JQ_CHECKS" "$file" 2>&1 || echo $'FAIL\tjq could not run the dashboard checks')

  # Provisioning: the datasource uid is the variable's default, and the file
  # provider reads the folder that compose mounts the dashboards into.
  if grep -Eq '^[[:space:]]*uid:[[:space:]]*pw-prometheus[[:space:]]*$' "$root/$DATASOURCE" \
     && grep -Eq '^[[:space:]]*url:[[:space:]]*http://prometheus:9090[[:space:]]*$' "$root/$DATASOURCE" \
     && grep -Eq '^[[:space:]]*isDefault:[[:space:]]*true[[:space:]]*$' "$root/$DATASOURCE"; then
    pass "$DATASOURCE: default Prometheus datasource, uid pw-prometheus, url http://prometheus:9090"
  else
    fail "$DATASOURCE must declare uid pw-prometheus, url http://prometheus:9090, isDefault: true"
  fi
  if [[ $(jq -r '.templating.list[]? | select(.name == "datasource") | .current.value // ""' "$file") == pw-prometheus ]]; then
    pass "the datasource variable defaults to pw-prometheus"
  else
    fail "the datasource variable's current value is not pw-prometheus"
  fi
  if grep -Eq '^[[:space:]]*path:[[:space:]]*/var/lib/grafana/dashboards[[:space:]]*$' "$root/$PROVIDER"; then
    pass "$PROVIDER reads /var/lib/grafana/dashboards"
  else
    fail "$PROVIDER must read /var/lib/grafana/dashboards (where compose.yaml mounts deploy/grafana/dashboards)"
  fi
  [[ $PW_FAILED == "$before" ]]
}

# mutate "what" JQ_FILTER: run_checks must fail on a copy changed by the filter.
mutate() {
  local what=$1 filter=$2 d
  scratch_copy "$DASHBOARD" "$DATASOURCE" "$PROVIDER"; d=$SCRATCH
  jq "$filter" "$ROOT/$DASHBOARD" >"$d/$DASHBOARD"
  if cmp -s "$ROOT/$DASHBOARD" "$d/$DASHBOARD"; then
    fail "self-test: the mutation for \"$what\" changed nothing (fix the self-test)"
    return
  fi
  expect_failure "$what" "$d"
}

# Changes the first panel query that contains $1 with the jq filter $2.
first_expr_with() {
  printf '(first(paths(strings) as $p | select($p[-1] == "expr" and (getpath($p) | contains("%s"))) | $p)) as $p | setpath($p; getpath($p) | %s)' "$1" "$2"
}

self_test() {
  mutate "a changed title" '.title = "PersonaWorlds"'
  mutate "a changed uid" '.uid = "abc123"'
  mutate "an __inputs block" '. + {"__inputs": [{"name": "DS_PROMETHEUS"}]}'
  mutate "a missing datasource variable" '.templating.list = []'
  mutate "a panel without a unit" '(first(.panels[] | select(.type != "row")) | .fieldConfig.defaults) |= del(.unit)'
  mutate "a panel without a description" '(first(.panels[] | select(.type != "row"))) |= del(.description)'
  mutate "a panel with a hard-coded datasource" '(first(.panels[] | select(.type != "row")) | .datasource) = {"type": "prometheus", "uid": "abc"}'
  mutate "a rate() over a fixed 5m" "$(first_expr_with 'rate(' 'sub("\\$__rate_interval"; "5m")')"
  mutate "an increase() over a fixed 1h" "$(first_expr_with 'increase(' 'sub("\\$__rate_interval"; "1h")')"
  mutate "a misspelt metric" "$(first_expr_with 'http_requests_total' 'sub("http_requests_total"; "http_request_total")')"
  mutate "a metric the binary does not export" "$(first_expr_with 'queue_depth' 'sub("queue_depth"; "jobs_queued")')"
  mutate "a histogram read without _bucket" "$(first_expr_with 'job_duration_seconds_bucket' 'sub("job_duration_seconds_bucket"; "job_duration_seconds")')"
  mutate "an unknown label in by()" "$(first_expr_with 'sum by (status)' 'sub("by \\(status\\)"; "by (code)")')"
  mutate "an unknown label in a matcher" "$(first_expr_with 'status=\"failed\"' 'sub("status="; "outcome=")')"
  mutate "an unknown label in a legend" '(first(.panels[] | select(.type != "row") | .targets[0]) | .legendFormat) = "{{code}}"'
  mutate "a misspelt exporter metric" "$(first_expr_with 'pg_stat_user_tables_n_dead_tup' 'sub("n_dead_tup"; "dead_tup")')"
  mutate "the dead tuples panel dropped" '.panels |= map(select((.targets // []) | all(.expr | contains("n_dead_tup") | not)))'
  mutate "a dropped contract metric" '.panels |= map(select((.targets // []) | all(.expr | contains("jobs_trace_total") | not)))'
}

parse_args "$@"
require_tools jq grep cmp
echo "# $DASHBOARD in $ROOT"
run_checks "$ROOT"
if [[ $SELF_TEST == 1 ]]; then
  echo "# self-test: each mutation below must be caught"
  self_test
fi
finish
