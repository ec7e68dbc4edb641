#!/usr/bin/env bash
# How cost grows on PostgreSQL: personaworlds against graphile-worker 0.17.3
# and pg-boss 10.4.2 on one PostgreSQL server, same machine, same run.
# Usage: bench/scale/run.sh BUILD_DIR
#
#  1. Throughput: N jobs enqueued up front, then 1, 2, 4 and 8 worker
#     processes started; jobs/s until none is queued or running (our side is
#     pw_queue_bench process, the peers' graphile_bench.mjs process and
#     pgboss_bench.mjs process). noop jobs for all three, interleaved (ours,
#     graphile-worker, pg-boss at one process count, then the next), and
#     world.simulate jobs for ours (the peers have no such handler).
#  2. Enqueue-to-start p50/p99 at a steady 1,000 and 5,000 jobs/s (ours only:
#     pw_queue_bench latency, one enqueue per transaction, open loop).
#  3. A soak: load at a steady rate for BENCH_SCALE_SOAK_S seconds while the
#     jobs table's size and dead tuples are sampled (pw_queue_bench soak).
# Then bench/scale/report.py writes the CSV, the plot and the "Scaling out on
# PostgreSQL" section of BENCHMARKS.md.
#
# Settings (environment), defaults in brackets:
#   BENCH_SCALE_RUNS [3]              runs of parts 1 and 2 (medians are quoted)
#   BENCH_SCALE_WORKERS ["1 2 4 8"]   worker process counts
#   BENCH_SCALE_JOBS [20000]          noop jobs per drain
#   BENCH_SCALE_SIM_JOBS [2000]       world.simulate jobs per drain
#   BENCH_SCALE_SIM_TICKS [20]        ticks per simulation (8 personas)
#   BENCH_SCALE_PEERS ["graphile pgboss"]  peers to measure ("" for none)
#   BENCH_SCALE_RATES ["1000 5000"]   latency rates (jobs/s); BENCH_SCALE_LATENCY_S [10] each
#   BENCH_SCALE_SOAK_S [600]          soak length (0: no soak); BENCH_SCALE_SOAK_RATE [1000],
#                                     BENCH_SCALE_SOAK_SAMPLE_S [10]
#   BENCH_GRAPHILE_CONCURRENCY [4]    graphile-worker concurrency per process
#   BENCH_PGBOSS_CONCURRENCY [4]      pg-boss work() loops per process
#   BENCH_PGBOSS_BATCH [unset]        pg-boss batchSize; unset, a pre-run picks the
#                                     best of BENCH_PGBOSS_PROBE ["10 100 1000"] at 2 processes
#   BENCH_SCALE_MARKDOWN [BENCHMARKS.md]
# A quick trial: BENCH_SCALE_RUNS=1 BENCH_SCALE_JOBS=5000 BENCH_SCALE_SOAK_S=60.
#
# Scratch files (logs, results, the peers' node_modules, the server) live in .bench/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
runs="${BENCH_SCALE_RUNS:-3}"
worker_counts="${BENCH_SCALE_WORKERS:-1 2 4 8}"
jobs="${BENCH_SCALE_JOBS:-20000}"
sim_jobs="${BENCH_SCALE_SIM_JOBS:-2000}"
sim_ticks="${BENCH_SCALE_SIM_TICKS:-20}"
peers="${BENCH_SCALE_PEERS-graphile pgboss}"
rates="${BENCH_SCALE_RATES:-1000 5000}"
latency_s="${BENCH_SCALE_LATENCY_S:-10}"
soak_s="${BENCH_SCALE_SOAK_S:-600}"
soak_rate="${BENCH_SCALE_SOAK_RATE:-1000}"
soak_sample="${BENCH_SCALE_SOAK_SAMPLE_S:-10}"
graphile_concurrency="${BENCH_GRAPHILE_CONCURRENCY:-4}"
pgboss_concurrency="${BENCH_PGBOSS_CONCURRENCY:-4}"
markdown="${BENCH_SCALE_MARKDOWN:-$root/BENCHMARKS.md}"
binary="$build/personaworlds"
driver="$build/bench/queue/pw_queue_bench"
scratch="$root/.bench/scale"
graphile_dir="$root/.bench/graphile"
pgboss_dir="$root/.bench/pgboss"
postgres_sh="$root/tests/support/postgres.sh"
results="$scratch/results.jsonl"

