#!/usr/bin/env bash
# The dashboard's PostgreSQL row against the real thing: a throwaway
# PostgreSQL 15 server (tests/support/postgres.sh) with the product's schema
# (migrations/postgres/*.sql) and some job traffic (inserts, updates that
# leave dead tuples in `jobs`, commits and rollbacks); Debian's
# prometheus-postgres-exporter reading it with deploy/postgres-exporter/queries.yaml;
# and Debian's Prometheus scraping it every second with
# deploy/prometheus/prometheus.postgres.yml (the exporter's address made
# local; its DNS-discovered jobs find nothing here and stay empty). Then
#   - the exporter is up and Prometheus scrapes it (up{job="postgres"} 1);
#   - every panel query of the PostgreSQL row evaluates and returns data
#     (dashboard_queries.sh --require-data --row PostgreSQL);
#   - the dead tuples of `jobs` and the commit and rollback rates are above 0.
#
# Usage: postgres_dashboard.sh [REPO_ROOT]
# Needs: PostgreSQL 15 server binaries, psql, prometheus-postgres-exporter,
# prometheus, curl, jq (make deps). PW_KEEP_TMP=1 keeps the temporary folder.

# PromQL and jq are single-quoted on purpose; functions are called through
# wait_for.
# shellcheck disable=SC2016,SC2317
set -uo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
for tool in prometheus prometheus-postgres-exporter psql curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL - required tool not found: $tool (make deps)"; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-postgres-dashboard.XXXXXX")
# As root the server runs as nobody (postgres.sh), which must reach its folder.
chmod 0755 "$tmp"
exporter_pid="" prometheus_pid=""
passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
cleanup() {
  local pid
  for pid in $exporter_pid $prometheus_pid; do kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  bash "$root/tests/support/postgres.sh" stop "$tmp/pg" >/dev/null 2>&1
  if [[ ${PW_KEEP_TMP:-0} == 1 || $failed != 0 ]]; then
    echo "# kept $tmp (exporter.log, prometheus.log)"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed == 0 && $passed -gt 0 ]]
  exit $?
}
die() { fail "$*"; finish; }
wait_for() { # TIMEOUT_S COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- the server

bash "$root/tests/support/postgres.sh" start "$tmp/pg" >"$tmp/postgres.out" 2>&1 \
  || die "PostgreSQL did not start: $(cat "$tmp/postgres.out")"
admin_url=$(cat "$tmp/pg/url")
# The database compose.postgres.yaml uses, with the product's schema.
psql "$admin_url" -qAt -v ON_ERROR_STOP=1 -c 'CREATE DATABASE personaworlds' >/dev/null || die "CREATE DATABASE failed"
url=${admin_url/\/postgres\?//personaworlds?}
sql() { psql "$url" -qAt -v ON_ERROR_STOP=1 "$@"; }
for migration in "$root"/migrations/postgres/*.sql; do
  sql -f "$migration" >"$tmp/migrate.out" 2>&1 || die "$(basename "$migration"): $(cat "$tmp/migrate.out")"
done
pass "the schema of migrations/postgres is in place ($(sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") tables)"

# Job traffic as a worker makes it: inserts, claims and settles (updates
# that leave dead row versions behind), and transactions that roll back.
sql >"$tmp/traffic.out" 2>&1 <<'SQL' || die "job traffic: $(cat "$tmp/traffic.out")"
INSERT INTO jobs (type, run_at, created_at, updated_at)
  SELECT 'world.simulate', pw_now_ms(), pw_now_ms(), pw_now_ms() FROM generate_series(1, 300);
UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = 'test', updated_at = pw_now_ms()
  WHERE id % 2 = 0;
UPDATE jobs SET state = 'succeeded', lease_owner = NULL, finished_at = pw_now_ms(), updated_at = pw_now_ms()
  WHERE state = 'running';
BEGIN; UPDATE jobs SET priority = 1; ROLLBACK;
BEGIN; DELETE FROM jobs; ROLLBACK;
SQL
pass "job traffic: 300 jobs inserted, 150 claimed and settled, 2 transactions rolled back"

# ---------------------------------------------------------------- exporter and Prometheus

exporter_port=$(free_port)
DATA_SOURCE_NAME="$url&sslmode=disable" prometheus-postgres-exporter \
  --web.listen-address="127.0.0.1:$exporter_port" \
  --extend.query-path="$root/deploy/postgres-exporter/queries.yaml" >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!
exporter_up() { curl -s --max-time 5 "http://127.0.0.1:$exporter_port/metrics" | grep -Eq '^pg_up(\{[^}]*\})? 1$'; }
if wait_for 20 exporter_up; then
  pass "prometheus-postgres-exporter reads the server (pg_up 1)"
else
  die "the exporter does not reach the server: $(tail -n 5 "$tmp/exporter.log")"
fi

# The stack's own config: only the exporter's address and the intervals change.
mkdir -p "$tmp/prometheus"
cp "$root/deploy/prometheus/alerts.yml" "$tmp/prometheus/alerts.yml"
sed -e "s/postgres-exporter:9187/127.0.0.1:$exporter_port/" \
    -e 's/^\(  *\)scrape_interval: .*/\1scrape_interval: 1s/' \
    -e 's/^\(  *\)evaluation_interval: .*/\1evaluation_interval: 1s/' \
    "$root/deploy/prometheus/prometheus.postgres.yml" >"$tmp/prometheus/prometheus.yml"
grep -q "127.0.0.1:$exporter_port" "$tmp/prometheus/prometheus.yml" \
  || die "deploy/prometheus/prometheus.postgres.yml does not scrape postgres-exporter:9187"
prom_port=$(free_port)
prometheus --config.file="$tmp/prometheus/prometheus.yml" --storage.tsdb.path="$tmp/prometheus/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
prometheus_pid=$!
prom=http://127.0.0.1:$prom_port
query() { curl -s --max-time 5 --get --data-urlencode "query=$1" "$prom/api/v1/query"; }
value() { query "$1" | jq -r '.data.result[0].value[1] // empty' 2>/dev/null; }
scraped() { [[ $(value 'up{job="postgres"}') == 1 ]]; }
if wait_for 30 scraped; then
  pass "Prometheus scrapes the exporter as job postgres (deploy/prometheus/prometheus.postgres.yml)"
else
  die "up{job=\"postgres\"} is not 1: $(query 'up' | head -c 400) $(tail -n 5 "$tmp/prometheus.log")"
fi
# Rates need two samples inside the window: wait for a third scrape.
rated() { [[ -n $(value 'count_over_time(pg_stat_database_xact_commit{job="postgres",datname="personaworlds"}[10s])') ]] \
          && (($(value 'count_over_time(pg_stat_database_xact_commit{job="postgres",datname="personaworlds"}[10s])') >= 3)); }
wait_for 20 rated || fail "fewer than 3 samples of the exporter after 20 s"

# ---------------------------------------------------------------- the panels

if bash "$root/tests/deploy/dashboard_queries.sh" --require-data --row PostgreSQL --rate-interval 10s \
     --root "$root" "$prom" >"$tmp/queries.out" 2>&1; then
  pass "every panel query of the PostgreSQL row returns data ($(tail -n 1 "$tmp/queries.out"))"
  grep '^OK    panel' "$tmp/queries.out" | sed 's/^/       /'
else
  fail "dashboard_queries.sh --require-data --row PostgreSQL:"$'\n'"$(sed 's/^/       /' "$tmp/queries.out")"
fi
panels=$(grep -c '^\(OK\|EMPTY\|ERROR\) *panel' "$tmp/queries.out")
if [[ $panels -ge 6 ]]; then
  pass "the PostgreSQL row has $panels panel queries"
else
  fail "the PostgreSQL row has $panels panel queries, expected at least 6 (connections, dead tuples, transactions)"
fi

dead=$(value 'max(pg_stat_user_tables_n_dead_tup{job="postgres",relname="jobs",datname="personaworlds"})')
if [[ -n $dead ]] && (($(printf '%.0f' "$dead") > 0)); then
  pass "the dead tuples of jobs are counted: $dead"
else
  fail "dead tuples of jobs: '${dead}'"
fi
# The traffic above came before the first scrape: one more rollback now,
# while the exporter's own queries keep the commits coming.
sql -c 'BEGIN; SELECT 1; ROLLBACK;' >/dev/null 2>&1
positive_rate() { # KIND: rate of pg_stat_database_xact_KIND in RATE, true when above 0
  RATE=$(value "sum(rate(pg_stat_database_xact_$1{job=\"postgres\",datname=\"personaworlds\"}[1m]))")
  [[ -n $RATE ]] && awk -v r="$RATE" 'BEGIN { exit !(r > 0) }'
}
for kind in commit rollback; do
  if wait_for 10 positive_rate "$kind"; then
    pass "the $kind rate is above 0: $RATE/s"
  else
    fail "the $kind rate: '${RATE:-}'"
  fi
done
finish
