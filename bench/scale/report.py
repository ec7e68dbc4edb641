#!/usr/bin/env python3
"""The report of `make bench-scale` (bench/scale/run.sh runs it).

Reads the JSON lines of a run (pw_queue_bench process/latency/soak,
graphile_bench.mjs process, pgboss_bench.mjs process), prints the tables,
writes the throughput table as CSV, plots throughput against worker process
count with gnuplot (PNG), and writes the generated part of the "Scaling out on
PostgreSQL" section of the markdown file: from its heading to the marker line
below. Text after the marker (the hand-written reading) is kept as it is.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

HEADING = "## Scaling out on PostgreSQL"
MARKER = "<!-- end of the figures written by bench/scale/report.py -->"
OURS = "personaworlds"
PEERS = ["graphile-worker", "pg-boss"]


def median(values):
    return statistics.median(values) if values else None


def thousands(value):
    return "-" if value is None else f"{value:,.0f}"


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def throughput(rows):
    """{(impl, job_type): {workers: {run: jobs/s}}} of the timed runs."""
    out = {}
    for r in rows:
        if r.get("metric") != "process":
            continue
        key = (r["impl"], r.get("job_type", "noop"))
        out.setdefault(key, {}).setdefault(r["workers"], {})[r.get("run", 0)] = r["value"]
    return out


def same_run_ratios(tp, workers):
    """Ours over the best peer of the same run at this process count."""
    ours = tp.get((OURS, "noop"), {}).get(workers, {})
    ratios = []
    for run, value in ours.items():
        peers = [tp.get((p, "noop"), {}).get(workers, {}).get(run) for p in PEERS]
        peers = [p for p in peers if p]
        if peers:
            ratios.append(value / max(peers))
    return ratios


def plot(series, worker_counts, path):
    """Throughput against worker processes, one line per series, log scale."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        with open(data, "w") as f:
            f.write("# workers " + " ".join(f'"{name}"' for name, _ in series) + "\n")
            for w in worker_counts:
                cells = [str(values.get(w) or "NaN") for _, values in series]
                f.write(f"{w} " + " ".join(cells) + "\n")
        lines = ", ".join(
            f"'{data}' using 1:{i + 2} with linespoints lw 2 pt 7 title '{name}'" for i, (name, _) in enumerate(series))
        script = f"""
set terminal pngcairo size 800,480 font ',11'
set output '{path}'
set title 'Jobs drained per second against worker processes (one PostgreSQL server, 2 cores)'
set xlabel 'worker processes'
set ylabel 'jobs/s (median of runs, log scale)'
set logscale y
set logscale x 2
set xrange [0.8:10]
set xtics ({", ".join(str(w) for w in worker_counts)})
set key outside bottom center horizontal
set grid
plot {lines}
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--settings", default="")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.settings.split() if "=" in item)

    rows = read(args.results)
    tp = throughput(rows)
    worker_counts = sorted({w for per in tp.values() for w in per})
    runs = sorted({r.get("run", 0) for r in rows if r.get("metric") == "process"})
    med = {key: {w: median(list(per.get(w, {}).values())) for w in worker_counts} for key, per in tp.items()}
    loads = [r["load1"] for r in rows if "load1" in r and r.get("metric") in ("process", "latency", "soak_sample")]

    columns = [(OURS, "noop"), ("graphile-worker", "noop"), ("pg-boss", "noop"), (OURS, "world.simulate")]
    columns = [c for c in columns if c in med]
    names = {(OURS, "noop"): "personaworlds noop", ("graphile-worker", "noop"): "graphile-worker noop",
             ("pg-boss", "noop"): "pg-boss noop", (OURS, "world.simulate"): "personaworlds world.simulate"}
    ratio = {w: median(same_run_ratios(tp, w)) for w in worker_counts}

    # CSV: medians, the same-run ratio, and every run's figure.
    with open(args.csv, "w") as f:
        f.write("workers," + ",".join(names[c].replace(" ", "_") for c in columns) +
                ",ours_vs_best_peer_same_run_median\n")
        for w in worker_counts:
            cells = [f"{med[c][w]:.0f}" if med[c][w] else "" for c in columns]
            f.write(f"{w}," + ",".join(cells) + (f",{ratio[w]:.2f}" if ratio[w] else ",") + "\n")
    plot([(names[c], med[c]) for c in columns], worker_counts, args.plot)

    # Throughput table.
    header = "| Worker processes | " + " | ".join(f"{names[c]} (jobs/s)" for c in columns)
    header += " | personaworlds vs best peer (same run) |\n"
    header += "|---:|" + "---:|" * (len(columns) + 1) + "\n"
    body = ""
    for w in worker_counts:
        body += f"| {w} | " + " | ".join(thousands(med[c][w]) for c in columns)
        body += f" | {ratio[w]:.1f}x |\n" if ratio[w] else " | - |\n"
    tp_table = header + body

    # Scaling: each process count against one process, and the goals.
    ours_noop = med.get((OURS, "noop"), {})
    rising = all(ours_noop.get(a) and ours_noop.get(b) and ours_noop[b] > ours_noop[a]
                 for a, b in zip([w for w in worker_counts if w <= 4], [w for w in worker_counts if w <= 4][1:]))
    peak = max((w for w in worker_counts if ours_noop.get(w)), key=lambda w: ours_noop[w], default=None)
    ratio_goal = [w for w in worker_counts if ratio[w] is not None and ratio[w] < 1.5]
    sim = med.get((OURS, "world.simulate"), {})
    sim_rising = all(sim.get(a) and sim.get(b) and sim[b] > sim[a]
                     for a, b in zip([w for w in worker_counts if w <= 4], [w for w in worker_counts if w <= 4][1:]))

    def scaling(values):
        base = values.get(worker_counts[0]) if worker_counts else None
        return " / ".join(f"{values[w] / base:.2f}x" if base and values.get(w) else "-" for w in worker_counts)

    # Latency table.
    latency = {}
    for r in rows:
        if r.get("metric") == "latency":
            latency.setdefault(r["rate"], []).append(r)
    lat_table = ("| Rate (jobs/s) | achieved (jobs/s) | p50 (ms) | p99 (ms) | max (ms) |\n"
                 "|---:|---:|---:|---:|---:|\n")
    for rate in sorted(latency):
        rs = latency[rate]
        lat_table += (f"| {rate:,} | {thousands(median([r['achieved_rate'] for r in rs]))} | "
                      f"{median([r['p50_ms'] for r in rs]):.2f} | {median([r['p99_ms'] for r in rs]):.2f} | "
                      f"{median([r['max_ms'] for r in rs]):.1f} |\n")
    lat_runs = len(next(iter(latency.values()))) if latency else 0

    # Soak: the samples (about one a minute shown) and the summary.
    samples = [r for r in rows if r.get("metric") == "soak_sample"]
    soak = next((r for r in rows if r.get("metric") == "soak"), None)
    soak_text = "No soak in this run."
    if samples and soak:
        step = max(1, round(60 / max(1, int(settings.get("soak_sample", "10")))))
        shown = samples[step - 1::step] if len(samples) > 12 else samples
        if shown[-1] is not samples[-1]:
            shown.append(samples[-1])
        soak_table = ("| t (s) | jobs table (MB) | live tuples | dead tuples | autovacuum runs | queued | load |\n"
                      "|---:|---:|---:|---:|---:|---:|---:|\n")
        for s in shown:
            soak_table += (f"| {s['t_s']} | {s['table_bytes'] / 1e6:.1f} | {s['live_tuples']:,} | "
                           f"{s['dead_tuples']:,} | {s['autovacuum_count']} | {s['queued']:,} | {s['load1']:.1f} |\n")
        bounded = soak["second_half_max_bytes"] <= soak["first_half_max_bytes"] * 1.1
        soak_text = (
            f"{soak['seconds']} s at {soak['rate']:,} jobs/s (achieved {soak['achieved_rate']:,.0f}/s, "
            f"{soak['count']:,} noop jobs, one per transaction by 4 enqueuers), 2 worker processes with "
            f"`{soak['flags']}`; a sample every {settings.get('soak_sample', '?')} s "
            f"({len(samples)} samples, about one a minute shown):\n\n" + soak_table +
            f"\nLargest over the run: {soak['max_table_bytes'] / 1e6:.1f} MB "
            f"(first half {soak['first_half_max_bytes'] / 1e6:.1f} MB, second half "
            f"{soak['second_half_max_bytes'] / 1e6:.1f} MB), {soak['max_dead_tuples']:,} dead tuples, "
            f"{soak['max_live_tuples']:,} live tuples, a queued backlog of at most {soak['max_queued']:,}; "
            f"autovacuum ran {soak['autovacuum_count']} times on `jobs`, the pruner logged "
            f"{soak['prune_log_lines']} `jobs_pruned` lines; warning/error lines in the worker logs: "
            f"{soak['trouble_log_lines']}. Bounded (the second half never needed more than 10% over the "
            f"first half's largest size): **{'yes' if bounded else 'no'}**.")

    load_text = (f"{median(loads):.1f} (median), {max(loads):.1f} (highest)" if loads else "not recorded")
    plot_path = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.markdown)))
    goal_rise = ("met" if rising else "**not met**")
    goal_ratio = ("met" if not ratio_goal and any(ratio.values()) else
                  "**not met** at " + ", ".join(f"{w} process(es) ({ratio[w]:.2f}x)" for w in ratio_goal)
                  if ratio_goal else "not measured (no peers)")

    section = f"""{HEADING}

