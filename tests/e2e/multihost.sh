#!/usr/bin/env bash
# Black-box: several hosts for real. Three network namespaces joined by a
# bridge this script creates (in a fourth namespace, the "switch", which is
# also where the test's client and psql run): host 0 runs a throwaway
# PostgreSQL server on its bridge address, hosts 1 and 2 each run
# `personaworlds api` and `personaworlds worker` against it over the bridge.
# Nothing is routed out of the namespaces, and no host reaches another
# through 127.0.0.1.
#
# After a user workload through both APIs (users, worlds, personas,
# generations, simulations) and jobs from the command line (slow `sleep`
# jobs that the hosts hold for a while, and many `noop` jobs whose runs the
# handler appends to a run log per host), one host is lost while it holds
# jobs (the one holding more of the slow jobs):
#
#   kill       every process of that host gets SIGKILL;
#   partition  its link is cut (its processes keep running), and restored
#              once the other host has taken its jobs over.
#
# Then, in both: every job succeeds (all were acknowledged: 2xx from an
# API, exit 0 from `jobs enqueue`); the jobs the lost host held are exactly
# those whose lease lapsed (job_lease_expired, previous_owner = it), each was
# claimed again once, within one lease after its lease ran out; a job ran
# more than once only after such a lapse, and no claim ran twice (run log);
# each persona generation created its personas once, each simulation wrote
# its events once; a `sleep` job's result comes from the claim the row
# holds. After a partition, the lost host's stale outcomes were refused: it logs
# job_lease_lost for exactly the claims it lost, and its worker's
# jobs_lease_lost_total (scraped inside its namespace) counts them.
#
# Usage: multihost.sh kill|partition [PERSONAWORLDS_BINARY]
# Exit 77 (skipped) when this machine cannot make network namespaces (not
# root, or no permission). Needs: ip (iproute2), PostgreSQL server binaries,
# psql, curl, jq, python3, setpriv, pkill. PW_KEEP_TMP=1 keeps the logs.
set -uo pipefail

