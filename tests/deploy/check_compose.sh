#!/usr/bin/env bash
# Checks compose.yaml with compose.override.yaml (what a plain `docker
# compose up` reads): it validates with and without the `observability`
# profile, and the resolved configuration has what the README (Operating it,
# Edge proxy) promises: migrate -> backend + worker from one image on the
# `pwdata` volume; the API reached only through `edge` (HAProxy, built from
# deploy/edge.Dockerfile), which publishes 8080 while backend publishes
# nothing; the worker on 9091; Prometheus scraping the API directly; and
# under the profile Prometheus on 9090 and Grafana on 3001 (admin/admin) with
# the files from deploy/ mounted. compose.postgres.yaml: check_compose_postgres.sh.
#
# Usage: check_compose.sh [--no-self-test] [REPO_ROOT]
# Needs: docker-compose 1.29 (no engine: `config` only) or `docker compose` v2,
# and jq. docker-compose 1.29 prints YAML: it is turned into JSON with the
# Python interpreter docker-compose itself runs on (its PyYAML is a dependency).

# PromQL, jq and $-placeholders below are literal on purpose; run_checks also runs
# in subshells (self-test), where its counters are meant to stay local.
# shellcheck disable=SC2016,SC2030,SC2031
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_compose
# The files a plain `docker compose up` reads.
FILES=(compose.yaml compose.override.yaml)
# The published host ports have overrides (PW_BACKEND_PORT, PW_WORKER_PORT):
# check the defaults.
unset PW_BACKEND_PORT PW_WORKER_PORT

# Prints "ok<TAB>message" or "FAIL<TAB>message" per expectation.
JQ_CHECKS='
def report($ok; $msg): if $ok then "ok\t\($msg)" else "FAIL\t\($msg)" end;
def svc($n): .services[$n] // {};
# "published:target" for every port, whatever the compose version prints.
def ports: [.ports[]? | if type == "object" then "\(.published):\(.target)" else tostring end];
# "source:target" for every mount, short string form or long object form.
def mounts: [.volumes[]? | if type == "object" then "\(.source):\(.target)"
                           else split(":") | "\(.[0]):\(.[1])" end];
def env: .environment // {} | if type == "array" then map(split("=") | {(.[0]): (.[1:] | join("="))}) | add else . end;
# Paths under the project directory, written back as compose.yaml has them.
def rel($root): if . == $root then "." elif startswith($root + "/") then "./" + ltrimstr($root + "/") else . end;

