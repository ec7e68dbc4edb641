// pg-boss's side of `make bench-scale`: noop jobs drained by K worker
// processes, the same measurement as pw_queue_bench process and
// graphile_bench.mjs process, printing one JSON line. run.sh copies this file
// next to the scratch node_modules (.bench/pgboss) and runs it there, against
// the same PostgreSQL server as ours (a database of its own on it).
//
//   node pgboss_bench.mjs process --database-url U --count N --workers K --concurrency C --batch-size B --log-dir D
//
// pg-boss 10 has no per-process concurrency setting: a process runs C
// `work()` loops, each fetching up to B jobs per statement (its batchSize),
// running them and completing them in one statement. A loop that found jobs
// waits out the rest of its polling interval before it fetches again unless
// a send in the same process wakes it, so the interval is at its allowed
// minimum (0.5 s) and B does most of the work. Everything else is at its
// defaults (maintenance included).
import PgBoss from "pg-boss";
import pg from "pg";
import { fork } from "node:child_process";
import fs from "node:fs";

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) options[argv[i].replace(/^--/, "")] = argv[i + 1];
  return options;
}

const load1 = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const QUEUE = "noop";
const POLLING_INTERVAL_S = 0.5;

async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// pg-boss's schema dropped and installed again (its own migration on
// start): every measurement starts from empty tables, as ours does. Then the
// jobs, untimed, in batches of 1,000, and the table vacuumed, analyzed and
// checkpointed as on our side.
async function freshQueue(url, count) {
  await withClient(url, (client) => client.query("SET client_min_messages = warning; "
    + "DROP SCHEMA IF EXISTS pgboss CASCADE"));
  const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false });
  boss.on("error", (error) => console.error(`pgboss_bench: ${error.stack ?? error}`));
  await boss.start();
  await boss.createQueue(QUEUE);
  for (let done = 0; done < count; done += 1000) {
    const n = Math.min(1000, count - done);
    await boss.insert(Array.from({ length: n }, () => ({ name: QUEUE, data: {} })));
  }
  await boss.stop({ graceful: false, wait: true });
  await withClient(url, async (client) => {
    await client.query("VACUUM (ANALYZE) pgboss.job");
    await client.query("CHECKPOINT");
  });
}

// True while a job of the queue is created, retrying or active (the index
// pg-boss fetches with, job_i5, covers the first two).
async function busy(client) {
  const { rows } = await client.query({
    name: "busy",
    text: "SELECT EXISTS (SELECT 1 FROM pgboss.job WHERE name = $1 AND state < 'completed') AS busy",
    values: [QUEUE],
  });
  return rows[0].busy;
}

function startWorkers(args, count) {
  const children = [];
  const files = [];
  for (let i = 0; i < count; i++) {
    const log = fs.openSync(`${args["log-dir"] ?? "."}/pgboss-${i}.log`, "w");
    files.push(`${args["log-dir"] ?? "."}/pgboss-${i}.ran.json`);
    fs.rmSync(files[i], { force: true });
    children.push(fork(new URL(import.meta.url).pathname,
      ["worker", "--database-url", args["database-url"], "--concurrency", String(args.concurrency ?? 4),
        "--batch-size", String(args["batch-size"] ?? 100), "--ran", files[i]],
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
  const concurrency = Number(args.concurrency ?? 4);
  const batchSize = Number(args["batch-size"] ?? 100);

  if (command === "worker") {
    // A child: runs noop jobs until SIGTERM, then writes how many it ran to --ran.
    // The handler goes in first: with few jobs and many processes, the
    // drain can end while this one is still starting (it then ran none).
    let ran = 0;
    const boss = new PgBoss({ connectionString: url, max: Math.max(10, concurrency + 2) });
    boss.on("error", (error) => console.error(`pgboss worker: ${error.stack ?? error}`));
    const started = boss.start();
    let stopping = false;
    process.on("SIGTERM", async () => {
      stopping = true;
      await started;
      await boss.stop({ graceful: true, wait: true, timeout: 5000 });
      fs.writeFileSync(args.ran, JSON.stringify(ran));
      process.exit(0);
    });
    await started;
    for (let i = 0; i < concurrency && !stopping; i++) {
      await boss.work(QUEUE, { batchSize, pollingIntervalSeconds: POLLING_INTERVAL_S }, async (jobs) => {
        ran += jobs.length;
      });
    }
    process.send?.("ready");
    return;
  }

  if (command === "process") {
    const count = Number(args.count ?? 20000);
    await freshQueue(url, count);
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
    const { rows } = await client.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'",
      [QUEUE]);
    await client.end();
    // No file: the child was stopped while still loading, before its
    // SIGTERM handler (set before any work() loop) was in place; it ran none.
    const ran = files.reduce((sum, file) => sum + (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : 0), 0);
    if (ran !== count || rows[0].n !== count) throw new Error(`${ran} runs, ${rows[0].n} completed for ${count} jobs`);
    const result = { impl: "pg-boss", driver: "postgres", run: Number(args.run ?? 0),
      metric: args.probe ? "concurrency_probe" : "process", job_type: "noop", workers, concurrency,
      batch_size: batchSize, count, seconds, value: count / seconds, load1: load1() };
    console.log(JSON.stringify(result));
    return;
  }

  throw new Error(`unknown command ${command}`);
}

main().catch((error) => {
  console.error(`pgboss_bench: ${error.stack ?? error}`);
  process.exit(1);
});
