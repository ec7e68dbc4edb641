// plainjob's side of `make bench-queue`: the same measurements as
// pw_queue_bench, each printing one JSON line. run.sh copies this file next
// to the scratch node_modules (.bench/plainjob) and runs it there.
//
//   node plainjob_bench.mjs enqueue --db F --count N --batch B
//   node plainjob_bench.mjs process --db F --count N --workers K [--logger quiet|console --log-dir D]
//   node plainjob_bench.mjs latency --db F --rate R --seconds T
import Database from "better-sqlite3";
import { better, defineQueue, defineWorker } from "plainjob";
import { fork } from "node:child_process";
import fs from "node:fs";

// plainjob logs through `console` by default, four debug lines per job. The
// "quiet" logger drops debug lines (as anyone tuning for throughput would);
// info and above are kept. --logger console keeps plainjob's default.
const quiet = {
  debug() {},
  info() {},
  warn: console.warn,
  error: console.error,
};

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) options[argv[i].replace(/^--/, "")] = argv[i + 1];
  return options;
}

const load1 = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, like the C++ side

function freshDatabase(path) {
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(path + suffix, { force: true });
}

function openQueue(path, logger = quiet) {
  const connection = better(new Database(path));
  return defineQueue({ connection, logger });
}

function busy(db) {
  // Pending (0) or processing (1): an index probe, like the C++ side.
  return db.prepare("SELECT 1 FROM plainjob_jobs WHERE status IN (0, 1) LIMIT 1").get() !== undefined;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parseArgs(rest);
  const count = Number(args.count ?? 50000);

  if (command === "enqueue") {
    freshDatabase(args.db);
    const queue = openQueue(args.db);
    const batch = Number(args.batch ?? 1);
    const start = process.hrtime.bigint();
    if (batch <= 1) {
      for (let i = 0; i < count; i++) queue.add("bench", {});
    } else {
      for (let done = 0; done < count; done += batch) {
        queue.addMany("bench", new Array(Math.min(batch, count - done)).fill({}));
      }
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    queue.close();
    console.log(JSON.stringify({ impl: "plainjob", metric: batch <= 1 ? "enqueue_single" : "enqueue_batch",
      count, batch, seconds, value: count / seconds, run: Number(args.run ?? 0), load1: load1() }));
    return;
  }

  if (command === "worker") {
    // A child: runs "bench" jobs until SIGTERM; with --record, writes the
    // start time of each job to that file on the way out.
    const logger = args.logger === "console" ? console : quiet;
    const queue = openQueue(args.db, logger);
    const started = [];
    const worker = defineWorker("bench", async (job) => {
      if (args.record) started.push(job.id, nowUs());
    }, { queue, logger, pollIntervall: 1 });
    process.on("SIGTERM", async () => {
      await worker.stop();
      if (args.record) fs.writeFileSync(args.record, JSON.stringify(started));
      queue.close();
      process.exit(0);
    });
    process.send?.("ready");
    await worker.start();
    return;
  }

  if (command === "process") {
    freshDatabase(args.db);
    const queue = openQueue(args.db);
    for (let done = 0; done < count; done += 1000) {
      queue.addMany("bench", new Array(Math.min(1000, count - done)).fill({}));
    }
    queue.close();
    const db = new Database(args.db, { readonly: true });
    db.pragma("busy_timeout = 10000");
    const workers = Number(args.workers ?? 1);
    const start = process.hrtime.bigint();
    const children = [];
    const logger = args.logger ?? "quiet";
    for (let i = 0; i < workers; i++) {
      // Worker output goes to a file, as ours does.
      const log = fs.openSync(`${args["log-dir"] ?? "."}/plainjob-${i}.log`, "w");
      children.push(fork(new URL(import.meta.url).pathname, ["worker", "--db", args.db, "--logger", logger],
        { stdio: ["ignore", log, log, "ipc"] }));
    }
    while (busy(db)) await sleep(2);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await Promise.all(children.map((child) => new Promise((resolve) => {
      child.on("exit", resolve);
      child.kill("SIGTERM");
    })));
    const done = db.prepare("SELECT count(*) AS n FROM plainjob_jobs WHERE status = 2").get().n;
    if (done !== count) throw new Error(`only ${done} of ${count} jobs done`);
    const result = { impl: "plainjob", metric: "process", workers, count, seconds, value: count / seconds,
      logger, run: Number(args.run ?? 0), load1: load1() };
    if (args.variant) result.variant = args.variant;
    console.log(JSON.stringify(result));
    return;
  }

  if (command === "latency") {
    freshDatabase(args.db);
    const queue = openQueue(args.db);
    const record = `${args.db}.starts.json`;
    const child = fork(new URL(import.meta.url).pathname, ["worker", "--db", args.db, "--record", record]);
    await new Promise((resolve) => child.once("message", resolve));
    await sleep(200); // let it go idle
    const rate = Number(args.rate ?? 1000);
    const total = rate * Number(args.seconds ?? 10);
    const enqueuedAt = new Map();
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const start = nowUs();
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1e6) / rate;
      const wait = due - nowUs();
      if (wait > 0) Atomics.wait(pause, 0, 0, wait / 1000); // precise pacing, ms with fractions
      const before = nowUs();
      enqueuedAt.set(queue.add("bench", {}).id, before);
    }
    const achieved = total / ((nowUs() - start) / 1e6);
    const db = new Database(args.db, { readonly: true });
    while (busy(db)) await sleep(5);
    await new Promise((resolve) => {
      child.on("exit", resolve);
      child.kill("SIGTERM");
    });
    const starts = JSON.parse(fs.readFileSync(record, "utf8"));
    const latencies = [];
    for (let i = 0; i < starts.length; i += 2) {
      const before = enqueuedAt.get(starts[i]);
      if (before !== undefined) latencies.push((starts[i + 1] - before) / 1000);
    }
    if (latencies.length !== total) throw new Error(`expected ${total} runs, saw ${latencies.length}`);
    latencies.sort((a, b) => a - b);
    const pick = (p) => latencies[Math.min(latencies.length - 1, Math.round(p * (latencies.length - 1)))];
    queue.close();
    console.log(JSON.stringify({ impl: "plainjob", metric: "latency", rate, achieved_rate: achieved, count: total,
      p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: pick(1), run: Number(args.run ?? 0), load1: load1() }));
    return;
  }

  throw new Error(`unknown command ${command}`);
}

main().catch((error) => {
  console.error(`plainjob_bench: ${error.stack ?? error}`);
  process.exit(1);
});
