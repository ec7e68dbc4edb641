// graphile-worker's side of the PostgreSQL part of `make bench-queue`: the
// same measurements as pw_queue_bench --database-url, each printing one JSON
// line. run.sh copies this file next to the scratch node_modules
// (.bench/graphile) and runs it there, against the same PostgreSQL server as
// ours (a database of its own on it).
//
//   node graphile_bench.mjs enqueue --database-url U --count N --batch B
//   node graphile_bench.mjs process --database-url U --count N --workers K --concurrency C --log-dir D
//   node graphile_bench.mjs latency --database-url U --rate R --seconds T --concurrency C [--enqueuers E] --log-dir D
//
// graphile-worker runs with its defaults (LISTEN/NOTIFY plus a 2 s poll, no
// local queue, no batched completions, its console logger) except for
// `concurrency` and the pool size its documentation asks for with it
// (maxPoolSize: the larger of 10 and concurrency + 2).
import { makeWorkerUtils, run, runMigrations } from "graphile-worker";
import pg from "pg";
import { fork } from "node:child_process";
import fs from "node:fs";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) options[argv[i].replace(/^--/, "")] = argv[i + 1];
  return options;
}

const load1 = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, like the C++ side
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const TASK = "noop";

function workerOptions(url, concurrency) {
  return { connectionString: url, concurrency, maxPoolSize: Math.max(10, concurrency + 2) };
}

async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// graphile-worker's schema, dropped and installed again: every measurement
// starts from empty tables, as ours does.
async function freshSchema(url) {
  await withClient(url, (client) => client.query("SET client_min_messages = warning; "
    + "DROP SCHEMA IF EXISTS graphile_worker CASCADE"));
  await runMigrations({ connectionString: url });
}

// After the untimed bulk load, as on our side: vacuumed, analyzed, checkpointed.
async function settle(url) {
  await withClient(url, async (client) => {
    await client.query("VACUUM (ANALYZE) graphile_worker._private_jobs");
    await client.query("CHECKPOINT");
  });
}

async function enqueueBatches(utils, count) {
  for (let done = 0; done < count; done += 1000) {
    const n = Math.min(1000, count - done);
    await utils.addJobs(Array.from({ length: n }, () => ({ identifier: TASK, payload: {} })));
  }
}

// A finished job is deleted; one that failed stays with its error. True while
// any job is in the table (a primary key probe, like the C++ side's index probes).
async function busy(client) {
  const { rows } = await client.query({ name: "busy", text: "SELECT min(id) AS id FROM graphile_worker._private_jobs" });
  return rows[0].id !== null;
}

function startWorkers(args, count, extra = []) {
  const children = [];
  const files = [];
  for (let i = 0; i < count; i++) {
    // Worker output goes to a file, as ours does; each child writes the jobs it ran to `counts`.
    const log = fs.openSync(`${args["log-dir"] ?? "."}/graphile-${i}.log`, "w");
    files.push(`${args["log-dir"] ?? "."}/graphile-${i}.ran.json`);
    fs.rmSync(files[i], { force: true });
    children.push(fork(new URL(import.meta.url).pathname,
      ["worker", "--database-url", args["database-url"], "--concurrency", String(args.concurrency ?? 1),
        "--ran", files[i], ...extra],
      { stdio: ["ignore", log, log, "ipc"] }));
  }
  for (const child of children) {
    child.exited = false;
    child.on("exit", () => { child.exited = true; });
  }
  return { children, files };
}

