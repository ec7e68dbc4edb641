#!/usr/bin/env bash
# The images, built and run for real (issue 6, `make image-test`): installs
# what it needs when missing (podman, buildah, podman-compose, runc, uidmap,
# slirp4netns, debootstrap, curl, jq), makes a local debian:bookworm-slim base
# with debootstrap from this machine's apt mirror (no registry is needed),
# builds deploy/Dockerfile and deploy/edge.Dockerfile, and checks that
#   - the image runs `personaworlds --version` as a non-root user, and so
#     does the edge image;
#   - its runtime layer holds no compiler (no gcc/g++/cc/c++/clang in PATH,
#     no compiler package installed);
#   - compose.yaml brings up migrate, backend, worker and edge with
#     podman-compose: migrate exits 0, /readyz is 200 through the edge's
#     published port, the health check command works inside the containers,
#     the logs are JSON lines;
#   - the API is reached only through the edge: backend publishes no port, a
#     request through the edge reaches the API and gets the API's
#     X-Request-ID, a 2 MiB body is refused by the edge (413) without
#     reaching the API, and /metrics is not served through it;
#   - a signed-up user's simulation job succeeds through the edge (sign up,
#     create a world, generate personas, run a simulation, poll
#     GET /v1/jobs/{id});
#   - the worker's /metrics on its published port answers and counts the jobs;
# then removes the containers, the volume and the <project>_default network.
# Then the same on PostgreSQL (compose.yaml + compose.postgres.yaml, issue
# 13): builds deploy/postgres.Dockerfile and deploy/postgres-exporter.Dockerfile,
# runs 2 backend and 2 worker replicas, and checks that
#   - postgres becomes healthy (pg_isready), migrate exits 0, /readyz is 200
#     through the edge, no backend or worker replica publishes a port;
#   - `backend` resolves to both API replicas on the compose network (what
#     the edge and Prometheus's DNS discovery rely on), and requests through
#     the edge reach both;
#   - both workers are ready, a signed-up user's simulation job succeeds
#     through the edge, the database holds it;
#   - the exporter reads the server (connections, transactions, the `jobs`
#     table's dead tuples);
# then removes its containers, both volumes and its network.
# Never skips: anything that stops it from doing its job is a failure.
#
# Usage: image_test.sh [REPO_ROOT]
# Environment: PW_PODMAN_DIR (default /var/tmp/pw-podman) keeps podman's
#   storage, the base image and the build cache between runs;
#   PW_BACKEND_PORT / PW_WORKER_PORT choose the host ports of the API (on the
#   edge) and the worker (default 8080 and 9091 when free, else free ones).
# Takes about 5 to 8 minutes on a fresh 2-core machine, most of it the build;
# the PostgreSQL part adds 2 to 3 minutes once the base image is cached.

# jq programs and PromQL are single-quoted on purpose; functions are called
# through check/wait_for.
# shellcheck disable=SC2016,SC2317,SC2013
set -uo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
state=${PW_PODMAN_DIR:-/var/tmp/pw-podman}
project=pwimagetest
image=localhost/personaworlds:latest
edge_image=localhost/personaworlds-edge:latest
pg_project=pwimagetestpg
pg_image=localhost/personaworlds-postgres:latest
exporter_image=localhost/personaworlds-postgres-exporter:latest
base=docker.io/library/debian:bookworm-slim
started=$SECONDS

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
  echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
  [[ $failed == 0 && $passed -gt 0 ]]
  exit $?
}
die() { fail "$*"; finish; }
step() { echo "# $* ($((SECONDS - started)) s)"; }

# ---------------------------------------------------------------- tools

packages=(podman buildah podman-compose runc uidmap slirp4netns debootstrap catatonit netavark aardvark-dns iptables curl jq)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "installing ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  # With recommends: podman's default runtime pieces (catatonit for
  # `init: true`, fuse-overlayfs) come that way.
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
         && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"${TMPDIR:-/tmp}/pw-image-apt.log" 2>&1; then
    tail -n 20 "${TMPDIR:-/tmp}/pw-image-apt.log"
    die "could not install ${missing[*]}"
  fi