scenario=${1:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${2:-$root/build/personaworlds}
[[ $scenario == kill || $scenario == partition ]] || { echo "usage: multihost.sh kill|partition [BINARY]"; exit 2; }
[[ -x $bin ]] || { echo "FAIL - no binary at $bin (build it first)"; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

skip() { echo "SKIP - $* (this test needs root and network namespaces; CI runs it as root)"; exit 77; }
[[ $(id -u) == 0 ]] || skip "not running as root"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
probe_ns="pwmh$$-probe"
if ! ip netns add "$probe_ns" 2>/dev/null; then skip "ip netns add failed: no permission to make network namespaces"; fi
ip netns del "$probe_ns"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
for tool in psql curl jq python3 setpriv pkill "$pgbin/initdb" "$pgbin/pg_ctl"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL - required tool not found: $tool"; exit 2; }
done

readonly lease_ms=3000 sleep_jobs=8 sleep_ms=3000 noop_jobs=1000
readonly subnet=10.77.0 db_port=5432 api_port=8080 metrics_port=9091
id="pwmh$$"
sw="$id-sw"
hosts=("$id-h0" "$id-h1" "$id-h2")
addr() { echo "$subnet.1$1"; }
url="postgresql://pw@$(addr 0):$db_port/postgres"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pw-multihost.XXXXXX")
chmod 755 "$tmp"
passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   - %s [%ss]\n' "$*" "$SECONDS"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s [%ss]\n' "$*" "$SECONDS"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
die() { fail "$*"; exit 1; }

cleanup() {
  # Nothing stops the cleanup half-way, not even the watchdog's last word.
  trap '' INT TERM
  trap - EXIT
  [[ -n ${watchdog:-} ]] && { pkill -P "$watchdog" 2>/dev/null; kill "$watchdog" 2>/dev/null; }
  # Only our namespaces' processes: everything in them was started here.
  local ns pids
  disown -a 2>/dev/null  # no job notices for what is killed below
  for ns in "${hosts[@]}" "$sw"; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  done
  for ns in "${hosts[@]}" "$sw"; do ip netns del "$ns" 2>/dev/null; done
  if ((failed > 0)); then
    for log in "$tmp"/*.log "$tmp"/pg/server.log; do
      [[ -f $log ]] || continue
      echo "--- last lines of $(basename "$log") ---"
      tail -n 15 "$log" | cut -c1-400
    done
  fi
  if [[ ${PW_KEEP_TMP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM
# The test stops by itself: whatever hangs, the namespaces go away.
( sleep 100; kill -TERM $$ 2>/dev/null ) </dev/null >/dev/null 2>&1 &
watchdog=$!

# wait_for SECONDS what condition-command...
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || { fail "timed out after ${seconds}s: $what"; return 1; }
    sleep 0.1
  done
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
sql() { PGCONNECT_TIMEOUT=5 in_ns "$sw" timeout 20 psql -X -qAt -v ON_ERROR_STOP=1 "$url" -c "$1"; }
# http METHOD HOST PATH [BODY] [TOKEN] [IDEMPOTENCY_KEY]: the status; the body goes to $tmp/body.
http() {
  local args=(-sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json')
  [[ -n ${4:-} ]] && args+=(--data "$4")
  [[ -n ${5:-} ]] && args+=(-H "Authorization: Bearer $5")
  [[ -n ${6:-} ]] && args+=(-H "Idempotency-Key: $6")
  in_ns "$sw" curl "${args[@]}" "http://$(addr "$2"):$api_port$3"
}
metric_sum() { # HOST NAME: the sum of a worker metric's series, scraped inside the host's namespace
  in_ns "${hosts[$1]}" curl -sS --max-time 5 "http://127.0.0.1:$metrics_port/metrics" |
    awk -v name="$2" '$1 == name || index($1, name "{") == 1 { s += $2 } END { print s + 0 }'
}

# ---- the network -------------------------------------------------------------
ip netns add "$sw" || die "cannot make namespace $sw"
ip -n "$sw" link set lo up
ip -n "$sw" link add br0 type bridge
ip -n "$sw" addr add "$subnet.1/24" dev br0
ip -n "$sw" link set br0 up
for h in 0 1 2; do
  ns=${hosts[$h]}
  ip netns add "$ns" || die "cannot make namespace $ns"
  ip -n "$ns" link set lo up
  ip -n "$sw" link add "port$h" type veth peer name eth0 netns "$ns" || die "cannot make the link of host $h"
  ip -n "$sw" link set "port$h" master br0 up
  ip -n "$ns" addr add "$(addr "$h")/24" dev eth0
  ip -n "$ns" link set eth0 up
done
pass "three hosts on a private bridge: ${hosts[*]}"

# ---- host 0: PostgreSQL, listening on its bridge address only ----------------
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
mkdir -p "$tmp/pg" && chown nobody:nogroup "$tmp/pg"
as_nobody "$pgbin/initdb" -D "$tmp/pg/data" -U pw --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$tmp/pg/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$tmp/pg/initdb.log")"
# No idle_in_transaction_session_timeout on the server: the roles set it on
# their own sessions (the worker to half its lease). Without that, a host cut
# off between two statements of a transaction would hold its row locks until
# TCP gives up (minutes), and the survivor could not take its jobs over
# (about half the partition runs time out waiting for the takeover).
cat >>"$tmp/pg/data/postgresql.conf" <<EOF
listen_addresses = '$(addr 0)'
port = $db_port
unix_socket_directories = '$tmp/pg'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 200
log_min_messages = warning
EOF
echo "host all all $subnet.0/24 trust" >>"$tmp/pg/data/pg_hba.conf"
in_ns "${hosts[0]}" setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
  "$pgbin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w -t 30 start >/dev/null ||
  die "PostgreSQL did not start: $(tail -n 5 "$tmp/pg/server.log")"
wait_for 20 "PostgreSQL answers on $(addr 0)" sql "SELECT 1" >/dev/null 2>&1 || exit 1
pass "host 0: PostgreSQL on $(addr 0):$db_port"

in_ns "${hosts[1]}" timeout 30 "$bin" migrate --database-url "$url" >"$tmp/migrate.log" 2>&1 ||
  die "migrate failed: $(tail -n 5 "$tmp/migrate.log")"
pass "migrate over the bridge"

# ---- hosts 1 and 2: an api and a worker each ---------------------------------
declare -A pid
start_role() { # HOST ROLE ARGS...
  local h=$1 role=$2; shift 2
  # Not through in_ns: a function in the background is a subshell, and $!
  # would be that shell, not the process (ip and env exec into it).
  ip netns exec "${hosts[$h]}" env PW_NOOP_RUN_LOG="$tmp/runs.h$h" "$bin" "$role" --database-url "$url" "$@" \
    >"$tmp/$role.h$h.log" 2>&1 &
  pid[$role.$h]=$!
}
# Each worker has room for every slow job at once: the survivor can take
# all the lost host's jobs over as soon as their leases lapse, whatever it
# holds itself.
for h in 1 2; do
  start_role "$h" api --host "$(addr "$h")" --port "$api_port" --database-pool-size 4 --shutdown-delay-ms 0
  start_role "$h" worker --worker-id "host$h" --observability-host 127.0.0.1 --observability-port "$metrics_port" \
    --concurrency "$((sleep_jobs + 2))" --lease-ms "$lease_ms" --database-pool-size 4 --shutdown-grace-ms 1000
done
logged() { grep -q "\"msg\":\"$2\"" "$tmp/$1.log"; }
for h in 1 2; do
  wait_for 20 "api on host $h started" logged "api.h$h" api_started || exit 1
  wait_for 20 "worker on host $h started" logged "worker.h$h" worker_started || exit 1
done
pass "hosts 1 and 2: api and worker each"

# ---- the workload through both APIs ------------------------------------------
api_jobs=()
generations=()  # "job_id count"
expect() { # WANT STATUS WHAT
  [[ $2 == "$1" ]] || die "$3: $2 $(head -c 300 "$tmp/body")"
}
for u in 0 1; do
  a=$((1 + u)) b=$((2 - u))  # each user talks to both APIs
  status=$(http POST "$a" /v1/users "{\"handle\":\"owner$u\"}")
  expect 201 "$status" "sign-up through host $a"
  token=$(jq -r .token "$tmp/body")
  status=$(http POST "$b" /v1/worlds "{\"name\":\"world$u\",\"seed\":$((7 + u))}" "$token")
  expect 201 "$status" "world through host $b"
  world=$(jq -r .id "$tmp/body")
  for p in 0 1 2; do
    status=$(http POST $((p % 2 + 1)) "/v1/worlds/$world/personas" "{\"name\":\"persona$p\"}" "$token")
    expect 201 "$status" "persona through host $((p % 2 + 1))"
  done
  for g in 0 1; do
    count=$((2 + g + u))
    status=$(http POST $((g + 1)) "/v1/worlds/$world/personas:generate" "{\"count\":$count}" "$token" "gen-$u-$g")
    expect 202 "$status" "generation through host $((g + 1))"
    job=$(jq -r .job.id "$tmp/body")
    api_jobs+=("$job")
    generations+=("$job $count")
  done
  for s in 0 1; do
    status=$(http POST $((s + 1)) "/v1/worlds/$world/simulations" '{"ticks":40}' "$token" "sim-$u-$s")
    expect 202 "$status" "simulation through host $((s + 1))"
    api_jobs+=("$(jq -r .job.id "$tmp/body")")
  done
done
pass "workload through both APIs: 2 users, 2 worlds, 6 personas, ${#api_jobs[@]} jobs acknowledged (202)"

enqueue() { in_ns "${hosts[$1]}" timeout 30 "$bin" jobs enqueue --database-url "$url" "${@:2}" >>"$tmp/enqueue.log" 2>&1; }
# The slow jobs last, ahead of the queue (priority -1): claimed at once,
# while the noops are still draining, whatever the enqueues cost.
enqueue 2 --type noop --count "$noop_jobs" || die "jobs enqueue (noop) failed"
enqueue 1 --type sleep --payload "{\"ms\":$sleep_ms}" --count "$sleep_jobs" --priority -1 ||
  die "jobs enqueue (sleep) failed"
pass "enqueued $noop_jobs noop jobs, then $sleep_jobs sleep jobs (${sleep_ms} ms) ahead of them"
expected_jobs=$((${#api_jobs[@]} + sleep_jobs + noop_jobs))

# The lost host is the one holding more of the slow jobs (either may have
# claimed them all); the other one survives.
holds_sleep() {
  lost=$(sql "SELECT substr(lease_owner, 5) FROM jobs WHERE state = 'running' AND type = 'sleep'
           GROUP BY lease_owner ORDER BY count(*) DESC, lease_owner LIMIT 1")
  [[ $lost == 1 || $lost == 2 ]]
}
wait_for 20 "a host holds a running sleep job" holds_sleep || exit 1
survivor=$((3 - lost))

# ---- one host is lost ----------------------------------------------------------
cut_ms=$(sql "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
if [[ $scenario == kill ]]; then
  victims=$(ip netns pids "${hosts[$lost]}")
  kill -9 $victims
  for key in "api.$lost" "worker.$lost"; do wait "${pid[$key]}" 2>/dev/null; done
  gone() { [[ -z $(ip netns pids "${hosts[$lost]}") ]]; }
  wait_for 10 "every process of host $lost is gone" gone || exit 1
  pass "SIGKILL to every process of host $lost ($(echo $victims | wc -w) processes)"
else
  ip -n "$sw" link set port$lost down || die "cannot cut host $lost's link"
  pass "host $lost's link cut (its api and worker keep running)"
fi
# A commit already on its way when the host was lost still lands: look once
# it has. What the table says the lost host holds is what it loses.
sleep 0.3
sql "SELECT id, claim, lease_expires_at, type FROM jobs WHERE state = 'running' AND lease_owner = 'host$lost' ORDER BY id" \
  | tr '|' ' ' >"$tmp/held"
held_count=$(wc -l <"$tmp/held")
((held_count > 0)) || die "host $lost held no job when it was lost"
values=$(awk '{ printf "%s(%s,%s,%s)", (NR > 1 ? "," : ""), $1, $2, $3 }' "$tmp/held")
pass "host $lost held $held_count jobs when it was lost ($(awk '{print $4}' "$tmp/held" | sort | uniq -c | xargs))"

taken_over() {
  [[ $(sql "WITH held(id, claim, until) AS (VALUES $values)
            SELECT count(*) FROM jobs j JOIN held USING (id) WHERE j.claim <= held.claim") == 0 ]]
}
if ! wait_for 20 "host $survivor claims every job host $lost held" taken_over; then
  echo "     sessions in a transaction (host $lost's hold row locks nobody can take over):"
  sql "SELECT client_addr, state, now() - state_change, left(query, 80) FROM pg_stat_activity
       WHERE state LIKE '%transaction%'" | sed 's/^/       /'
  exit 1
fi
# Within one lease after the lease ran out, claimed once more (not twice).
late=$(sql "WITH held(id, claim, until) AS (VALUES $values)
            SELECT count(*) FROM jobs j JOIN held USING (id)
            WHERE j.claim <> held.claim + 1 OR j.started_at > held.until + $lease_ms OR j.lease_owner = 'host$lost'")
check "each job host $lost held was claimed again once, by host $survivor, within one lease ($lease_ms ms) after its lease ran out" \
  test "$late" == 0
echo "     claimed again after the loss (ms): $(sql "WITH held(id, claim, until) AS (VALUES $values)
  SELECT string_agg((j.started_at - $cut_ms)::text, ' ' ORDER BY j.id) FROM jobs j JOIN held USING (id)")"

if [[ $scenario == partition ]]; then
  ip -n "$sw" link set port$lost up || die "cannot restore host $lost's link"
  pass "host $lost's link restored"
fi

unfinished() { sql "SELECT count(*) FROM jobs WHERE state <> 'succeeded'"; }
drained() { [[ $(unfinished) == 0 ]]; }
wait_for 45 "every job succeeds" drained || { sql "SELECT state, type, count(*) FROM jobs GROUP BY 1, 2"; exit 1; }
check "every job succeeded: $expected_jobs jobs in the table" test "$(sql "SELECT count(*) FROM jobs")" == "$expected_jobs"
ids=$(IFS=,; echo "${api_jobs[*]}")
check "every job an API acknowledged is there and succeeded" \
  test "$(sql "SELECT count(*) FROM jobs WHERE id IN ($ids) AND state = 'succeeded'")" == "${#api_jobs[@]}"

if [[ $scenario == partition ]]; then
  # Host 1 comes back holding claims that are no longer its own: its renewals
  # or its outcomes, whichever reaches the database first, are refused.
  counted() { [[ $(metric_sum $lost jobs_lease_lost_total) -ge $held_count ]]; }
  wait_for 30 "host $lost counts its lost leases" counted
  check "host $lost's jobs_lease_lost_total counts each claim it lost: $held_count" \
    test "$(metric_sum $lost jobs_lease_lost_total)" == "$held_count"
  check "host $survivor's jobs_lease_lost_total is 0" test "$(metric_sum $survivor jobs_lease_lost_total)" == 0
fi

# ---- stop ----------------------------------------------------------------------
for key in "${!pid[@]}"; do
  [[ $scenario == kill && $key == *.$lost ]] && continue
  kill -TERM "${pid[$key]}" 2>/dev/null
done
for key in "${!pid[@]}"; do
  [[ $scenario == kill && $key == *.$lost ]] && continue
  stopped() { ! kill -0 "${pid[$key]}" 2>/dev/null; }
  wait_for 15 "$key stops on SIGTERM" stopped
  wait "${pid[$key]}"
  check "$key exits 0 on SIGTERM" test $? == 0
done

# ---- what happened, from the table, the logs and the run logs ----------------
sql "SELECT id, type, state, attempts, claim, coalesce(result, '') FROM jobs ORDER BY id" >"$tmp/jobs"
printf '%s\n' "${generations[@]}" >"$tmp/generations"
sql "SELECT job_id, count(*) FROM personas WHERE job_id IS NOT NULL GROUP BY job_id" >"$tmp/personas"
sql "SELECT s.id, s.completed_at IS NOT NULL, coalesce(s.event_count, -1),
            (SELECT count(*) FROM events e WHERE e.simulation_id = s.id) FROM simulations s" >"$tmp/simulations"
touch "$tmp/runs.h1" "$tmp/runs.h2"
python3 - "$tmp" "$scenario" "$lost" <<'EOF'
import json, sys
tmp, scenario, v = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = 3 - v
failed = 0
def check(what, ok, detail=""):
    global failed
    print(("ok   - " if ok else "FAIL - ") + what + ("" if ok else ": " + str(detail)[:600]))
    failed += 0 if ok else 1

def lines(name):
    out = []
    with open(f"{tmp}/{name}", errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out
logs = {h: lines(f"worker.h{h}.log") for h in (1, 2)}
held = {}
for line in open(f"{tmp}/held"):
    job, claim, _, kind = line.split()
    held[int(job)] = int(claim)
jobs = {}
for line in open(f"{tmp}/jobs"):
    job, kind, state, attempts, claim, result = line.rstrip("\n").split("|", 5)
    jobs[int(job)] = dict(type=kind, state=state, attempts=int(attempts), claim=int(claim), result=result)

# The lapses the workers logged: exactly the claims the lost host held, all the lost host's.
lapsed = {}
for h in (1, 2):
    for l in logs[h]:
        if l.get("msg") == "job_lease_expired":
            check(f"host {h} logged the lapse of job {l['job_id']} as host {v}'s", l.get("previous_owner") == f"host{v}", l)
            lapsed[l["job_id"]] = l["claim"]
check(f"the lapses logged are exactly the claims host {v} held", lapsed == held, (sorted(lapsed.items()), sorted(held.items())))

# Attempts: one each, two for a job whose lease lapsed.
extra = {j: r["attempts"] for j, r in jobs.items() if r["attempts"] != (2 if j in held else 1)}
check(f"one attempt per job, two where host {v}'s lease lapsed", not extra, extra)

# The run log: every noop ran, no claim ran twice, twice only after a lapse.
runs = {}
for h in (1, 2):
    for line in open(f"{tmp}/runs.h{h}"):
        job, attempt, _, claim = line.split()
        runs.setdefault(int(job), []).append((int(claim), h))
noops = [j for j, r in jobs.items() if r["type"] == "noop"]
never = [j for j in noops if j not in runs]
check(f"every noop job ran ({len(noops)})", not never, never[:20])
twice = {j: r for j, r in runs.items() if len({c for c, _ in r}) != len(r)}
check("no claim of a noop ran twice", not twice, twice)
again = {j: r for j, r in runs.items() if len(r) > 1 and j not in held}
check(f"a noop ran more than once only after host {v}'s lease on it lapsed", not again, again)
stale = {j: r for j, r in runs.items() if len(r) > 1 and any(c != held[j] and h == v for c, h in r)}
check(f"a noop's extra run was host {v}'s lapsed claim", not stale, stale)
print(f"     noop runs: {sum(len(r) for r in runs.values())} for {len(noops)} jobs; "
      f"{sum(1 for j in held if jobs[j]['type'] == 'noop' and len(runs.get(j, [])) > 1)} ran twice after a lapse")

# A sleep job's recorded result is its current claim's, never a stale one.
wrong = {j: r for j, r in jobs.items() if r["type"] == "sleep"
         and (r["state"] != "succeeded" or json.loads(r["result"] or "{}").get("claim") != r["claim"])}
check("every sleep job's result comes from the claim the row holds", not wrong, wrong)

# Side effects inside the database, once each.
made = dict(map(int, l.split("|")) for l in open(f"{tmp}/personas") if l.strip())
for line in open(f"{tmp}/generations"):
    job, count = map(int, line.split())
    check(f"generation job {job} created its {count} personas once", made.get(job) == count, made.get(job))
for line in open(f"{tmp}/simulations"):
    sim, done, count, events = line.strip().split("|")
    check(f"simulation {sim} completed and wrote its {events} events once", done == "t" and int(count) == int(events),
          line)

# Refused outcomes: none for the survivor; after a partition, the lost host logged each
# claim it lost exactly once.
for h in (s,) if scenario == "partition" else (1, 2):
    bad = [l for l in logs[h] if l.get("msg") in ("job_lease_lost", "job_lost")]
    check(f"host {h} lost no lease", not bad, bad[:3])
if scenario == "partition":
    lost = [(l["job_id"], l["claim"]) for l in logs[v] if l.get("msg") == "job_lease_lost"]
    check(f"host {v} logged job_lease_lost once for each claim it lost", sorted(lost) == sorted(held.items()),
          (sorted(lost), sorted(held.items())))
    refused = [(l["job_id"], l["claim"]) for l in logs[v] if l.get("msg") == "job_lost"]
    check(f"host {v}'s outcomes refused at settle (job_lost) were all of lost claims",
          all(held.get(j) == c for j, c in refused), refused)
    print(f"     host {v}: {len(lost)} job_lease_lost, {len(refused)} outcomes refused at settle (job_lost)")
sys.exit(1 if failed else 0)
EOF
(($? == 0)) && pass "the table, the logs and the run logs agree" || fail "the table, the logs and the run logs disagree"

echo "$scenario: $passed passed, $failed failed in $SECONDS s"
((failed == 0))