. as $c
| ($c.services | keys) as $names
| (["migrate", "backend", "worker", "edge", "prometheus", "grafana"][] as $s
   | report($names | index($s) != null; "service \($s) exists")),
  report($c.volumes | has("pwdata"); "named volume pwdata is declared"),
  report(($c.volumes | keys) == ["pwdata"]; "pwdata is the only named volume (found \($c.volumes | keys | join(", ")))"),

  (["migrate", "backend", "worker"][] as $s | ($c | svc($s)) as $v
   | report($v.image == "personaworlds:latest" and ($v.build.dockerfile // "") == "deploy/Dockerfile"
            and ($v.build.context // "" | rel($root)) == ".";
            "\($s) builds deploy/Dockerfile from the repo root as personaworlds:latest"),
     report($v.init == true; "\($s) runs with init: true"),
     report(($v.profiles // []) == []; "\($s) is in no profile (starts with a plain `up`)"),
     report($v | mounts | index("pwdata:/data") != null; "\($s) mounts pwdata at /data"),
     report(($v | env).DATABASE_PATH == "/data/personaworlds.db"; "\($s) has DATABASE_PATH=/data/personaworlds.db")),

  report(($c | svc("migrate")).command == ["migrate"]; "migrate runs [\"migrate\"]"),
  report(($c | svc("migrate")).restart == "no"; "migrate has restart: \"no\""),
  report(($c | svc("backend")).command == ["api"]; "backend runs [\"api\"]"),
  report(($c | svc("worker")).command == ["worker"]; "worker runs [\"worker\"]"),
  (["backend", "worker"][] as $s | ($c | svc($s)) as $v
   | report($v.depends_on.migrate.condition == "service_completed_successfully";
            "\($s) waits for migrate to complete successfully")),
  report(($c | svc("backend")).healthcheck.test == ["CMD", "personaworlds", "probe", "http://127.0.0.1:8080/readyz"];
         "backend health check probes http://127.0.0.1:8080/readyz with the binary"),
  report((($c | svc("worker")) | env).WORKER_OBSERVABILITY_PORT == "9091"; "worker has WORKER_OBSERVABILITY_PORT=9091"),

  ({"edge": "8080:8080", "worker": "9091:9091", "prometheus": "9090:9090", "grafana": "3001:3000"}
   | to_entries[] as $p
   | report(($c | svc($p.key) | ports | index($p.value)) != null; "\($p.key) publishes \($p.value)")),
  (["backend", "migrate"][] as $s
   | ($c | svc($s) | ports) as $published
   | report($published == []; "\($s) publishes no host port\(if $published == [] then "" else " (found \($published | join(", ")))" end)")),
  report(($c | svc("edge") | ports | map(select(endswith(":8404")))) == []; "edge keeps its admin port 8404 private"),

  ($c | svc("edge")) as $e
  | report(($e.build.dockerfile // "") == "deploy/edge.Dockerfile" and ($e.build.context // "" | rel($root)) == "."
           and $e.image == "personaworlds-edge:latest";
           "edge builds deploy/edge.Dockerfile from the repo root as personaworlds-edge:latest"),
    report($e.init == true; "edge runs with init: true"),
    report(($e.profiles // []) == []; "edge is in no profile (starts with a plain `up`)"),
    report(($e | env).EDGE_API_SERVER == "backend:8080"; "edge sends the API traffic to backend:8080"),
    report((($c | svc("backend") | env).SHUTDOWN_DELAY_MS // "0" | tonumber) >= 3000;
           "backend keeps answering while the edge takes it out of rotation (SHUTDOWN_DELAY_MS >= 3000)"),
    report($e.depends_on.backend != null; "edge depends on backend"),
    report($e.healthcheck.test == ["CMD", "edge-healthcheck"]; "edge health check runs edge-healthcheck (its monitor URI)"),

  (["prometheus", "grafana"][] as $s
   | report(($c | svc($s)).profiles == ["observability"]; "\($s) is in profile observability")),
  report((($c | svc("grafana")) | env) as $e | $e.GF_SECURITY_ADMIN_USER == "admin" and $e.GF_SECURITY_ADMIN_PASSWORD == "admin";
         "grafana logs in as admin/admin"),
  ({"prometheus": ["./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml",
                   "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml"],
    "grafana": ["./deploy/grafana/provisioning:/etc/grafana/provisioning",
                "./deploy/grafana/dashboards:/var/lib/grafana/dashboards"]}
   | to_entries[] as $m | $m.value[] as $want
   | report(($c | svc($m.key) | mounts | map(rel($root)) | index($want)) != null; "\($m.key) mounts \($want)"))
'

run_checks() {
  local root=$1 before=$PW_FAILED json verdict line path
  compose_args "$root" "${FILES[@]}"
  check "${FILES[*]} validate (${COMPOSE[*]} config -q)" "${COMPOSE[@]}" "${COMPOSE_ARGS[@]}" config -q
  # `config` fails on a file that is not valid compose: reading the
  # resolved configuration is the check with the profile.
  if ! json=$(compose_json "$root" --profile observability "${FILES[@]}" 2>&1) || ! jq -e .services >/dev/null 2>&1 <<<"$json"; then
    fail "${FILES[*]} do not validate with --profile observability: ${json:0:500}"
    [[ $PW_FAILED == "$before" ]]
    return
  fi
  pass "${FILES[*]} validate with --profile observability"
  while IFS=$'\t' read -r verdict line; do
    if [[ $verdict == ok ]]; then pass "$line"; else fail "$line"; fi
  done < <(jq -r --arg root "$root" "$JQ_CHECKS" <<<"$json" 2>&1 || echo $'FAIL\tjq could not run the compose checks')

  # Prometheus scrapes the API itself, not the edge (which refuses /metrics).
  if grep -Eq '^[[:space:]]*-[[:space:]]*targets:[[:space:]]*\["backend:8080"\]' "$root/deploy/prometheus/prometheus.yml" \
     && ! grep -q 'edge:' "$root/deploy/prometheus/prometheus.yml"; then
    pass "Prometheus scrapes backend:8080 directly, not through the edge"
  else
    fail "deploy/prometheus/prometheus.yml must scrape backend:8080 directly (and not the edge)"
  fi

  # Bind-mounted and built files must exist, or the containers start with
  # empty dirs or the build fails.
  for path in deploy/Dockerfile deploy/edge.Dockerfile deploy/haproxy/haproxy.cfg deploy/haproxy/errors \
              deploy/haproxy/healthcheck.sh \
              deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml \
              deploy/grafana/provisioning/datasources deploy/grafana/provisioning/dashboards \
              deploy/grafana/dashboards; do
    if [[ -e $root/$path ]]; then pass "$path exists"; else fail "$path is missing"; fi
  done
  [[ $PW_FAILED == "$before" ]]
}

# mutate "what" SED_SCRIPT [FILE]: run_checks must fail on a copy of the
# tree with FILE (default compose.yaml) so changed.
mutate() {
  local what=$1 script=$2 file=${3:-compose.yaml} d
  scratch_copy compose.yaml compose.override.yaml deploy
  d=$SCRATCH
  sed -i -e "$script" "$d/$file"
  if cmp -s "$ROOT/$file" "$d/$file"; then
    fail "self-test: the mutation for \"$what\" changed nothing (fix the self-test)"
    return
  fi
  expect_failure "$what" "$d"
}

self_test() {
  mutate "a file that is not valid compose" 's/^services:/servics:/'
  mutate "Grafana on another port" 's/"3001:3000"/"3002:3000"/'
  mutate "the API port changed" 's/PW_BACKEND_PORT:-8080}:8080/PW_BACKEND_PORT:-8081}:8080/'
  mutate "the API published directly again" '/^  backend:/,/^  worker:/{s/^    command: \["api"\]/    command: ["api"]\n    ports: ["8081:8080"]/}'
  mutate "the edge left out" '/^  edge:/,/^  # Fully qualified/{/^  # Fully qualified/!d}'
  mutate "a stopping API leaving before the edge notices" 's/SHUTDOWN_DELAY_MS: "3000"/SHUTDOWN_DELAY_MS: "1000"/'
  mutate "the edge sent to another service" 's/EDGE_API_SERVER: backend:8080/EDGE_API_SERVER: worker:9091/'
  mutate "the edge's admin port published" 's/      - "${PW_BACKEND_PORT:-8080}:8080"/      - "${PW_BACKEND_PORT:-8080}:8080"\n      - "8404:8404"/'
  mutate "Prometheus scraping through the edge" 's/targets: \["backend:8080"\]/targets: ["edge:8080"]/' \
    deploy/prometheus/prometheus.yml
  mutate "Prometheus taken out of the profile" '/^  prometheus:/,/^  grafana:/{/profiles:/d}'
  mutate "another Grafana password" 's/GF_SECURITY_ADMIN_PASSWORD: admin/GF_SECURITY_ADMIN_PASSWORD: secret/'
  mutate "a renamed volume" 's/pwdata/pw_data/g'
  mutate "backend not waiting for migrate" '0,/condition: service_completed_successfully/s//condition: service_started/'
  mutate "a missing alerts.yml mount" '/alerts.yml:\/etc\/prometheus\/alerts.yml/d'
  mutate "a renamed service" 's/^  grafana:/  dashboards:/'
  mutate "the worker's host port moved" 's/PW_WORKER_PORT:-9091}:9091/PW_WORKER_PORT:-9092}:9091/' compose.override.yaml
}

parse_args "$@"
require_tools jq sed awk cmp
echo "# ${FILES[*]} in $ROOT (${COMPOSE[*]})"
run_checks "$ROOT"
if [[ $SELF_TEST == 1 ]]; then
  echo "# self-test: each mutation below must be caught"
  self_test
fi
finish