fi
for tool in podman podman-compose debootstrap curl jq; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not available after installation"
done

# Private podman configuration: no systemd and no cgroup delegation here;
# storage under $state so that nothing else on the machine is touched.
mkdir -p "$state" || die "cannot create $state"
cat >"$state/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat >"$state/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$state/run"
graphroot = "$state/storage"
CONF
export CONTAINERS_CONF=$state/containers.conf CONTAINERS_STORAGE_CONF=$state/storage.conf
if ! podman info >"$state/info.log" 2>&1; then
  # Overlay on top of an overlay (some CI sandboxes) does not mount: use vfs.
  sed -i 's/^driver = "overlay"/driver = "vfs"/' "$state/storage.conf"
  podman info >"$state/info.log" 2>&1 || { cat "$state/info.log"; die "podman does not work here"; }
fi
pass "podman works ($(podman version --format '{{.Client.Version}}'), storage $(podman info --format '{{.Store.GraphDriverName}}'))"

# ---------------------------------------------------------------- host ports

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { # DEFAULT: the default if free, else a free one
  local port=$1
  port_free "$port" && { echo "$port"; return; }
  for _ in $(seq 1 100); do port=$((20000 + RANDOM % 40000)); port_free "$port" && { echo "$port"; return; }; done
  return 1
}
PW_BACKEND_PORT=${PW_BACKEND_PORT:-$(pick_port 8080)} || die "no free port for the backend"
PW_WORKER_PORT=${PW_WORKER_PORT:-$(pick_port 9091)} || die "no free port for the worker"
export PW_BACKEND_PORT PW_WORKER_PORT
api=http://127.0.0.1:$PW_BACKEND_PORT
worker=http://127.0.0.1:$PW_WORKER_PORT

# What a plain `docker compose up` reads: compose.yaml and compose.override.yaml.
compose() { (cd "$root" && podman-compose -p "$project" -f compose.yaml -f compose.override.yaml "$@"); }
# podman-compose 1.0.3 ignores --scale: replicas come from a third file. And
# it pops "CMD" off a list health check while it turns a container into
# `podman run` arguments, a list the replicas of a service share, so the
# second replica fails ("unknown healthcheck test type"): it runs with each
# container's description copied first. Its own interpreter (#! line) has
# its module.
cat >"$state/scale.yaml" <<'YAML'
services:
  backend:
    deploy: {replicas: 2}
  worker:
    deploy: {replicas: 2}
YAML
cat >"$state/podman-compose-replicas.py" <<'PY'
import copy
import sys

import podman_compose

to_args = podman_compose.container_to_args
podman_compose.container_to_args = lambda compose, cnt, *args, **kwargs: to_args(compose, copy.deepcopy(cnt), *args, **kwargs)
sys.argv[0] = "podman-compose"
podman_compose.main()
PY
pc_python=$(head -n1 "$(command -v podman-compose)" | sed -n 's/^#![[:space:]]*//p' | awk '{ print ($1 ~ /\/env$/ ? $2 : $1) }')
pg_compose() {
  (cd "$root" && "${pc_python:-python3}" "$state/podman-compose-replicas.py" -p "$pg_project" \
     -f compose.yaml -f compose.postgres.yaml -f "$state/scale.yaml" "$@")
}
remove_project() { # PROJECT VOLUME...: what `down` leaves behind
  local name=$1 ids volume
  shift
  # podman-compose 1.0.3 leaves the network, and `down` misses containers of
  # a run that was interrupted half-way: clean up by project label too.
  ids=$(podman ps -aq --filter "label=io.podman.compose.project=$name" 2>/dev/null)
  [[ -n $ids ]] && xargs podman rm -f <<<"$ids" >/dev/null 2>&1
  for volume in "$@"; do podman volume rm -f "${name}_$volume" >/dev/null 2>&1; done
  podman network rm -f "${name}_default" >/dev/null 2>&1
}
teardown() {
  compose down -v >"$state/down.log" 2>&1
  remove_project "$project" pwdata
}
pg_teardown() {
  pg_compose down -v >"$state/pg-down.log" 2>&1
  remove_project "$pg_project" pwdata pgdata
}
trap 'teardown; pg_teardown' EXIT
trap 'exit 130' INT TERM
teardown; pg_teardown   # a previous run that was killed