# The same tuned flags as bench-queue's PostgreSQL section: many jobs in hand
# per process, claimed and recorded in large batches.
worker_flags=(--concurrency 128 --batch-size 128)
# The soak keeps finished jobs for a minute and prunes every 10 s: with the
# default retention (7 days) the table holds a week of finished jobs by
# design and no 10-minute run could show it level off.
soak_flags=("${worker_flags[@]}" --retention-ms 60000 --prune-interval-ms 10000)

wants() { [[ " $peers " == *" $1 "* ]]; }
for tool in node npm psql python3; do
  command -v "$tool" >/dev/null || { echo "bench-scale: $tool is required" >&2; exit 1; }
done
[[ -x "$binary" && -x "$driver" ]] || { echo "bench-scale: build $binary and $driver first" >&2; exit 1; }

# gnuplot draws the plot at the end; installed first so that a missing
# package does not waste a run.
bash "$root/scripts/install-packages.sh" gnuplot-nox
source "$root/bench/lib/npm_peer.sh"
if wants graphile; then
  install_peer "$graphile_dir" \
    "if (require('graphile-worker/package.json').version !== '0.17.3') process.exit(1); require.resolve('pg')" \
    graphile-worker@0.17.3 pg
  cp "$root/bench/queue/graphile_bench.mjs" "$graphile_dir/graphile_bench.mjs"
fi
if wants pgboss; then
  install_peer "$pgboss_dir" \
    "if (require('pg-boss/package.json').version !== '10.4.2') process.exit(1); require.resolve('pg')" \
    pg-boss@10.4.2 pg
  cp "$here/pgboss_bench.mjs" "$pgboss_dir/pgboss_bench.mjs"
fi

server="$scratch/postgres-server"
work="$scratch/work"
rm -rf "$work"
mkdir -p "$work/logs"
: >"$results"

# One server for all three, a database each; stopped and removed on exit.
bash "$postgres_sh" stop "$server"
trap 'bash "$postgres_sh" stop "$server"' EXIT
bash "$postgres_sh" start "$server"
server_url="$(cat "$server/url")"
psql "$server_url" -qAt -c "CREATE DATABASE pw_bench" -c "CREATE DATABASE graphile_bench" -c "CREATE DATABASE pgboss_bench"
db_url() { echo "${server_url/\/postgres\?//$1?}"; }
pw_url="$(db_url pw_bench)"
gw_url="$(db_url graphile_bench)"
pb_url="$(db_url pgboss_bench)"

# Every result line also goes to the terminal, so a long run shows progress.
record() { tee -a "$results"; }
ours() { local command="$1"; shift; "$driver" "$command" --log-dir "$work/logs" --database-url "$pw_url" "$@" | record; }
graphile() { (cd "$graphile_dir" && node graphile_bench.mjs "$@" --database-url "$gw_url" --log-dir "$work/logs") | record; }
pgboss() { (cd "$pgboss_dir" && node pgboss_bench.mjs "$@" --database-url "$pb_url" --log-dir "$work/logs") | record; }
say() { echo "== bench-scale $(date -u +%H:%M:%S) (load $(cut -d' ' -f1-3 /proc/loadavg)): $*"; }

