#!/usr/bin/env bash
# Checks compose.postgres.yaml as it is meant to be used,
# `-f compose.yaml -f compose.postgres.yaml`, with and without the
# `observability` profile: it validates, and the resolved configuration has
# what the file's header promises: a `postgres` service (PostgreSQL 15 built
# from deploy/postgres.Dockerfile, the `pgdata` volume, a pg_isready health
# check, the password from PW_POSTGRES_PASSWORD with a local-only default);
# migrate, backend and worker on it through DATABASE_URL, each waiting for it
# to be healthy; no host port on any backend or worker (so that
# `--scale backend=N --scale worker=M` works) nor on postgres; the edge still
# balancing `backend`; Prometheus reading prometheus.postgres.yml (DNS service
# discovery of every replica, the exporter); and prometheus-postgres-exporter
# in the profile, reading the same server. One password, set once, reaches
# every URL.
#
# Usage: check_compose_postgres.sh [--no-self-test] [REPO_ROOT]
# Needs: docker-compose 1.29 (no engine: `config` only) or `docker compose`
# v2, jq, promtool.

# jq programs are literal on purpose; run_checks also runs in subshells
# (self-test), where its counters are meant to stay local.
# shellcheck disable=SC2016,SC2030,SC2031
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_compose
FILES=(compose.yaml compose.postgres.yaml)
unset PW_BACKEND_PORT PW_WORKER_PORT PW_POSTGRES_PASSWORD
DEFAULT_PASSWORD=personaworlds-local-only

# Prints "ok<TAB>message" or "FAIL<TAB>message" per expectation; $profile is
# true when the observability profile is on, $password the one expected.
JQ_CHECKS='
def report($ok; $msg): if $ok then "ok\t\($msg)" else "FAIL\t\($msg)" end;
def svc($n): .services[$n] // {};
def ports: [.ports[]? | if type == "object" then "\(.published // ""):\(.target)" else tostring end];
def mounts: [.volumes[]? | if type == "object" then "\(.source):\(.target)"
                           else split(":") | "\(.[0]):\(.[1])" end];
def env: .environment // {} | if type == "array" then map(split("=") | {(.[0]): (.[1:] | join("="))}) | add else . end;
def rel($root): if . == $root then "." elif startswith($root + "/") then "./" + ltrimstr($root + "/") else . end;
def url: "postgresql://personaworlds:\($password)@postgres:5432/personaworlds";
def where: if $profile then " (--profile observability)" else "" end;