# ---------------------------------------------------------------- base image

if ! podman image exists "$base"; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  step "making $base with debootstrap from $mirror"
  rootfs=$state/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 \
    || { tail -n 20 "$state/debootstrap.log"; die "debootstrap failed"; }
  # The builds run apt-get inside: give them this machine's sources.
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    rm -f "$rootfs/etc/apt/sources.list"
  else
    cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm-slim >"$state/import.log" 2>&1 \
    || { cat "$state/import.log"; die "podman import of the base failed"; }
  podman tag localhost/debian:bookworm-slim "$base" || die "podman tag $base failed"
  rm -rf "$rootfs"
fi
pass "base image $base is available locally"

# ---------------------------------------------------------------- the image

step "building deploy/Dockerfile (log: $state/build.log)"
if podman build --pull=never --jobs 1 -f "$root/deploy/Dockerfile" -t "$image" "$root" >"$state/build.log" 2>&1; then
  pass "the image builds from deploy/Dockerfile"
else
  tail -n 30 "$state/build.log"
  die "the image does not build from deploy/Dockerfile"
fi

step "building deploy/edge.Dockerfile (log: $state/edge-build.log)"
if podman build --pull=never --jobs 1 -f "$root/deploy/edge.Dockerfile" -t "$edge_image" "$root" >"$state/edge-build.log" 2>&1; then
  pass "the edge image builds from deploy/edge.Dockerfile"
else
  tail -n 30 "$state/edge-build.log"
  die "the edge image does not build from deploy/edge.Dockerfile"
fi
edge_uid=$(podman run --rm --entrypoint id "$edge_image" -u 2>&1)
if [[ $edge_uid =~ ^[0-9]+$ && $edge_uid != 0 ]]; then
  pass "the edge image runs as a non-root user (id -u $edge_uid)"
else
  fail "the edge image runs as root: id -u '$edge_uid'"
fi

version=$(podman run --rm "$image" --version 2>&1)
if [[ $? == 0 && $version == "personaworlds "* ]]; then pass "podman run $image --version: $version"; else fail "--version: $version"; fi
user=$(podman image inspect -f '{{.Config.User}}' "$image")
uid=$(podman run --rm --entrypoint id "$image" -u 2>&1)
if [[ $uid =~ ^[0-9]+$ && $uid != 0 && -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]]; then
  pass "runs as a non-root user (USER $user, id -u $uid)"
else
  fail "the image runs as root or has no USER: USER='$user', id -u '$uid'"
