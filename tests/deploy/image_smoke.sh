#!/usr/bin/env bash
# Builds the image from deploy/Dockerfile and runs compose.yaml for real with
# podman (no Docker engine needed), then checks what an operator relies on:
# the image runs as uid 10001 with /data owned by it, `migrate` completes,
# backend and worker answer /healthz and /readyz on 8080 and 9091 (also
# through `personaworlds probe`), a local Prometheus loads
# deploy/prometheus/alerts.yml and scrapes both, and every dashboard and alert
# query runs with data (dashboard_queries.sh --require-data).
#
# Usage: image_smoke.sh [REPO_ROOT]
# Needs: podman, podman-compose, runc, debootstrap (to make a local
#   debian:bookworm-slim when there is no registry), prometheus, promtool, curl, jq:
#   apt-get install -y podman buildah podman-compose runc uidmap slirp4netns debootstrap prometheus curl jq
# Exits 77 (ctest: skipped) when a tool is missing. Takes a few minutes on a
# first run; the base image and build cache are kept in $PW_PODMAN_DIR
# (default /tmp/pw-podman). Uses host ports 8080 and 9091: they must be free.

set -uo pipefail

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
root=$(cd "$root" && pwd)
state=${PW_PODMAN_DIR:-/tmp/pw-podman}
project=pwsmoke
image=localhost/personaworlds:latest

for tool in podman podman-compose debootstrap prometheus promtool curl jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "skipped: $tool is not installed (see the header of $0)"
    exit 77
  fi
done
for port in 8080 9091; do
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
    echo "FAIL - host port $port is in use"
    exit 1
  fi
done

# Private podman configuration: no systemd, no cgroup delegation here.
mkdir -p "$state"
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

