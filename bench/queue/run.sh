#!/usr/bin/env bash
# The job queue benchmark: personaworlds against plainjob on SQLite and
# against graphile-worker on PostgreSQL, same machine, same run, same job
# counts. Usage: bench/queue/run.sh BUILD_DIR [JOBS] [RUNS]
# Prints one table of medians per database and writes them into
# BENCHMARKS.md ("Queue"; PostgreSQL under "### PostgreSQL").
#
# BENCH_QUEUE_DRIVERS: which databases to measure, "sqlite postgres" (the
#   default), "sqlite" or "postgres"; the part of the section of a database
#   not measured is kept as it was.
# BENCH_QUEUE_MARKDOWN: the file the tables go to (default BENCHMARKS.md).
# BENCH_QUEUE_BASELINE: a git revision to measure beside this tree, in the
#   same run (before/after): its worker and benchmark driver are built from
#   `git archive` of it in .bench/baseline/REV and run right after ours in
#   every enqueue and processing measurement.
# BENCH_GRAPHILE_CONCURRENCY: graphile-worker's concurrency; unset, a
#   pre-run picks the best of BENCH_GRAPHILE_PROBE (default "1 4 10 32") for
#   each process count, on JOBS/4 jobs (at least 2,000).
#
# Scratch files (databases, logs, the peers' node_modules, the PostgreSQL
# server of the run) live in .bench/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
jobs="${2:-50000}"
runs="${3:-3}"
drivers="${BENCH_QUEUE_DRIVERS:-sqlite postgres}"
binary="$build/personaworlds"
driver="$build/bench/queue/pw_queue_bench"
scratch="$root/.bench/queue"
plainjob_dir="$root/.bench/plainjob"
graphile_dir="$root/.bench/graphile"
postgres_sh="$root/tests/support/postgres.sh"
markdown="${BENCH_QUEUE_MARKDOWN:-$root/BENCHMARKS.md}"

# Tuned for throughput: many jobs in hand per process, claimed and recorded
# in large batches. The default settings (no flags) are measured too, and on
# SQLite they are the table's headline rows: never pass flags to those.
worker_flags=(--concurrency 128 --batch-size 128)

for d in $drivers; do
  [[ "$d" == sqlite || "$d" == postgres ]] || { echo "bench-queue: unknown driver '$d' in BENCH_QUEUE_DRIVERS" >&2; exit 2; }
done
wants() { [[ " $drivers " == *" $1 "* ]]; }

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "bench-queue: $tool is required (Node 20)" >&2; exit 1; }
done
[[ -x "$binary" && -x "$driver" ]] || { echo "bench-queue: build $binary and $driver first" >&2; exit 1; }

# A peer's npm packages in a scratch folder, installed once (install_peer).
source "$root/bench/lib/npm_peer.sh"

mkdir -p "$scratch"
results_files=()
ours() { local command="$1"; shift; "$driver" "$command" "$@" | tee -a "$results"; }

# The baseline's lines say "baseline" where ours say "personaworlds".
baseline="${BENCH_QUEUE_BASELINE:-}"
baseline_label=""
baseline_binary=""
baseline_driver=""
if [[ -n "$baseline" ]]; then
  baseline_rev="$(git -C "$root" rev-parse --short=9 "$baseline^{commit}")"
  baseline_label="$baseline_rev ($(git -C "$root" log -1 --format=%s "$baseline_rev" | cut -c1-80))"
  baseline_dir="$root/.bench/baseline/$baseline_rev"
  if [[ ! -x "$baseline_dir/build/personaworlds" || ! -x "$baseline_dir/build/bench/queue/pw_queue_bench" ]]; then
    echo "== building the baseline $baseline_label in $baseline_dir"
    rm -rf "$baseline_dir"
    mkdir -p "$baseline_dir"
    git -C "$root" archive "$baseline_rev" | tar -x -C "$baseline_dir"
    cmake -S "$baseline_dir" -B "$baseline_dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$baseline_dir/build" -j2 --target personaworlds pw_queue_bench
  fi
  baseline_binary="$baseline_dir/build/personaworlds"
  baseline_driver="$baseline_dir/build/bench/queue/pw_queue_bench"
fi
base() {
  [[ -n "$baseline" ]] || return 0
  local command="$1"; shift
  "$baseline_driver" "$command" "$@" | sed 's/"impl":"personaworlds"/"impl":"baseline"/' | tee -a "$results"
}

# ---- SQLite: plainjob ---------------------------------------------------------