async function stopWorkers(children) {
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exited) return resolve();
    child.on("exit", resolve);
    child.kill("SIGTERM");
  })));
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parseArgs(rest);
  const url = args["database-url"];
  if (!url) throw new Error("--database-url is required");
  const count = Number(args.count ?? 50000);
  const concurrency = Number(args.concurrency ?? 1);
  const common = { impl: "graphile-worker", driver: "postgres", run: Number(args.run ?? 0) };

  if (command === "enqueue") {
    await freshSchema(url);
    const utils = await makeWorkerUtils({ connectionString: url });
    const batch = Number(args.batch ?? 1);
    const start = process.hrtime.bigint();
    if (batch <= 1) {
      for (let i = 0; i < count; i++) await utils.addJob(TASK, {});
    } else {
      for (let done = 0; done < count; done += batch) {
        const n = Math.min(batch, count - done);
        await utils.addJobs(Array.from({ length: n }, () => ({ identifier: TASK, payload: {} })));
      }
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await utils.release();
    console.log(JSON.stringify({ ...common, metric: batch <= 1 ? "enqueue_single" : "enqueue_batch", count, batch,
      seconds, value: count / seconds, load1: load1() }));
    return;
  }

  if (command === "worker") {
    // A child: runs noop jobs until SIGTERM, then writes how many it ran to
    // --ran and, with --record, the start time of each to that file.
    let ran = 0;
    const started = [];
    const record = Boolean(args.record);
    const runner = await run({
      ...workerOptions(url, concurrency),
      noHandleSignals: true,
      taskList: {
        [TASK]: async (payload, helpers) => {
          if (record) started.push(helpers.job.id, nowUs());
          ran++;
        },
      },
    });
    process.on("SIGTERM", async () => {
      await runner.stop();
      fs.writeFileSync(args.ran, JSON.stringify(ran));
      if (record) fs.writeFileSync(args.record, JSON.stringify(started));
      process.exit(0);
    });
    process.send?.("ready");
    await runner.promise;
    return;
  }

  if (command === "process") {
    await freshSchema(url);
    const utils = await makeWorkerUtils({ connectionString: url });
    await enqueueBatches(utils, count);
    await utils.release();
    await settle(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const workers = Number(args.workers ?? 1);
    const start = process.hrtime.bigint();
    const { children, files } = startWorkers(args, workers);
    while (await busy(client)) {
      if (children.some((child) => child.exited)) throw new Error(`a worker exited early; see ${args["log-dir"]}`);
      await sleep(2);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await stopWorkers(children);
    await client.end();
    const ran = files.reduce((sum, file) => sum + JSON.parse(fs.readFileSync(file, "utf8")), 0);
    if (ran !== count) throw new Error(`${ran} runs for ${count} jobs`);
    const result = { ...common, metric: args.probe ? "concurrency_probe" : "process", workers, concurrency,
      count, seconds, value: count / seconds, load1: load1() };
    if (args.variant) result.variant = args.variant;
    console.log(JSON.stringify(result));
    return;
  }

  if (command === "latency") {
    await freshSchema(url);
    const record = `${args["log-dir"] ?? "."}/graphile-latency.starts.json`;
    fs.rmSync(record, { force: true });
    const { children, files } = startWorkers(args, 1, ["--record", record]);
    await new Promise((resolve) => children[0].once("message", resolve));
    await sleep(200); // let it go idle
    // The schedule is fixed, as on our side: job i is due at start + i / rate;
    // E enqueuer threads (a connection each) take every E-th job.
    const rate = Number(args.rate ?? 1000);
    const total = rate * Number(args.seconds ?? 10);
    const enqueuers = Math.max(1, Number(args.enqueuers ?? 1));
    const threads = Array.from({ length: enqueuers }, (_, k) =>
      new Worker(new URL(import.meta.url), { workerData: { url, rate, total, first: k, step: enqueuers } }));
    await Promise.all(threads.map((thread) => new Promise((resolve) => thread.once("message", resolve))));
    const start = nowUs() + 50_000; // every thread connected and waiting
    const parts = await Promise.all(threads.map((thread) => new Promise((resolve, reject) => {
      thread.once("message", resolve);
      thread.once("error", reject);
      thread.postMessage(start);
    })));
    const achieved = total / ((nowUs() - start) / 1e6);
    const enqueuedAt = new Map(parts.flat());
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    while (await busy(client)) {
      if (children[0].exited) throw new Error(`the worker exited early; see ${args["log-dir"]}`);
      await sleep(5);
    }
    await client.end();
    await stopWorkers(children);
    const starts = JSON.parse(fs.readFileSync(record, "utf8"));
    const latencies = [];
    for (let i = 0; i < starts.length; i += 2) {
      const before = enqueuedAt.get(String(starts[i]));
      if (before !== undefined) latencies.push((starts[i + 1] - before) / 1000);
    }
    if (latencies.length !== total) throw new Error(`expected ${total} runs, saw ${latencies.length} (${files[0]})`);
    latencies.sort((a, b) => a - b);
    const pick = (p) => latencies[Math.min(latencies.length - 1, Math.round(p * (latencies.length - 1)))];
    console.log(JSON.stringify({ ...common, metric: "latency", rate, enqueuers, achieved_rate: achieved, count: total,
      concurrency, p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: pick(1), load1: load1() }));
    return;
  }

  throw new Error(`unknown command ${command}`);
}

// An enqueuer thread of the latency command: jobs first, first + step, ...
// of the schedule, each addJob awaited; answers [id, time before the call] pairs.
async function enqueuer() {
  const { url, rate, total, first, step } = workerData;
  const utils = await makeWorkerUtils({ connectionString: url });
  await utils.withPgClient(() => {}); // connected before the clock starts
  const start = await new Promise((resolve) => { parentPort.once("message", resolve); parentPort.postMessage("ready"); });
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const enqueued = [];
  for (let i = first; i < total; i += step) {
    const wait = start + (i * 1e6) / rate - nowUs();
    if (wait > 0) Atomics.wait(pause, 0, 0, wait / 1000); // precise pacing, ms with fractions
    const before = nowUs();
    enqueued.push([String((await utils.addJob(TASK, {})).id), before]);
  }
  await utils.release();
  parentPort.postMessage(enqueued);
}

(isMainThread ? main() : enqueuer()).catch((error) => {
  console.error(`graphile_bench: ${error.stack ?? error}`);
  process.exit(1);
});