Written by `make bench-scale` (bench/scale/run.sh, bench/scale/report.py). personaworlds, graphile-worker and pg-boss on one PostgreSQL server started for the run by tests/support/postgres.sh (a database each, over its Unix socket, `fsync`, `full_page_writes` and `synchronous_commit` off for all, as in the Queue section), on the same machine in the same run. The machine is shared and its 2 cores also run the PostgreSQL server, the benchmark driver and every worker process: "2 cores' worth of PostgreSQL" is at most that, and less as the worker processes take their share.

Machine: {args.machine}

Load: 1-minute load average at the end of each measurement (the benchmark's own processes included; other work on the machine shows here too) {load_text}, on 2 cores.

### Throughput against worker processes

Medians of {len(runs)} run(s); {settings.get('jobs', '?')} noop jobs or {settings.get('sim_jobs', '?')} world.simulate jobs ({settings.get('sim_ticks', '?')} ticks, 8 personas each) per drain.

{tp_table}
![Throughput against worker processes]({plot_path})

Against one process: personaworlds noop {scaling(ours_noop)}""" + "".join(
        f"; {names[c]} {scaling(med[c])}" for c in columns if c != (OURS, "noop")) + f""" (at {", ".join(str(w) for w in worker_counts)} processes).

Goals: throughput keeps rising up to 4 worker processes (noop): {goal_rise} (peak at {peak} processes; world.simulate rising up to 4: {'yes' if sim_rising else 'no'}); at least 1.5x the best peer at every worker count (median of the same-run ratios): {goal_ratio}.

How it was measured:

- Every drain starts from fresh tables (our public schema dropped and migrated again; graphile-worker's and pg-boss's schemas dropped and installed again), the jobs enqueued up front untimed in batches of 1,000, the job table vacuumed, analyzed and checkpointed. The clock runs from starting the worker processes (start-up included) until no job is queued or running. At each process count ours, graphile-worker and pg-boss ran one after the other, then our world.simulate drain, so the three see the same noise; the ratio column is the median over runs of ours over the better peer of the same run.
- personaworlds: that many `personaworlds worker` processes with `--concurrency 128 --batch-size 128` (the tuned flags of the Queue section), JSON log lines to files.
- graphile-worker 0.17.3: that many Node processes, each `run()` with `concurrency` {settings.get('graphile_concurrency', '?')} (the best of 1 / 4 / 10 / 32 in the Queue section's pre-run on this machine) and `maxPoolSize` 10, a no-op task, its defaults otherwise.
- pg-boss 10.4.2: that many Node processes, each {settings.get('pgboss_concurrency', '?')} `work()` loops with `batchSize` {settings.get('pgboss_batch', '?')} (the best of a pre-run of 10 / 100 / 1,000 at 2 processes) and `pollingIntervalSeconds` 0.5 (its minimum: a loop that found jobs waits out the rest of the interval before the next fetch), a no-op handler, its defaults otherwise. pg-boss 10 has no per-process concurrency setting; several `work()` loops are how its documentation has a process take more.
- world.simulate: only ours; the peers have no such handler. Each job reads its world's 8 personas, simulates and writes the events in batches, then finishes the simulation: CPU in the worker and several writes per job.

### Enqueue-to-start latency at a steady rate

personaworlds only (the peers' latency at 1,000 jobs/s is in the Queue section). Medians of {lat_runs} run(s) of {settings.get('latency_s', '?')} s each: 2 idle worker processes with the tuned flags, noop jobs enqueued one per transaction on a fixed open-loop schedule (job i due at i / rate) by 4 enqueuer threads (8 at 5,000 jobs/s), a connection each; latency from just before each enqueue call to the start of its handler (the noop run log, CLOCK_MONOTONIC of this machine).

{lat_table}
### The jobs table over a soak

{soak_text}

Finished jobs are kept for `--retention-ms` and then deleted by the pruner (a housekeeping thread in every worker: every `--prune-interval-ms`, `DELETE` in batches of `finished_at` past the retention, `FOR UPDATE SKIP LOCKED`); the soak runs with a retention of 60 s and a prune every 10 s, because with the default retention (7 days, pruned every minute) the table holds a week of finished jobs by design and grows for that week. The table's own autovacuum settings (migrations/postgres/0001_jobs.sql: a vacuum after 5,000 dead rows whatever the table's size, no cost delay, fillfactor 70) let the space of deleted and updated rows be reused.

{MARKER}
"""
    text = open(args.markdown).read() if os.path.exists(args.markdown) else "# Benchmarks\n"
    if HEADING in text:
        start = text.index(HEADING)
        end = text.find(MARKER, start)
        if end >= 0:
            end += len(MARKER) + 1
        else:
            following = text.find("\n## ", start + len(HEADING))
            end = len(text) if following < 0 else following + 1
        text = text[:start] + section + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(args.markdown, "w") as f:
        f.write(text)
    print(tp_table)
    print(lat_table)
    if samples and soak:
        print(soak_text)


if __name__ == "__main__":
    main()