if wants sqlite; then
  # plainjob and better-sqlite3@12, the native module rebuilt if it does not load.
  install_peer "$plainjob_dir" "require('better-sqlite3')(':memory:'); require.resolve('plainjob')" \
    plainjob better-sqlite3@12
  (cd "$plainjob_dir" && node -e "require('better-sqlite3')(':memory:')" 2>/dev/null) ||
    (cd "$plainjob_dir" && npm rebuild better-sqlite3 >/dev/null)
  cp "$here/plainjob_bench.mjs" "$plainjob_dir/plainjob_bench.mjs"

  work="$scratch/sqlite"
  results="$scratch/results-sqlite.jsonl"
  rm -rf "$work"
  mkdir -p "$work/logs"
  : >"$results"
  results_files+=("$results")
  theirs() { (cd "$plainjob_dir" && node plainjob_bench.mjs "$@") | tee -a "$results"; }
  theirs_process() { theirs process --log-dir "$work/logs" "$@"; }
  ours_process() { ours process --log-dir "$work/logs" --binary "$binary" --db "$work/pw.db" "$@"; }

  for run in $(seq 1 "$runs"); do
    echo "== SQLite: run $run of $runs"
    ours enqueue --db "$work/pw.db" --count "$jobs" --batch 1 --run "$run"
    base enqueue --db "$work/base.db" --count "$jobs" --batch 1 --run "$run"
    theirs enqueue --db "$work/pj.db" --count "$jobs" --batch 1 --run "$run"
    ours enqueue --db "$work/pw.db" --count "$jobs" --batch 1000 --run "$run"
    base enqueue --db "$work/base.db" --count "$jobs" --batch 1000 --run "$run"
    theirs enqueue --db "$work/pj.db" --count "$jobs" --batch 1000 --run "$run"
    # Our worker as a user starts it (no flags at all: the headline rows),
    # then with the tuned flags, each beside plainjob's run.
    for workers in 1 2; do
      ours_process --count "$jobs" --workers "$workers" --run "$run" --variant default
      base process --log-dir "$work/logs" --binary "$baseline_binary" --db "$work/base.db" --count "$jobs" \
        --workers "$workers" --run "$run" --variant default
      theirs_process --db "$work/pj.db" --count "$jobs" --workers "$workers" --run "$run"
      ours_process --count "$jobs" --workers "$workers" --run "$run" -- "${worker_flags[@]}"
      base process --log-dir "$work/logs" --binary "$baseline_binary" --db "$work/base.db" --count "$jobs" \
        --workers "$workers" --run "$run" -- "${worker_flags[@]}"
    done
    # A mixed queue at our defaults: the noop rate alone, then with a tenth
    # of the queue slow webhook deliveries among them.
    for percent in 0 10; do
      ours mixed --log-dir "$work/logs" --binary "$binary" --db "$work/pw.db" --count "$jobs" \
        --slow-percent "$percent" --run "$run"
    done
    theirs_process --db "$work/pj.db" --count "$jobs" --workers 2 --run "$run" --logger console --variant console
    ours_process --count "$jobs" --workers 2 --run "$run" --variant nolog -- "${worker_flags[@]}" --log-level warn
    ours latency --log-dir "$work/logs" --binary "$binary" --db "$work/pw.db" --rate 1000 --seconds 10 --run "$run"
    theirs latency --db "$work/pj.db" --rate 1000 --seconds 10 --run "$run"
  done
fi

# ---- PostgreSQL: graphile-worker ------------------------------------------------