. as $c
| ($c.services | keys) as $names
| ((["postgres", "migrate", "backend", "worker", "edge"]
    + (if $profile then ["prometheus", "grafana", "postgres-exporter"] else [] end))[] as $s
   | report($names | index($s) != null; "service \($s) exists\(where)")),

  report(($c.volumes | keys) == ["pgdata", "pwdata"]; "named volumes pgdata and pwdata\(where) (found \($c.volumes | keys | join(", ")))"),

  (($c | svc("postgres")) as $p
   | report($p.image == "personaworlds-postgres:latest" and ($p.build.dockerfile // "") == "deploy/postgres.Dockerfile"
           and ($p.build.context // "" | rel($root)) == ".";
           "postgres builds deploy/postgres.Dockerfile from the repo root as personaworlds-postgres:latest"),
    report(($p.profiles // []) == []; "postgres is in no profile"),
    report($p | mounts | index("pgdata:/var/lib/postgresql/data") != null; "postgres keeps its data on the pgdata volume"),
    report(($p.healthcheck.test // []) as $t | ($t[0] == "CMD" or $t[0] == "CMD-SHELL") and ($t | tostring | test("pg_isready"));
           "postgres health check runs pg_isready (found \($p.healthcheck.test | tojson))"),
    report(($p | env) as $e | $e.POSTGRES_PASSWORD == $password and $e.POSTGRES_USER == "personaworlds"
                               and $e.POSTGRES_DB == "personaworlds";
           "postgres: user and database personaworlds, password \($password | tojson)\(where)"),
    report(($p | ports) == []; "postgres publishes no host port (found \($p | ports | join(", ")))")),

  (["migrate", "backend", "worker"][] as $s | ($c | svc($s)) as $v
   | report(($v | env).DATABASE_URL == url; "\($s) has DATABASE_URL=\(url)\(where) (found \(($v | env).DATABASE_URL | tojson))"),
     report($v.depends_on.postgres.condition == "service_healthy"; "\($s) waits for postgres to be healthy"),
     report(($v | ports) == []; "\($s) publishes no host port, so it scales (found \($v | ports | join(", ")))")),
  (["backend", "worker"][] as $s | ($c | svc($s)) as $v
   | report($v.depends_on.migrate.condition == "service_completed_successfully"; "\($s) still waits for migrate"),
     report(($v.scale // 1) == 1 and ($v.deploy.replicas // 1) == 1 and ($v.container_name == null);
            "\($s) has no container_name and no fixed replica count (--scale decides)")),
  report(($c | svc("migrate")).restart == "no"; "migrate still runs once (restart: \"no\")"),
  report((($c | svc("edge")) | env).EDGE_API_SERVER == "backend:8080"; "the edge balances backend:8080 (every replica, by DNS)"),
  report(($c | svc("edge") | ports | index("8080:8080")) != null; "the edge publishes the API on 8080"),

  (if $profile then
     ($c | svc("prometheus") | mounts | map(rel($root))) as $m
     | report($m | index("./deploy/prometheus/prometheus.postgres.yml:/etc/prometheus/prometheus.yml") != null
                   and ($m | map(select(endswith(":/etc/prometheus/prometheus.yml"))) | length) == 1;
              "prometheus reads deploy/prometheus/prometheus.postgres.yml, and only that, as its config"),
       report($m | index("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml") != null; "prometheus still mounts alerts.yml"),
       report(($c | svc("prometheus")).depends_on["postgres-exporter"] != null; "prometheus depends on postgres-exporter"),
     ($c | svc("postgres-exporter")) as $x
     | report($x.profiles == ["observability"]; "postgres-exporter is in profile observability"),
       report($x.image == "personaworlds-postgres-exporter:latest"
              and ($x.build.dockerfile // "") == "deploy/postgres-exporter.Dockerfile";
              "postgres-exporter builds deploy/postgres-exporter.Dockerfile as personaworlds-postgres-exporter:latest"),
       report(($x | env).DATA_SOURCE_NAME | startswith(url + "?");
              "postgres-exporter reads \(url) (found \(($x | env).DATA_SOURCE_NAME | tojson))"),
       report($x.depends_on.postgres.condition == "service_healthy"; "postgres-exporter waits for postgres to be healthy"),
       report(($x | ports) == []; "postgres-exporter publishes no host port")
   else empty end)
'

# The scrape config of the PostgreSQL stack as JSON.
PROMETHEUS_CHECKS='
def report($ok; $msg): if $ok then "ok\t\($msg)" else "FAIL\t\($msg)" end;
def job($n): [.scrape_configs[]? | select(.job_name == $n)][0] // {};
def dns($n; $port): [job($n).dns_sd_configs[]? | select(.names == [$n] and .type == "A" and .port == $port)] | length == 1;
report(dns("backend"; 8080); "prometheus.postgres.yml finds every backend replica by DNS (A records of backend, port 8080)"),
report(dns("worker"; 9091); "prometheus.postgres.yml finds every worker replica by DNS (A records of worker, port 9091)"),
report([job("backend"), job("worker")] | all(.static_configs == null); "backend and worker have no static targets (one replica only)"),
report([job("postgres").static_configs[]?.targets[]?] == ["postgres-exporter:9187"]; "job postgres scrapes postgres-exporter:9187"),
report(.rule_files == ["alerts.yml"]; "prometheus.postgres.yml evaluates alerts.yml")
'

report_lines() { # reads "ok|FAIL<TAB>message" lines
  local verdict line
  while IFS=$'\t' read -r verdict line; do
    if [[ $verdict == ok ]]; then pass "$line"; else fail "$line"; fi
  done
}

# check_config ROOT PASSWORD [--profile observability]
check_config() {
  local root=$1 password=$2 with_profile=false json
  shift 2
  [[ ${1:-} == --profile ]] && with_profile=true
  # `config` fails on a file that is not valid compose.
  if ! json=$(compose_json "$root" "$@" "${FILES[@]}" 2>&1) || ! jq -e .services >/dev/null 2>&1 <<<"$json"; then
    fail "${FILES[*]} $* do not validate (${COMPOSE[*]} config): ${json:0:500}"
    return
  fi
  pass "${FILES[*]} validate $* (${COMPOSE[*]} config)"
  report_lines < <(jq -r --arg root "$root" --arg password "$password" --argjson profile "$with_profile" "$JQ_CHECKS" <<<"$json" 2>&1 \
                   || echo $'FAIL\tjq could not run the compose checks')
}

run_checks() {
  local root=$1 before=$PW_FAILED dir path
  # A self-test only needs one failure: it stops at the first step that
  # fails (STOP_EARLY=1), the cheapest steps first.
  stop() { [[ ${STOP_EARLY:-0} == 1 && $PW_FAILED != "$before" ]]; }

  for path in deploy/postgres.Dockerfile deploy/postgres/entrypoint.sh deploy/postgres-exporter.Dockerfile \
              deploy/postgres-exporter/queries.yaml deploy/prometheus/prometheus.postgres.yml; do
    if [[ -e $root/$path ]]; then pass "$path exists"; else fail "$path is missing"; fi
  done

  # The Prometheus config of this stack: valid, with its rules beside it.
  # Removed here, not by the exit trap: the self-tests run this function
  # in a subshell, whose additions to PW_SCRATCH the trap never sees.
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pw-compose-pg.XXXXXX")
  cp "$root/deploy/prometheus/prometheus.postgres.yml" "$dir/prometheus.yml" 2>/dev/null
  cp "$root/deploy/prometheus/alerts.yml" "$dir/alerts.yml" 2>/dev/null
  check "promtool check config prometheus.postgres.yml (and the rule files it names)" promtool check config "$dir/prometheus.yml"
  report_lines < <(python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' \
                     "$dir/prometheus.yml" 2>/dev/null | jq -r "$PROMETHEUS_CHECKS" 2>&1 \
                   || echo $'FAIL\tcould not read prometheus.postgres.yml')
  rm -rf "$dir"
  stop && return 1

  check_config "$root" "$DEFAULT_PASSWORD"
  stop && return 1
  check_config "$root" "$DEFAULT_PASSWORD" --profile observability
  stop && return 1
  # A password of one's own reaches the server and every URL.
  PW_POSTGRES_PASSWORD=Own-pass_1 check_config "$root" Own-pass_1 --profile observability
  [[ $PW_FAILED == "$before" ]]
}

# mutate "what" SED_SCRIPT [FILE]: run_checks must fail on a copy of the
# tree with FILE (default compose.postgres.yaml) so changed.
mutate() {
  local what=$1 script=$2 file=${3:-compose.postgres.yaml} d
  scratch_copy compose.yaml compose.postgres.yaml deploy
  d=$SCRATCH
  sed -i -e "$script" "$d/$file"
  if cmp -s "$ROOT/$file" "$d/$file"; then
    fail "self-test: the mutation for \"$what\" changed nothing (fix the self-test)"
    return
  fi
  STOP_EARLY=1 expect_failure "$what" "$d"
}

self_test() {
  mutate "a file that is not valid compose" 's/^services:/servics:/'
  mutate "a fixed host port on the worker again" '/^  worker:/,/^  prometheus:/{s/^    environment:/    ports: ["9091:9091"]\n    environment:/}'
  mutate "a fixed host port on the worker in compose.yaml" \
    '/^  worker:/,/^  edge:/{s/^    command: \["worker"\]/    command: ["worker"]\n    ports: ["9091:9091"]/}' compose.yaml
  mutate "a published database" '/^  postgres:/,/^  migrate:/{s/^    init: true/    init: true\n    ports: ["5432:5432"]/}'
  mutate "the API not waiting for a healthy server" '/^  backend:/,/^  worker:/{s/condition: service_healthy/condition: service_started/}'
  mutate "the worker on another database" '/^  worker:/,/^  prometheus:/{s/<<: \*postgres-url/DATABASE_URL: postgresql:\/\/personaworlds@elsewhere\/personaworlds/}'
  mutate "a health check without pg_isready" 's/"pg_isready", "-h", "127.0.0.1", /"true", /'
  mutate "the data off the volume" 's|pgdata:/var/lib/postgresql/data|/tmp/pg:/var/lib/postgresql/data|'
  mutate "a password set in one place only" 's/POSTGRES_PASSWORD: "${PW_POSTGRES_PASSWORD:-personaworlds-local-only}"/POSTGRES_PASSWORD: "personaworlds-local-only"/'
  mutate "Prometheus left on the one-host config" '/prometheus.postgres.yml:\/etc\/prometheus\/prometheus.yml/d'
  mutate "the exporter out of the profile" '/^  postgres-exporter:/,/^volumes:/{/profiles:/d}'
  mutate "a fixed worker target" 's/- names: \["worker"\]/- names: ["worker-1"]/' deploy/prometheus/prometheus.postgres.yml
  mutate "the exporter not scraped" 's/postgres-exporter:9187/postgres-exporter:9999/' deploy/prometheus/prometheus.postgres.yml
  mutate "an invalid Prometheus config" 's/type: A$/type: AAAAA/' deploy/prometheus/prometheus.postgres.yml
}

parse_args "$@"
require_tools jq sed awk cmp promtool python3
echo "# ${FILES[*]} in $ROOT (${COMPOSE[*]})"
run_checks "$ROOT"
if [[ $SELF_TEST == 1 ]]; then
  echo "# self-test: each mutation below must be caught"
  self_test
fi
finish
