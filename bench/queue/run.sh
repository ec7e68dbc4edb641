#!/usr/bin/env bash
# The job queue benchmark: personaworlds against plainjob, same machine, same
# run, same job counts. Usage: bench/queue/run.sh BUILD_DIR [JOBS] [RUNS]
# Prints one table of medians and writes it into BENCHMARKS.md ("Queue").
# Scratch files (databases, logs, plainjob's node_modules) live in .bench/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
jobs="${2:-50000}"
runs="${3:-3}"
binary="$build/personaworlds"
driver="$build/bench/queue/pw_queue_bench"
scratch="$root/.bench/queue"
plainjob_dir="$root/.bench/plainjob"
results="$scratch/results.jsonl"

# Tuned for throughput: many jobs in hand per process, claimed and recorded
# in large batches. The default settings are measured too (see the table).
worker_flags=(--concurrency 128 --batch-size 128)

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "bench-queue: $tool is required (Node 20)" >&2; exit 1; }
done
[[ -x "$binary" && -x "$driver" ]] || { echo "bench-queue: build $binary and $driver first" >&2; exit 1; }

# plainjob and better-sqlite3@12 in a scratch folder, installed once.
if ! (cd "$plainjob_dir" 2>/dev/null && node -e "require('better-sqlite3')(':memory:')" 2>/dev/null &&
      [[ -d node_modules/plainjob ]]); then
  echo "bench-queue: installing plainjob and better-sqlite3@12 into $plainjob_dir"
  mkdir -p "$plainjob_dir"
  (cd "$plainjob_dir" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
     npm install --no-audit --no-fund plainjob better-sqlite3@12 >/dev/null)
  (cd "$plainjob_dir" && node -e "require('better-sqlite3')(':memory:')" 2>/dev/null) ||
    (cd "$plainjob_dir" && npm rebuild better-sqlite3 >/dev/null)
fi
cp "$here/plainjob_bench.mjs" "$plainjob_dir/plainjob_bench.mjs"

rm -rf "$scratch"
mkdir -p "$scratch/logs"
: >"$results"

ours() { local command="$1"; shift; "$driver" "$command" --log-dir "$scratch/logs" "$@" | tee -a "$results"; }
theirs() { (cd "$plainjob_dir" && node plainjob_bench.mjs "$@") | tee -a "$results"; }
theirs_process() { theirs process --log-dir "$scratch/logs" "$@"; }

for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs"
  "$driver" enqueue --db "$scratch/pw.db" --count "$jobs" --batch 1 --run "$run" | tee -a "$results"
  theirs enqueue --db "$scratch/pj.db" --count "$jobs" --batch 1 --run "$run"
  "$driver" enqueue --db "$scratch/pw.db" --count "$jobs" --batch 1000 --run "$run" | tee -a "$results"
  theirs enqueue --db "$scratch/pj.db" --count "$jobs" --batch 1000 --run "$run"
  for workers in 1 2; do
    ours process --binary "$binary" --db "$scratch/pw.db" --count "$jobs" --workers "$workers" --run "$run" \
      -- "${worker_flags[@]}"
    theirs_process --db "$scratch/pj.db" --count "$jobs" --workers "$workers" --run "$run"
  done
  theirs_process --db "$scratch/pj.db" --count "$jobs" --workers 2 --run "$run" --logger console --variant console
  ours process --binary "$binary" --db "$scratch/pw.db" --count "$jobs" --workers 2 --run "$run" \
    --variant nolog -- "${worker_flags[@]}" --log-level warn
  ours process --binary "$binary" --db "$scratch/pw.db" --count "$jobs" --workers 2 --run "$run" --variant default
  ours latency --binary "$binary" --db "$scratch/pw.db" --rate 1000 --seconds 10 --run "$run"
  theirs latency --db "$scratch/pj.db" --rate 1000 --seconds 10 --run "$run"
done

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?') (ours) / better-sqlite3 $(cd "$plainjob_dir" && node -p "require('better-sqlite3/package.json').version") (plainjob $(cd "$plainjob_dir" && node -p "require('plainjob/package.json').version")), Node $(node --version), $(date -u +%Y-%m-%d)"
"$driver" report --results "$results" --markdown "$root/BENCHMARKS.md" --machine "$machine"
echo "bench-queue: results in $results; table written to BENCHMARKS.md (section Queue)"