fi
inside=$(podman run --rm --entrypoint sh "$image" -c 'stat -c %u /data; echo "$DATABASE_PATH"' 2>&1)
if [[ $inside == "$uid"$'\n'/data/* ]]; then pass "/data is owned by that user; DATABASE_PATH is under /data"; else fail "/data or DATABASE_PATH: $inside"; fi

# No compiler: neither on PATH nor installed as a package.
compilers=$(podman run --rm --entrypoint sh "$image" -c '
  for c in gcc g++ cc c++ cpp clang clang++ ld as make cmake; do command -v "$c"; done
  ls /usr/bin/*-linux-gnu-gcc* /usr/bin/*-linux-gnu-g++* 2>/dev/null
  dpkg-query -W -f="\${Package} \${Status}\n" 2>/dev/null | awk "/install ok installed/ { print \$1 }" \
    | grep -E "^(gcc|g\+\+|cpp|clang|binutils|build-essential|make|cmake)(-[0-9.]+)?(-[a-z0-9_-]+-linux-gnu)?$"
  true' 2>&1)
if [[ -z $compilers ]]; then
  pass "the runtime image holds no compiler, linker or build tool"
else
  fail "the runtime image holds build tools: $(tr '\n' ' ' <<<"$compilers")"
fi

# ---------------------------------------------------------------- compose

step "podman-compose up -d migrate backend worker edge (ports $PW_BACKEND_PORT, $PW_WORKER_PORT; log: $state/up.log)"
# podman-compose 1.0.3 does not know profiles: name the services to run.
compose up -d --no-build migrate backend worker edge >"$state/up.log" 2>&1

wait_for() { # TIMEOUT_S COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}
migrate_done() { [[ $(podman inspect -f '{{.State.Status}}' "${project}_migrate_1" 2>/dev/null) == exited ]]; }
if wait_for 120 migrate_done && [[ $(podman inspect -f '{{.State.ExitCode}}' "${project}_migrate_1") == 0 ]]; then
  pass "migrate ran once and exited 0"
else
  fail "migrate did not exit 0: $(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}} {{.Status}}' | tr '\n' ';') $(podman logs "${project}_migrate_1" 2>&1 | tail -n 5)"
fi
is_200() { [[ $(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$1") == 200 ]]; }
if wait_for 180 is_200 "$api/readyz"; then
  pass "backend: GET $api/readyz is 200 through the edge's published port"
else
  tail -n 20 "$state/up.log"
  fail "backend /readyz is not 200 on $api: $(curl -s --max-time 5 "$api/readyz") $(podman logs --tail 5 "${project}_backend_1" 2>&1) $(podman logs --tail 5 "${project}_edge_1" 2>&1)"
fi
if wait_for 120 is_200 "$worker/metrics"; then
  pass "worker: GET $worker/metrics answers 200 through the published port"
else
  fail "worker /metrics does not answer on $worker: $(podman logs --tail 5 "${project}_worker_1" 2>&1)"
fi
# The edge's health check from compose.yaml (bash asking its monitor URI).
edge_healthy() { podman healthcheck run "${project}_edge_1" >"$state/edge-health.log" 2>&1; }
if wait_for 30 edge_healthy; then
  pass "the edge's health check passes (podman healthcheck run)"
else
  fail "the edge's health check fails: $(cat "$state/edge-health.log") $(podman inspect -f '{{.Config.Healthcheck}}' "${project}_edge_1" 2>&1)"
fi

# Only the edge publishes the API.
if [[ -z $(podman port "${project}_backend_1" 2>/dev/null) ]]; then
  pass "backend publishes no port: the API is reached through the edge only"
else
  fail "backend publishes $(podman port "${project}_backend_1" | tr '\n' ' ')"
fi
through=$(curl -s --max-time 10 -o /dev/null -D - -H 'X-Request-ID: image-test-edge' "$api/healthz" | tr -d '\r')
# Whether any line of a container's log matches: jq 1.6's -e judges only the
# result for the last line read, so the lines are gathered first ([inputs]);
# each is parsed on its own (fromjson?), so a line podman hands over
# half-written cannot end the search early.
log_has() { # CONTAINER JQ-FILTER [jq args...]
  local container=$1 filter=$2
  shift 2
  podman logs "$container" 2>/dev/null |
    jq -R -n -e "$@" "[inputs | fromjson? | select($filter)] | length > 0" >/dev/null 2>&1
}
api_saw() { log_has "${project}_backend_1" '.msg == "http_request" and .request_id == $id' --arg id "$1"; }
edge_logged() { # ID STATUS
  log_has "${project}_edge_1" '.msg == "edge_request" and .request_id == $id and .status == $status' \
    --arg id "$1" --argjson status "$2"
}
if grep -qi '^x-request-id: image-test-edge$' <<<"$through" && wait_for 10 api_saw image-test-edge && wait_for 10 edge_logged image-test-edge 200; then
  pass "a request through the edge reaches the API and gets the API's X-Request-ID; both log it"
else
  fail "request through the edge: headers [$(tr '\n' ' ' <<<"$through")], api saw it: $(api_saw image-test-edge && echo yes || echo no)"
fi
too_large=$(head -c 2097152 /dev/zero | tr '\0' ' ' | curl -s --max-time 30 -o "$state/body" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/json' -H 'X-Request-ID: image-test-too-large' --data-binary @- "$api/v1/users")
if [[ $too_large == 413 ]] && jq -e '.error.code == "payload_too_large"' "$state/body" >/dev/null 2>&1 \
   && wait_for 10 edge_logged image-test-too-large 413 && ! api_saw image-test-too-large; then
  pass "a 2 MiB body is refused by the edge (413, JSON) and never reaches the API"
else
  fail "2 MiB body through the edge: status $too_large, body $(head -c 300 "$state/body" 2>/dev/null)"
fi
metrics_status=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$api/metrics")
if [[ $metrics_status == 404 ]]; then
  pass "the API's /metrics is not served through the edge (404)"
else
  fail "GET $api/metrics through the edge: $metrics_status"
fi

for probe in "backend_1 http://127.0.0.1:8080/readyz" "worker_1 http://127.0.0.1:9091/readyz"; do
  if podman exec "${project}_${probe%% *}" personaworlds probe "${probe#* }" >/dev/null 2>&1; then
    pass "the health check command works in ${probe%% *}: personaworlds probe ${probe#* }"
  else
    fail "personaworlds probe ${probe#* } in ${probe%% *}"
  fi
done

# A user's way through the API ($api): sign up, world, personas, simulation.
http() { # EXPECTED METHOD PATH [curl args...] -> BODY
  local expected=$1 method=$2 path=$3 status
  shift 3
  status=$(curl -s --max-time 30 -o "$state/body" -w '%{http_code}' -X "$method" "$@" "$api$path")
  BODY=$(cat "$state/body" 2>/dev/null)
  [[ $status == "$expected" ]] || { fail "$method $path: expected $expected, got $status: $BODY"; return 1; }
}
json=(-H 'Content-Type: application/json')
job_done() { # JOB_ID: succeeded or dead (state in JOB)
  JOB=$(curl -s --max-time 10 -H "Authorization: Bearer $token" "$api/v1/jobs/$1")
  [[ $(jq -r '.state // empty' <<<"$JOB") =~ ^(succeeded|dead|canceled)$ ]]
}
# user_simulation HANDLE WHERE: passes when the user's simulation job succeeds.
user_simulation() {
  token=""
  if http 201 POST /v1/users "${json[@]}" --data-binary "{\"handle\":\"$1\"}"; then
    token=$(jq -r .token <<<"$BODY")
    auth=(-H "Authorization: Bearer $token")
    if http 201 POST /v1/worlds "${auth[@]}" "${json[@]}" --data-binary '{"name":"Container world","seed":7}'; then
      world=$(jq -r .id <<<"$BODY")
      if http 202 POST "/v1/worlds/$world/personas:generate" "${auth[@]}" "${json[@]}" --data-binary '{"count":5}'; then
        generate=$(jq -r .job.id <<<"$BODY")
        wait_for 120 job_done "$generate"
        [[ $(jq -r .state <<<"$JOB") == succeeded ]] || fail "persona.generate job $generate: $JOB"
      fi
      if http 202 POST "/v1/worlds/$world/simulations" "${auth[@]}" "${json[@]}" -H 'X-Request-ID: image-test-simulation' \
           --data-binary '{"ticks":20}'; then
        simulate=$(jq -r .job.id <<<"$BODY")
        if wait_for 120 job_done "$simulate" && jq -e '.state == "succeeded" and .trace_id == "image-test-simulation"' <<<"$JOB" >/dev/null; then
          pass "$2: a signed-up user's simulation job $simulate succeeded ($(jq -c '.result | {events, counts}' <<<"$JOB"))"
        else
          fail "$2: simulation job $simulate did not succeed: $JOB"
        fi
      fi
    fi
  fi
}
user_simulation image_test SQLite

metrics=$(curl -s --max-time 10 "$worker/metrics")
if grep -Eq '^jobs_processed_total\{.*type="world.simulate".*\} [1-9]' <<<"$(grep 'status="succeeded"' <<<"$metrics")"; then
  pass "worker /metrics counts the succeeded world.simulate job"
else
  fail "worker /metrics has no succeeded world.simulate job: $(grep '^jobs_processed_total' <<<"$metrics" | head -n 8 | tr '\n' ' ')"
fi

# Logs: one JSON object per line; the seed's jq filter works on them.
for service in backend worker; do
  logs=$(podman logs "${project}_${service}_1" 2>/dev/null)
  if [[ -n $logs ]] && jq -e -s 'length > 0 and all(type == "object" and .ts and .level and .msg and .service)' <<<"$logs" >/dev/null 2>&1 \
     && jq 'select(.level=="error")' <<<"$logs" >/dev/null 2>&1; then
    pass "$service logs are JSON lines ($(grep -c . <<<"$logs") lines); jq 'select(.level==\"error\")' works on them"
  else
    fail "$service logs are not JSON lines: $(head -n 3 <<<"$logs")"
  fi
done

# The edge: its request lines (stdout) are JSON too; HAProxy's own notices
# (stderr, mixed in by `podman logs`) are plain text.
edge_logs=$(podman logs "${project}_edge_1" 2>/dev/null | grep '^{')
if [[ -n $edge_logs ]] && jq -e -s 'length > 0 and all(type == "object" and .ts and .level and .msg == "edge_request" and .service == "edge")' \
     <<<"$edge_logs" >/dev/null 2>&1; then
  pass "edge request lines are JSON ($(grep -c . <<<"$edge_logs") lines)"
else
  fail "edge request lines are not JSON: $(head -n 3 <<<"$edge_logs")"
fi

# ---------------------------------------------------------------- teardown

step "tearing down"
teardown
left=$(podman ps -aq --filter "label=io.podman.compose.project=$project")
if [[ -z $left ]] && ! podman network exists "${project}_default" 2>/dev/null && ! podman volume exists "${project}_pwdata" 2>/dev/null; then
  pass "containers, volume ${project}_pwdata and network ${project}_default removed"
else
  fail "left behind: containers [$left], network or volume of $project"
fi

# ---------------------------------------------------------------- PostgreSQL

for build in "postgres.Dockerfile $pg_image" "postgres-exporter.Dockerfile $exporter_image"; do
  file=${build%% *} tag=${build#* }
  step "building deploy/$file (log: $state/${file%.Dockerfile}-build.log)"
  if podman build --pull=never --jobs 1 -f "$root/deploy/$file" -t "$tag" "$root" >"$state/${file%.Dockerfile}-build.log" 2>&1; then
    pass "the image builds from deploy/$file"
  else
    tail -n 30 "$state/${file%.Dockerfile}-build.log"
    die "the image does not build from deploy/$file"
  fi
done

# podman-compose 1.0.3 does not wait for `condition: service_healthy`:
# start the server first and wait for its health check.
step "podman-compose -f compose.yaml -f compose.postgres.yaml up -d postgres (log: $state/pg-up.log)"
pg_compose up -d --no-build postgres >"$state/pg-up.log" 2>&1
pg_healthy() { podman healthcheck run "${pg_project}_postgres_1" >"$state/pg-health.log" 2>&1; }
if wait_for 90 pg_healthy; then
  pass "postgres: its health check (pg_isready) passes"
else
  die "postgres is not healthy: $(cat "$state/pg-health.log") $(podman logs --tail 10 "${pg_project}_postgres_1" 2>&1)"
fi
step "podman-compose up -d migrate backend worker edge postgres-exporter, 2 backend and 2 worker replicas"
pg_compose up -d --no-build migrate backend worker edge postgres-exporter >>"$state/pg-up.log" 2>&1

migrate_done() { [[ $(podman inspect -f '{{.State.Status}}' "${pg_project}_migrate_1" 2>/dev/null) == exited ]]; }
if wait_for 120 migrate_done && [[ $(podman inspect -f '{{.State.ExitCode}}' "${pg_project}_migrate_1") == 0 ]]; then
  pass "PostgreSQL: migrate ran once and exited 0"
else
  fail "PostgreSQL: migrate did not exit 0: $(podman logs "${pg_project}_migrate_1" 2>&1 | tail -n 5)"
fi
if wait_for 180 is_200 "$api/readyz"; then
  pass "PostgreSQL: GET $api/readyz is 200 through the edge"
else
  tail -n 20 "$state/pg-up.log"
  fail "PostgreSQL: /readyz is not 200 on $api: $(curl -s --max-time 5 "$api/readyz") $(podman logs --tail 5 "${pg_project}_backend_1" 2>&1)"
fi

replicas=$(podman ps --filter "label=io.podman.compose.project=$pg_project" --format '{{.Names}}' | grep -E '_(backend|worker)_[0-9]+$' | sort)
if [[ $(grep -c _backend_ <<<"$replicas") == 2 && $(grep -c _worker_ <<<"$replicas") == 2 ]]; then
  pass "PostgreSQL: 2 backend and 2 worker replicas run ($(tr '\n' ' ' <<<"$replicas"))"
else
  fail "PostgreSQL: expected 2 backend and 2 worker replicas, found: $(tr '\n' ' ' <<<"$replicas")"
fi
published=""
for name in $replicas; do
  [[ -z $(podman port "$name" 2>/dev/null) ]] || published+="$name "
done
if [[ -n $replicas && -z $published ]]; then
  pass "PostgreSQL: no backend or worker replica publishes a port"
else
  fail "PostgreSQL: replicas publishing ports: $published"
fi

# The edge's server-template and Prometheus's dns_sd_configs both read the
# A records of `backend` and `worker`.
addresses() { # SERVICE: its addresses as the compose network's DNS answers
  podman exec "${pg_project}_postgres_1" getent ahostsv4 "$1" 2>/dev/null | awk '{ print $1 }' | sort -u
}
for service in backend worker; do
  found=$(addresses "$service")
  want=$(for name in $(grep "_${service}_" <<<"$replicas"); do
           podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name"; done | sort -u)
  if [[ -n $want && $found == "$want" ]]; then
    pass "PostgreSQL: \`$service\` resolves to every replica ($(tr '\n' ' ' <<<"$found"))"
  else
    fail "PostgreSQL: \`$service\` resolves to [$(tr '\n' ' ' <<<"$found")], the replicas have [$(tr '\n' ' ' <<<"$want")]"
  fi
done

# Both API replicas serve requests through the edge: each logs some of a
# batch of tagged requests. The edge checks a new replica twice before it
# sends it traffic: retry for a while.
served_by() { # PREFIX: the backend containers that logged a request with that id prefix
  local name
  for name in $(grep _backend_ <<<"$replicas"); do
    log_has "$name" '.msg == "http_request" and (.request_id // "" | startswith($p))' --arg p "$1" && echo "$name"
  done
}
spread() {
  round=$((${round:-0} + 1))
  for i in $(seq 1 12); do
    curl -s -o /dev/null --max-time 5 -H "X-Request-ID: image-test-spread-$round-$i" "$api/healthz"
  done
  sleep 1
  [[ $(served_by "image-test-spread-$round-" | wc -l) == 2 ]]
}
if wait_for 30 spread; then
  pass "PostgreSQL: requests through the edge reach both API replicas ($(served_by "image-test-spread-$round-" | tr '\n' ' '))"
else
  fail "PostgreSQL: requests through the edge reached only [$(served_by "image-test-spread-$round-" | tr '\n' ' ')]"
fi

for name in $(grep _worker_ <<<"$replicas"); do
  if wait_for 60 podman exec "$name" personaworlds probe http://127.0.0.1:9091/readyz >/dev/null 2>&1; then
    pass "PostgreSQL: $name is ready (personaworlds probe /readyz)"
  else
    fail "PostgreSQL: $name is not ready: $(podman logs --tail 5 "$name" 2>&1)"
  fi
done

user_simulation image_test_pg PostgreSQL
psql_in() { podman exec "${pg_project}_postgres_1" psql -h /var/run/postgresql -U personaworlds -d personaworlds -Atc "$1" 2>&1; }
stored=$(psql_in "SELECT state FROM jobs WHERE id = '${simulate:-none}'")
if [[ $stored == succeeded ]]; then
  pass "PostgreSQL: the jobs table holds simulation job ${simulate:-} as succeeded"
else
  fail "PostgreSQL: jobs row of ${simulate:-(none)}: $stored"
fi
# Server connections by client container: the numbers behind the README's
# connection budget.
by_client=$(psql_in "SELECT client_addr, count(*) FROM pg_stat_activity WHERE datname = 'personaworlds' AND client_addr IS NOT NULL GROUP BY 1 ORDER BY 1")
echo "# connections to personaworlds by client: $(tr '\n' ' ' <<<"$by_client")"
for name in $replicas "${pg_project}_postgres-exporter_1"; do
  echo "#   $(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name" 2>/dev/null) $name"
done

exporter=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "${pg_project}_postgres-exporter_1" 2>/dev/null)
exported() {
  EXPORTED=$(curl -s --max-time 10 "http://$exporter:9187/metrics")
  grep -Eq '^pg_up(\{[^}]*\})? 1$' <<<"$EXPORTED" \
    && grep -Eq '^pg_stat_user_tables_n_dead_tup\{[^}]*relname="jobs"' <<<"$EXPORTED" \
    && grep -Eq '^pg_stat_activity_count\{[^}]*datname="personaworlds"' <<<"$EXPORTED" \
    && grep -Eq '^pg_stat_database_xact_commit\{[^}]*datname="personaworlds"[^}]*\} [1-9]' <<<"$EXPORTED"
}
if [[ -n $exporter ]] && wait_for 60 exported; then
  pass "PostgreSQL: the exporter reads the server (pg_up 1, connections, commits, dead tuples of jobs)"
else
  fail "PostgreSQL: the exporter at ${exporter:-?}:9187: $(grep -E '^pg_(up|stat_user_tables_n_dead_tup)' <<<"${EXPORTED:-}" | head -n 3) $(podman logs --tail 5 "${pg_project}_postgres-exporter_1" 2>&1)"
fi

step "tearing down the PostgreSQL stack"
pg_teardown
trap - EXIT
left=$(podman ps -aq --filter "label=io.podman.compose.project=$pg_project")
if [[ -z $left ]] && ! podman network exists "${pg_project}_default" 2>/dev/null \
   && ! podman volume exists "${pg_project}_pgdata" 2>/dev/null && ! podman volume exists "${pg_project}_pwdata" 2>/dev/null; then
  pass "containers, volumes ${pg_project}_pgdata and ${pg_project}_pwdata and network ${pg_project}_default removed"
else
  fail "left behind: containers [$left], network or volumes of $pg_project"
fi
finish