if wants postgres; then
  install_peer "$graphile_dir" \
    "if (require('graphile-worker/package.json').version !== '0.17.3') process.exit(1); require.resolve('pg')" \
    graphile-worker@0.17.3 pg
  cp "$here/graphile_bench.mjs" "$graphile_dir/graphile_bench.mjs"

  work="$scratch/postgres"
  results="$scratch/results-postgres.jsonl"
  server="$scratch/postgres-server"
  rm -rf "$work"
  mkdir -p "$work/logs"
  : >"$results"
  results_files+=("$results")

  # One server for both peers, a database each; stopped and removed on exit.
  bash "$postgres_sh" stop "$server"
  trap 'bash "$postgres_sh" stop "$server"' EXIT
  bash "$postgres_sh" start "$server"
  server_url="$(cat "$server/url")"
  psql "$server_url" -qAt -c "CREATE DATABASE pw_bench" -c "CREATE DATABASE graphile_bench"
  pw_url="${server_url/\/postgres\?//pw_bench?}"
  gw_url="${server_url/\/postgres\?//graphile_bench?}"
  server_version="$(psql "$server_url" -qAt -c "SHOW server_version" | cut -d' ' -f1)"

  theirs() { (cd "$graphile_dir" && node graphile_bench.mjs "$@" --database-url "$gw_url" --log-dir "$work/logs") |
               tee -a "$results"; }
  ours_pg() { local command="$1"; shift; ours "$command" --log-dir "$work/logs" --database-url "$pw_url" "$@"; }
  base_pg() { local command="$1"; shift; base "$command" --log-dir "$work/logs" --database-url "$pw_url" "$@"; }

  # graphile-worker's best concurrency per process count, from a short pre-run.
  declare -A concurrency
  if [[ -n "${BENCH_GRAPHILE_CONCURRENCY:-}" ]]; then
    concurrency[1]="$BENCH_GRAPHILE_CONCURRENCY"
    concurrency[2]="$BENCH_GRAPHILE_CONCURRENCY"
  else
    probe_jobs=$(( jobs / 4 > 2000 ? jobs / 4 : 2000 ))
    for workers in 1 2; do
      for c in ${BENCH_GRAPHILE_PROBE:-1 4 10 32}; do
        echo "== PostgreSQL: graphile-worker pre-run, $workers process(es), concurrency $c"
        theirs process --count "$probe_jobs" --workers "$workers" --concurrency "$c" --probe 1 --run 0
      done
      concurrency[$workers]="$(node -e '
        const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
        const probes = lines.filter((r) => r.metric === "concurrency_probe" && r.workers === Number(process.argv[2]));
        probes.sort((a, b) => b.value - a.value);
        console.log(probes[0].concurrency);' "$results" "$workers")"
      echo "== PostgreSQL: graphile-worker with $workers process(es) runs at concurrency ${concurrency[$workers]}"
    done
  fi

  for run in $(seq 1 "$runs"); do
    echo "== PostgreSQL: run $run of $runs"
    ours_pg enqueue --count "$jobs" --batch 1 --run "$run"
    base_pg enqueue --count "$jobs" --batch 1 --run "$run"
    theirs enqueue --count "$jobs" --batch 1 --run "$run"
    ours_pg enqueue --count "$jobs" --batch 1000 --run "$run"
    base_pg enqueue --count "$jobs" --batch 1000 --run "$run"
    theirs enqueue --count "$jobs" --batch 1000 --run "$run"
    for workers in 1 2; do
      ours_pg process --binary "$binary" --count "$jobs" --workers "$workers" --run "$run" -- "${worker_flags[@]}"
      base_pg process --binary "$baseline_binary" --count "$jobs" --workers "$workers" --run "$run" \
        -- "${worker_flags[@]}"
      theirs process --count "$jobs" --workers "$workers" --concurrency "${concurrency[$workers]}" --run "$run"
      ours_pg process --binary "$binary" --count "$jobs" --workers "$workers" --run "$run" --variant default
      base_pg process --binary "$baseline_binary" --count "$jobs" --workers "$workers" --run "$run" \
        --variant default
    done
    for percent in 0 10; do
      ours_pg mixed --binary "$binary" --count "$jobs" --slow-percent "$percent" --run "$run"
    done
    # Four enqueuers each: the schedule holds even when an enqueue takes
    # longer than the 1 ms between jobs (graphile-worker's add_job does here).
    ours_pg latency --binary "$binary" --rate 1000 --seconds 10 --enqueuers 4 --run "$run"
    theirs latency --rate 1000 --seconds 10 --enqueuers 4 --concurrency "${concurrency[1]}" --run "$run"
  done
fi

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
host="$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr)"
today="$(date -u +%Y-%m-%d)"
machine=""
if wants sqlite; then
  machine="$host, SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?') (ours) / better-sqlite3 $(cd "$plainjob_dir" && node -p "require('better-sqlite3/package.json').version") (plainjob $(cd "$plainjob_dir" && node -p "require('plainjob/package.json').version")), Node $(node --version), $today"
fi
machine_postgres=""
if wants postgres; then
  machine_postgres="$host, PostgreSQL $server_version (both), graphile-worker $(cd "$graphile_dir" && node -p "require('graphile-worker/package.json').version") with pg $(cd "$graphile_dir" && node -p "require('pg/package.json').version"), Node $(node --version), $today"
fi
"$driver" report --results "$(IFS=,; echo "${results_files[*]}")" --markdown "$markdown" \
  --machine "$machine" --machine-postgres "$machine_postgres" --baseline "$baseline_label"
echo "bench-queue: results in ${results_files[*]}; tables written to $markdown (section Queue)"