# pg-boss's batchSize: the best of a short pre-run at 2 processes.
if wants pgboss; then
  if [[ -n "${BENCH_PGBOSS_BATCH:-}" ]]; then
    pgboss_batch="$BENCH_PGBOSS_BATCH"
  else
    for batch in ${BENCH_PGBOSS_PROBE:-10 100 1000}; do
      say "pg-boss pre-run, 2 processes, $pgboss_concurrency loops of batchSize $batch"
      pgboss process --count "$(( jobs / 4 > 2000 ? jobs / 4 : 2000 ))" --workers 2 \
        --concurrency "$pgboss_concurrency" --batch-size "$batch" --probe 1 --run 0
    done
    pgboss_batch="$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
probes = [r for r in rows if r.get("impl") == "pg-boss" and r.get("metric") == "concurrency_probe"]
print(max(probes, key=lambda r: r["value"])["batch_size"])' "$results")"
  fi
  say "pg-boss runs with $pgboss_concurrency loops of batchSize $pgboss_batch per process"
fi

for run in $(seq 1 "$runs"); do
  for workers in $worker_counts; do
    say "run $run of $runs, $workers worker process(es): personaworlds noop"
    ours process --binary "$binary" --count "$jobs" --workers "$workers" --run "$run" -- "${worker_flags[@]}"
    if wants graphile; then
      say "run $run of $runs, $workers worker process(es): graphile-worker noop"
      graphile process --count "$jobs" --workers "$workers" --concurrency "$graphile_concurrency" --run "$run"
    fi
    if wants pgboss; then
      say "run $run of $runs, $workers worker process(es): pg-boss noop"
      pgboss process --count "$jobs" --workers "$workers" --concurrency "$pgboss_concurrency" \
        --batch-size "$pgboss_batch" --run "$run"
    fi
    say "run $run of $runs, $workers worker process(es): personaworlds world.simulate"
    ours process --binary "$binary" --job-type world.simulate --count "$sim_jobs" --ticks "$sim_ticks" \
      --workers "$workers" --run "$run" -- "${worker_flags[@]}"
  done
  for rate in $rates; do
    say "run $run of $runs: enqueue-to-start at $rate jobs/s for $latency_s s"
    # Enough enqueuers (a connection each) that the schedule holds at the
    # rate: one enqueue per transaction takes about 0.3 ms here.
    ours latency --binary "$binary" --rate "$rate" --seconds "$latency_s" --enqueuers $(( rate >= 5000 ? 8 : 4 )) \
      --workers 2 --run "$run" -- "${worker_flags[@]}"
  done
done

if (( soak_s > 0 )); then
  say "soak: $soak_rate jobs/s for $soak_s s, 2 worker processes, a sample every $soak_sample s"
  ours soak --binary "$binary" --workers 2 --rate "$soak_rate" --seconds "$soak_s" --sample "$soak_sample" \
    --enqueuers 4 --run 1 -- "${soak_flags[@]}"
fi

server_version="$(psql "$server_url" -qAt -c "SHOW server_version" | cut -d' ' -f1)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
versions="PostgreSQL $server_version (all)"
wants graphile && versions+=", graphile-worker $(cd "$graphile_dir" && node -p "require('graphile-worker/package.json').version")"
wants pgboss && versions+=", pg-boss $(cd "$pgboss_dir" && node -p "require('pg-boss/package.json').version")"
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), $versions, Node $(node --version), $(date -u +%Y-%m-%d)"

python3 "$here/report.py" --results "$results" --markdown "$markdown" --machine "$machine" \
  --csv "$here/scale.csv" --plot "$here/throughput.png" \
  --settings "runs=$runs jobs=$jobs sim_jobs=$sim_jobs sim_ticks=$sim_ticks graphile_concurrency=$graphile_concurrency pgboss_concurrency=$pgboss_concurrency pgboss_batch=${pgboss_batch:-} soak_s=$soak_s soak_rate=$soak_rate soak_sample=$soak_sample latency_s=$latency_s"
echo "bench-scale: results in $results; table in $here/scale.csv, plot $here/throughput.png, section in $markdown"