failed=0 passed=0 prom_pid="" tsdb=""
pass() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
cleanup() {
  [[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  [[ -n $tsdb ]] && rm -rf "$tsdb"
  (cd "$root" && podman-compose -p "$project" -f compose.yaml down -v) >"$state/down.log" 2>&1
  podman network rm "${project}_default" >/dev/null 2>&1
}
trap cleanup EXIT

# 1. A debian:bookworm-slim base without a registry: debootstrap from the
#    apt mirror this machine is configured with.
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [[ -n $mirror ]] || { echo "FAIL - no apt mirror found in /etc/apt/sources.list.d/debian.sources"; exit 1; }
  rootfs=$state/rootfs
  rm -rf "$rootfs"
  echo "# making debian:bookworm-slim with debootstrap (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 \
    || { echo "FAIL - debootstrap (see $state/debootstrap.log)"; exit 1; }
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  rm -f "$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm-slim >/dev/null 2>&1
  podman tag localhost/debian:bookworm-slim docker.io/library/debian:bookworm-slim
  rm -rf "$rootfs"
fi

# 2. The image.
echo "# building the image (log: $state/build.log)"
if podman build --pull=never -f "$root/deploy/Dockerfile" -t "$image" "$root" >"$state/build.log" 2>&1; then
  pass "image builds from deploy/Dockerfile"
else
  tail -30 "$state/build.log"
  fail "image builds from deploy/Dockerfile"
  echo "$passed passed, $failed failed"
  exit 1
fi
inside=$(podman run --rm --entrypoint sh "$image" -c 'id -u; stat -c %u /data; echo "$DATABASE_PATH"; pwd')
if [[ $inside == $'10001\n10001\n/data/personaworlds.db\n/data' ]]; then
  pass "runs as uid 10001 in /data (owned by it), DATABASE_PATH=/data/personaworlds.db"
else
  fail "user, /data or DATABASE_PATH: $inside"
fi
if podman run --rm "$image" >/dev/null 2>&1; then pass "the default command (--help) exits 0"; else fail "personaworlds --help"; fi

# 3. compose.yaml: migrate, then backend and worker (podman-compose 1.0.3
#    ignores profiles, so the services are named).
echo "# compose up (log: $state/up.log)"
(cd "$root" && podman-compose -p "$project" -f compose.yaml up -d migrate backend worker) >"$state/up.log" 2>&1
ready=0
for _ in $(seq 1 60); do
  if curl -sf -o /dev/null http://127.0.0.1:8080/readyz && curl -sf -o /dev/null http://127.0.0.1:9091/readyz; then
    ready=1; break
  fi
  sleep 1
done
if [[ $(podman inspect -f '{{.State.ExitCode}} {{.State.Status}}' "${project}_migrate_1" 2>/dev/null) == "0 exited" ]]; then
  pass "migrate ran and exited 0"
else
  fail "migrate did not exit 0: $(podman logs "${project}_migrate_1" 2>&1 | tail -5)"
fi
if [[ $ready == 1 ]]; then
  pass "backend :8080/readyz and worker :9091/readyz answer 200"
else
  fail "backend or worker not ready within 60 s: $(podman logs --tail 5 "${project}_backend_1" 2>&1) $(podman logs --tail 5 "${project}_worker_1" 2>&1)"
fi
for probe in "backend_1 http://127.0.0.1:8080/readyz" "worker_1 http://127.0.0.1:9091/readyz"; do
  if podman exec "${project}_${probe%% *}" personaworlds probe "${probe#* }" >/dev/null 2>&1; then
    pass "health check command works in ${probe%% *}: personaworlds probe ${probe#* }"
  else
    fail "personaworlds probe ${probe#* } in ${probe%% *}"
  fi
done
if podman logs "${project}_backend_1" 2>&1 | head -5 | jq -e -R 'fromjson | .ts and .level and .msg and .service' >/dev/null 2>&1; then
  pass "backend logs JSON lines with ts, level, msg, service"
else
  fail "backend logs are not JSON lines: $(podman logs "${project}_backend_1" 2>&1 | head -2)"
fi

# 4. Prometheus from deploy/prometheus, pointed at the published ports.
tsdb=$(mktemp -d)
sed -e 's/scrape_interval: 15s/scrape_interval: 2s/' -e 's/evaluation_interval: 15s/evaluation_interval: 2s/' \
    -e 's/"backend:8080"/"127.0.0.1:8080"/' -e 's/"worker:9091"/"127.0.0.1:9091"/' \
    "$root/deploy/prometheus/prometheus.yml" >"$tsdb/prometheus.yml"
cp "$root/deploy/prometheus/alerts.yml" "$tsdb/alerts.yml"
prom_port=$((19000 + RANDOM % 900))
prometheus --config.file="$tsdb/prometheus.yml" --storage.tsdb.path="$tsdb/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$state/prometheus.log" 2>&1 &
prom_pid=$!
prom=http://127.0.0.1:$prom_port
for _ in $(seq 1 30); do
  up=$(curl -s "$prom/api/v1/query?query=sum(up)" | jq -r '.data.result[0].value[1] // 0' 2>/dev/null)
  [[ $up == 2 ]] && break
  sleep 1
done
# Some user traffic (unknown paths: route="unmatched"), so that the panels
# computed over user requests, such as the 5xx ratio, have data too.
for _ in $(seq 1 3); do
  for _ in $(seq 1 10); do curl -s -o /dev/null http://127.0.0.1:8080/v1/smoke-test-unknown; done
  sleep 2
done
sleep 4   # a few more scrapes, so that rate() has points
rules=$(curl -s "$prom/api/v1/rules" | jq -r '[.data.groups[].rules[] | select(.health == "ok")] | length')
declared=$(grep -c '^[[:space:]]*- alert:' "$root/deploy/prometheus/alerts.yml")
if [[ $rules == "$declared" && $declared -gt 0 ]]; then
  pass "Prometheus loads all $declared alert rules, all healthy"
else
  fail "Prometheus has $rules healthy rules of $declared"
fi
if [[ $up == 2 ]]; then pass "Prometheus scrapes backend and worker"; else fail "Prometheus sees $up targets up"; fi
if bash "$root/tests/deploy/dashboard_queries.sh" --require-data --root "$root" "$prom" >"$state/queries.log" 2>&1; then
  pass "every dashboard and alert query runs, every panel has data ($(tail -1 "$state/queries.log"))"
else
  grep -v '^OK' "$state/queries.log"
  fail "dashboard_queries.sh --require-data"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
