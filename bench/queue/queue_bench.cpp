// The job queue benchmark driver for our side of `make bench-queue`
// (bench/queue/run.sh runs it, plainjob_bench.mjs for plainjob on SQLite and
// graphile_bench.mjs for graphile-worker on PostgreSQL). Every command but
// `report` works on either database, named by --db FILE (SQLite) or
// --database-url URL (PostgreSQL; the database must exist, its public
// schema is dropped and migrated again); each prints one JSON line with its
// result, `driver` saying which database it ran on:
//
//   pw_queue_bench enqueue --db F | --database-url U --count N --batch B
//       enqueue rate through the job table, B jobs per transaction (1: enqueue()).
//   pw_queue_bench process --binary P --db F | --database-url U --count N --workers K --log-dir D [-- worker flags]
//       N noop jobs enqueued up front (untimed), then K `personaworlds worker`
//       processes started; jobs/s from their start until no job is queued or
//       running. Worker logs go to files in D, as they would to a log pipe.
//   pw_queue_bench latency --binary P --db F | --database-url U --rate R --seconds T [--enqueuers E] --log-dir D
//                          [--dump FILE] [-- worker flags]
//       one worker idling, then noop jobs enqueued one per transaction at a
//       steady R per second (--enqueuers E: by E threads, a connection each,
//       taking turns; 1 by default); enqueue-to-start latency per job from the time
//       just before each enqueue to the time its handler started (the noop
//       run log, PW_NOOP_RUN_LOG, CLOCK_MONOTONIC on both sides: the client
//       clocks of one machine, never the database server's).
//   pw_queue_bench mixed --binary P --db F | --database-url U --count N --slow-percent S [--delay-ms D]
//                        --log-dir D [-- worker flags]
//       N noop jobs and, interleaved among them so that they make S% of the
//       queue, webhook.deliver jobs to a receiver in this process that
//       answers each after D ms (200 by default); one worker started (with
//       --allow-private-webhooks besides the flags given), noop jobs/s from
//       its start until no noop job is queued or running. S = 0 is the
//       noop-only figure the mixed one is judged against (metric mixed,
//       slow_percent S).
//   pw_queue_bench process ... --job-type world.simulate [--ticks T] [--personas P]   (PostgreSQL)
//       the same with N world.simulate jobs: one user and world with P
//       personas, N simulations of T ticks each (created untimed, as the API
//       would); the handler reads the personas, simulates and writes events.
//   pw_queue_bench soak --binary P --database-url U --workers K --rate R --seconds T --sample S
//                       [--enqueuers E] --log-dir D [-- worker flags]
//       K workers, noop jobs enqueued one per transaction at a steady R per
//       second for T seconds; every S seconds one JSON line (metric
//       soak_sample) with the size of the jobs table (pg_total_relation_size),
//       its live and dead tuples and autovacuum runs (pg_stat_user_tables),
//       and the queued backlog; then a summary line (metric soak).
//   pw_queue_bench report --results F[,F...] --markdown OUT --machine TEXT [--machine-postgres TEXT]
//                         [--baseline TEXT]
//       medians over the runs in the files (JSON lines of the above plus the
//       peers'), printed as one table per database and written as the
//       "Queue" section of OUT: SQLite first, PostgreSQL under "### PostgreSQL".
//       A database without results keeps its part of the section as it was.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"
#include "queue/clock.hpp"
#include "queue/job_queue.hpp"
#include "queue/postgres_job_queue.hpp"
#include "jobs/contract.hpp"
#include "domain/limits.hpp"
#include "store/postgres/store.hpp"

extern char** environ;

namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Args {
  std::map<std::string, std::string> options;
  std::vector<std::string> passthrough;  // after "--"

  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto found = options.find(key);
    return found == options.end() ? fallback : found->second;
  }
  std::int64_t number(const std::string& key, std::int64_t fallback) const {
    auto found = options.find(key);
    return found == options.end() ? fallback : std::stoll(found->second);
  }
};

Args parse(int argc, char** argv, int first) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      args.passthrough.assign(argv + i + 1, argv + argc);
      break;
    }
    if (arg.rfind("--", 0) == 0 && i + 1 < argc) {
      args.options[arg.substr(2)] = argv[++i];
    } else {
      throw std::invalid_argument("unexpected argument " + arg);
    }
  }
  return args;
}

std::int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now().time_since_epoch()).count();
}

pw::config::DatabaseConfig database(const std::string& path) {
  pw::config::DatabaseConfig config;
  config.path = path;
  return config;
}

// Where the jobs live: a SQLite file (--db) or a PostgreSQL database
// (--database-url). Only Target, QueueSession and Watch know which; the
// commands are the same for both.
struct Target {
  std::string path;  // SQLite
  std::string url;   // PostgreSQL

  bool postgres() const { return !url.empty(); }
  const char* driver() const { return postgres() ? "postgres" : "sqlite"; }
  pw::db::postgres::Settings server() const { return pw::db::postgres::Settings{url}; }
};

Target target_of(const Args& args) {
  Target target{args.get("db"), args.get("database-url")};
  if (target.path.empty() == target.url.empty()) {
    throw std::invalid_argument("give one of --db FILE (SQLite) or --database-url URL (PostgreSQL)");
  }
  return target;
}

// A fresh, migrated database: the SQLite file created again, or on
// PostgreSQL the public schema (jobs and every other table) dropped and
// migrated again.
void create_database(const Target& target) {
  if (target.postgres()) {
    pw::db::postgres::Connection connection(target.server());
    connection.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
    pw::migrations::PostgresMigrator(connection, pw::migrations::embedded(pw::migrations::Dialect::postgres))
        .apply_pending();
    return;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(target.path + suffix);
  pw::db::Connection connection(database(target.path));
  pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
}

// Our job table on its own connection, as the API or `jobs enqueue` holds one.
class QueueSession {
 public:
  explicit QueueSession(const Target& target) {
    if (target.postgres()) {
      m_postgres = std::make_unique<pw::db::postgres::Connection>(target.server());
      m_queue = std::make_unique<pw::queue::PostgresJobQueue>(*m_postgres, m_clock, pw::config::RetryConfig{});
    } else {
      m_sqlite = std::make_unique<pw::db::Connection>(database(target.path));
      m_queue = std::make_unique<pw::queue::JobQueue>(*m_sqlite, m_clock, pw::config::RetryConfig{});
    }
  }

  pw::queue::JobTable& queue() { return *m_queue; }

  // After the untimed bulk load, so that every measurement starts alike:
  // SQLite from an empty WAL; PostgreSQL from a vacuumed, analyzed job table
  // and a checkpoint (graphile_bench.mjs does the same to its table).
  void settle() {
    if (m_postgres) {
      m_postgres->exec("VACUUM (ANALYZE) jobs");
      m_postgres->exec("CHECKPOINT");
    } else {
      m_sqlite->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
  }

 private:
  pw::queue::SystemClock m_clock;  // before the queue, which refers to it
  std::unique_ptr<pw::db::Connection> m_sqlite;
  std::unique_ptr<pw::db::postgres::Connection> m_postgres;
  std::unique_ptr<pw::queue::JobTable> m_queue;
};

void enqueue_noops(const Target& target, std::int64_t count) {
  QueueSession session(target);
  pw::queue::NewJob job;
  job.type = "noop";
  std::vector<pw::queue::NewJob> batch(1000, job);
  for (std::int64_t done = 0; done < count;) {
    std::int64_t n = std::min<std::int64_t>(1000, count - done);
    batch.resize(static_cast<std::size_t>(n), job);
    session.queue().enqueue_many(batch);
    done += n;
  }
  session.settle();
}

// N world.simulate jobs as the API leaves them: one user's world with
// `personas` personas and N simulations of `ticks` ticks, each job naming its
// simulation. All in one untimed transaction, then settled like the noops.
void enqueue_simulations(const Target& target, std::int64_t count, int ticks, int personas) {
  if (!target.postgres()) throw std::invalid_argument("--job-type world.simulate needs --database-url");
  std::vector<pw::queue::NewJob> jobs;
  {
    pw::db::postgres::Connection connection(target.server());
    pw::store::PostgresStore store(connection);
    connection.exec("BEGIN");
    auto user = store.create_user("bench", "bench-token-hash", 1);
    auto world = store.create_world(user.id, {"Bench", "", 42}, 1);
    for (int i = 0; i < personas; ++i) {
      store.add_persona(world.id, pw::domain::NewPersona{"p" + std::to_string(i), {}}, pw::store::PersonaOrigin{}, 1);
    }
    for (std::int64_t i = 0; i < count; ++i) {
      auto simulation = store.create_simulation(
          {world.id, user.id, ticks, std::nullopt, pw::domain::max_simulation_events(ticks, personas)}, 1);
      jobs.push_back(pw::jobs::new_job(pw::jobs::SimulateWorldArgs{simulation.id, world.id}));
    }
    connection.exec("COMMIT");
  }
  QueueSession session(target);
  for (std::size_t done = 0; done < jobs.size(); done += 1000) {
    std::vector<pw::queue::NewJob> batch(jobs.begin() + static_cast<std::ptrdiff_t>(done),
                                         jobs.begin() + static_cast<std::ptrdiff_t>(std::min(jobs.size(), done + 1000)));
    session.queue().enqueue_many(batch);
  }
  session.settle();
}

// The driver's own view of the job table while workers run: whether any job
// is queued or running (two index probes), how many reached a state.
class Watch {
 public:
  explicit Watch(const Target& target) {
    if (target.postgres()) {
      m_postgres = std::make_unique<pw::db::postgres::Connection>(target.server());
    } else {
      m_sqlite = std::make_unique<SQLite::Database>(target.path, SQLite::OPEN_READONLY);
      m_sqlite->setBusyTimeout(10000);
    }
  }

  bool busy() {
    if (m_postgres) {
      // The first entry of the partial indexes jobs_ready and jobs_leases,
      // in their order, so that the planner walks them. (EXISTS drops the
      // ORDER BY, and its sequential scan then reads every finished row
      // before the first queued one: close to 1 ms a probe by the end of a
      // run, taken from the workers.)
      return m_postgres
          ->prepared("bench_busy",
                     "SELECT (SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority, run_at, id LIMIT 1) "
                     "IS NOT NULL OR (SELECT id FROM jobs WHERE state = 'running' ORDER BY lease_expires_at LIMIT 1) "
                     "IS NOT NULL")
          .boolean(0, 0);
    }
    SQLite::Statement query(*m_sqlite,
                            "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE state = 'queued') OR "
                            "EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_leases WHERE state = 'running')");
    query.executeStep();
    return query.getColumn(0).getInt() != 0;
  }

  // Any job of `type` queued or running, from the ready and lease indexes
  // (a walk past the other types' queued rows): cheap enough every 20 ms.
  bool busy_type(const std::string& type) {
    if (m_postgres) {
      return m_postgres
          ->prepared("bench_busy_type",
                     "SELECT EXISTS (SELECT 1 FROM (SELECT type FROM jobs WHERE state = 'queued' "
                     "ORDER BY priority, run_at, id) q WHERE type = $1) OR "
                     "EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND type = $1)",
                     pw::db::postgres::Params().add(type))
          .boolean(0, 0);
    }
    SQLite::Statement query(*m_sqlite,
                            "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE state = 'queued' "
                            "AND type = ?1) OR "
                            "EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_leases WHERE state = 'running' AND type = ?1)");
    query.bind(1, type);
    query.executeStep();
    return query.getColumn(0).getInt() != 0;
  }

  // When the last job of `type` finished, in ms since the epoch, as the
  // workers recorded it.
  std::int64_t last_finished_ms(const std::string& type) {
    if (m_postgres) {
      return m_postgres
          ->prepared("bench_last_finished", "SELECT max(finished_at) FROM jobs WHERE type = $1",
                     pw::db::postgres::Params().add(type))
          .int64(0, 0);
    }
    SQLite::Statement query(*m_sqlite, "SELECT max(finished_at) FROM jobs WHERE type = ?");
    query.bind(1, type);
    query.executeStep();
    return query.getColumn(0).getInt64();
  }

  std::int64_t count_state(const char* state) {
    if (m_postgres) {
      return m_postgres->query("SELECT count(*) FROM jobs WHERE state = $1", pw::db::postgres::Params().add(state))
          .int64(0, 0);
    }
    SQLite::Statement query(*m_sqlite, "SELECT count(*) FROM jobs WHERE state = ?");
    query.bind(1, state);
    query.executeStep();
    return query.getColumn(0).getInt64();
  }

 private:
  std::unique_ptr<SQLite::Database> m_sqlite;
  std::unique_ptr<pw::db::postgres::Connection> m_postgres;
};

class Child {
 public:
  Child(const std::string& binary, const std::vector<std::string>& args, const std::string& log_path,
        const std::map<std::string, std::string>& env = {}) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> argv_text = {binary};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text;
    for (char** e = environ; *e; ++e) env_text.emplace_back(*e);
    for (const auto& [key, value] : env) env_text.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = posix_spawn(&m_pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
  }
  ~Child() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  // True once the child has exited (it is then reaped).
  bool exited() {
    int status = 0;
    if (m_pid > 0 && ::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return true;
    }
    return m_pid <= 0;
  }
  int stop() {
    if (m_pid <= 0) return 0;
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t m_pid = -1;
};

std::int64_t lines_containing(const std::string& path, const std::vector<std::string>& needles) {
  std::ifstream in(path);
  std::int64_t found = 0;
  for (std::string line; std::getline(in, line);) {
    for (const auto& needle : needles) {
      if (line.find(needle) != std::string::npos) {
        ++found;
        break;
      }
    }
  }
  return found;
}

std::vector<std::string> worker_args(const Target& target, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"worker"};
  if (target.postgres()) {
    args.insert(args.end(), {"--database-url", target.url});
  } else {
    args.insert(args.end(), {"--db", target.path});
  }
  args.insert(args.end(), {"--observability-port", "0", "--observability-host", "127.0.0.1"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

void wait_for_line(const std::string& path, const std::string& needle) {
  auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (SteadyClock::now() < deadline) {
    if (lines_containing(path, {needle}) > 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("no '" + needle + "' in " + path);
}

// The 1-minute load average: other work on the machine, recorded beside each result.
double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

// ---- commands ------------------------------------------------------------

json enqueue_command(const Args& args) {
  Target target = target_of(args);
  std::int64_t count = args.number("count", 50000);
  std::int64_t batch = args.number("batch", 1);
  create_database(target);
  QueueSession session(target);
  pw::queue::JobTable& queue = session.queue();
  pw::queue::NewJob job;
  job.type = "noop";
  std::vector<pw::queue::NewJob> jobs(static_cast<std::size_t>(std::max<std::int64_t>(1, batch)), job);
  auto start = SteadyClock::now();
  for (std::int64_t done = 0; done < count;) {
    if (batch <= 1) {
      queue.enqueue(job);
      ++done;
    } else {
      std::int64_t n = std::min(batch, count - done);
      jobs.resize(static_cast<std::size_t>(n), job);
      queue.enqueue_many(jobs);
      done += n;
    }
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return {{"impl", "personaworlds"}, {"driver", target.driver()},
          {"metric", batch <= 1 ? "enqueue_single" : "enqueue_batch"}, {"count", count}, {"batch", batch},
          {"seconds", seconds}, {"value", count / seconds}};
}

// Log lines that tell of contention: SQLite's busy errors; on PostgreSQL any
// warning or error (lost races, lost connections, listener trouble).
std::vector<std::string> trouble_needles(const Target& target) {
  if (target.postgres()) return {"\"level\":\"warn\"", "\"level\":\"error\""};
  return {"SQLITE_BUSY", "database is locked"};
}

json process_command(const Args& args) {
  std::string binary = args.get("binary");
  Target target = target_of(args);
  std::string log_dir = args.get("log-dir", ".");
  std::int64_t count = args.number("count", 50000);
  int workers = static_cast<int>(args.number("workers", 1));
  std::string job_type = args.get("job-type", "noop");
  create_database(target);
  if (job_type == "world.simulate") {
    enqueue_simulations(target, count, static_cast<int>(args.number("ticks", 20)),
                        static_cast<int>(args.number("personas", 8)));
  } else if (job_type == "noop") {
    enqueue_noops(target, count);
  } else {
    throw std::invalid_argument("--job-type is noop or world.simulate");
  }

  Watch watch(target);
  std::vector<std::unique_ptr<Child>> children;
  std::vector<std::string> logs;
  auto start = SteadyClock::now();
  for (int i = 0; i < workers; ++i) {
    logs.push_back(log_dir + "/worker-" + std::to_string(i) + ".log");
    children.push_back(std::make_unique<Child>(binary, worker_args(target, args.passthrough), logs.back()));
  }
  while (watch.busy()) {
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i]->exited()) throw std::runtime_error("worker exited early; see " + logs[i]);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  int exit_codes = 0;
  for (auto& child : children) exit_codes |= child->stop();
  std::int64_t succeeded = watch.count_state("succeeded");
  std::int64_t busy_lines = 0;
  for (const auto& log : logs) busy_lines += lines_containing(log, trouble_needles(target));
  if (succeeded != count) throw std::runtime_error("only " + std::to_string(succeeded) + " jobs succeeded");
  return {{"impl", "personaworlds"}, {"driver", target.driver()}, {"metric", "process"}, {"workers", workers},
          {"job_type", job_type}, {"flags", joined(args.passthrough)}, {"count", count}, {"seconds", seconds},
          {"value", count / seconds}, {"busy_log_lines", busy_lines}, {"exit_codes", exit_codes}};
}

// A webhook receiver that answers every delivery after a fixed delay: the
// slow receiver of the mixed workload. Threads enough for every delivery a
// worker may hold open at once, so the delay is the receiver's only cost.
class SlowReceiver {
 public:
  explicit SlowReceiver(std::chrono::milliseconds delay) {
    m_server.new_task_queue = [] { return new httplib::ThreadPool(256); };
    m_server.Post("/hook", [this, delay](const httplib::Request&, httplib::Response& response) {
      std::this_thread::sleep_for(delay);
      ++m_answered;
      response.set_content("{}", "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    if (m_port <= 0) throw std::runtime_error("slow receiver: cannot bind 127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~SlowReceiver() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/hook"; }
  std::int64_t answered() const { return m_answered; }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::atomic<std::int64_t> m_answered{0};
};

json mixed_command(const Args& args) {
  std::string binary = args.get("binary");
  Target target = target_of(args);
  std::string log_dir = args.get("log-dir", ".");
  const std::int64_t count = args.number("count", 50000);
  const std::int64_t slow_percent = args.number("slow-percent", 10);
  if (slow_percent < 0 || slow_percent >= 100) throw std::invalid_argument("--slow-percent is 0 to 99");
  SlowReceiver receiver(std::chrono::milliseconds(args.number("delay-ms", 200)));
  create_database(target);
  std::int64_t webhooks = 0;
  {
    // Spread evenly: each slow job lands among the noop jobs, so a claim in
    // claim order meets both types, as a real mixed queue would.
    QueueSession session(target);
    pw::queue::NewJob noop;
    noop.type = "noop";
    pw::queue::NewJob webhook;
    webhook.type = "webhook.deliver";
    webhook.payload = json{{"url", receiver.url()}, {"body", {{"bench", true}}}}.dump();
    std::vector<pw::queue::NewJob> batch;
    std::int64_t noops = 0;
    double owed = 0;  // slow jobs due so far, by the share
    const double per_noop = static_cast<double>(slow_percent) / static_cast<double>(100 - slow_percent);
    while (noops < count) {
      batch.push_back(noop);
      ++noops;
      for (owed += per_noop; owed >= 1; owed -= 1) {
        batch.push_back(webhook);
        ++webhooks;
      }
      if (batch.size() >= 1000 || noops == count) {
        session.queue().enqueue_many(batch);
        batch.clear();
      }
    }
    session.settle();
  }

  Watch watch(target);
  std::vector<std::string> flags = {"--allow-private-webhooks"};
  flags.insert(flags.end(), args.passthrough.begin(), args.passthrough.end());
  const std::string log = log_dir + "/worker-mixed.log";
  // The clock stops at the last noop job's finish as the worker recorded
  // it: the watch polls slowly, so that its reads cost the worker little.
  const std::int64_t start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
  Child worker(binary, worker_args(target, flags), log);
  while (watch.busy_type("noop")) {
    if (worker.exited()) throw std::runtime_error("worker exited early; see " + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds = static_cast<double>(watch.last_finished_ms("noop") - start_ms) / 1000.0;
  const std::int64_t answered = receiver.answered();
  int exit_code = worker.stop();
  return {{"impl", "personaworlds"}, {"driver", target.driver()}, {"metric", "mixed"},
          {"slow_percent", slow_percent}, {"flags", joined(args.passthrough)}, {"count", count},
          {"webhooks", webhooks}, {"webhooks_answered", answered}, {"seconds", seconds}, {"value", count / seconds},
          {"exit_code", exit_code}};
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(std::min<double>(values.size() - 1, p * (values.size() - 1) + 0.5));
  return values[index];
}

json latency_command(const Args& args) {
  std::string binary = args.get("binary");
  Target target = target_of(args);
  std::string log_dir = args.get("log-dir", ".");
  std::int64_t rate = args.number("rate", 1000);
  std::int64_t seconds = args.number("seconds", 10);
  create_database(target);
  std::string run_log = log_dir + "/runs.log";
  std::string worker_log = log_dir + "/worker-latency.log";
  std::filesystem::remove(run_log);
  // --workers K: K worker processes appending to the one run log (one
  // write(2) per line, O_APPEND). The first one's log is worker_log.
  std::vector<std::unique_ptr<Child>> helpers;
  for (std::int64_t i = 1; i < args.number("workers", 1); ++i) {
    std::string log = log_dir + "/worker-latency-" + std::to_string(i) + ".log";
    helpers.push_back(std::make_unique<Child>(binary, worker_args(target, args.passthrough), log,
                                              std::map<std::string, std::string>{{"PW_NOOP_RUN_LOG", run_log}}));
    wait_for_line(log, "worker_started");
  }
  Child worker(binary, worker_args(target, args.passthrough), worker_log, {{"PW_NOOP_RUN_LOG", run_log}});
  wait_for_line(worker_log, "worker_started");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it go idle

  // The schedule is fixed: job i is due at start + i / rate, whatever the
  // enqueues before it took. E enqueuers (threads, a connection each) take
  // every E-th job, so a slow enqueue delays the next one only once E are
  // in flight. Per job: the time just before the enqueue call, and just
  // after it returned (committed), for the dump.
  using Times = std::unordered_map<std::int64_t, std::pair<std::int64_t, std::int64_t>>;
  const std::int64_t total = rate * seconds;
  const auto enqueuers = static_cast<std::size_t>(std::max<std::int64_t>(1, args.number("enqueuers", 1)));
  std::vector<std::unique_ptr<QueueSession>> sessions;
  for (std::size_t k = 0; k < enqueuers; ++k) sessions.push_back(std::make_unique<QueueSession>(target));
  std::vector<Times> times(enqueuers);
  std::vector<std::exception_ptr> errors(enqueuers);
  std::vector<std::thread> threads;
  auto start = SteadyClock::now();
  for (std::size_t k = 0; k < enqueuers; ++k) {
    threads.emplace_back([&, k] {
      try {
        pw::queue::NewJob job;
        job.type = "noop";
        for (auto i = static_cast<std::int64_t>(k); i < total; i += static_cast<std::int64_t>(enqueuers)) {
          std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / rate));
          std::int64_t before = monotonic_us();
          std::int64_t id = sessions[k]->queue().enqueue(job).id;
          times[k][id] = {before, monotonic_us()};
        }
      } catch (...) {
        errors[k] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  double achieved = total / std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  Times enqueued_at;
  for (auto& part : times) enqueued_at.merge(part);
  Watch watch(target);
  while (watch.busy()) {
    if (worker.exited()) throw std::runtime_error("worker exited early; see " + worker_log);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int exit_code = worker.stop();
  for (auto& helper : helpers) exit_code |= helper->stop();

  std::vector<double> latencies_ms;
  // --dump FILE: "<id> <enqueued us> <started us> <committed us>" per job
  // (enqueued: before the enqueue call; committed: when it returned).
  std::optional<std::ofstream> dump;
  if (!args.get("dump").empty()) dump.emplace(args.get("dump"));
  std::ifstream runs(run_log);
  for (std::string line; std::getline(runs, line);) {
    std::istringstream fields(line);
    std::int64_t id = 0, attempt = 0, started_us = 0;
    fields >> id >> attempt >> started_us;
    auto found = enqueued_at.find(id);
    if (found != enqueued_at.end()) {
      latencies_ms.push_back((started_us - found->second.first) / 1000.0);
      if (dump) *dump << id << ' ' << found->second.first << ' ' << started_us << ' ' << found->second.second << '\n';
    }
  }
  if (static_cast<std::int64_t>(latencies_ms.size()) != total) {
    throw std::runtime_error("expected " + std::to_string(total) + " runs, saw " + std::to_string(latencies_ms.size()));
  }
  return {{"impl", "personaworlds"}, {"driver", target.driver()}, {"metric", "latency"}, {"rate", rate},
          {"enqueuers", enqueuers}, {"workers", args.number("workers", 1)}, {"achieved_rate", achieved},
          {"count", total}, {"flags", joined(args.passthrough)}, {"p50_ms", percentile(latencies_ms, 0.50)},
          {"p99_ms", percentile(latencies_ms, 0.99)}, {"max_ms", percentile(latencies_ms, 1.0)},
          {"exit_code", exit_code}};
}

// The jobs table's footprint on PostgreSQL while load runs.
struct TableSample {
  std::int64_t bytes = 0, live = 0, dead = 0, autovacuums = 0, queued = 0;
};

TableSample sample_jobs_table(pw::db::postgres::Connection& connection) {
  auto rows = connection.query(
      "SELECT pg_total_relation_size('jobs'), n_live_tup, n_dead_tup, autovacuum_count, "
      "(SELECT count(*) FROM jobs WHERE state = 'queued') FROM pg_stat_user_tables WHERE relname = 'jobs'");
  return {rows.int64(0, 0), rows.int64(0, 1), rows.int64(0, 2), rows.int64(0, 3), rows.int64(0, 4)};
}

json soak_command(const Args& args) {
  std::string binary = args.get("binary");
  Target target = target_of(args);
  if (!target.postgres()) throw std::invalid_argument("soak needs --database-url");
  std::string log_dir = args.get("log-dir", ".");
  const std::int64_t rate = args.number("rate", 1000);
  const std::int64_t seconds = args.number("seconds", 600);
  const std::int64_t sample_every = std::max<std::int64_t>(1, args.number("sample", 10));
  const int workers = static_cast<int>(args.number("workers", 2));
  const auto enqueuers = static_cast<std::size_t>(std::max<std::int64_t>(1, args.number("enqueuers", 4)));
  create_database(target);

  std::vector<std::unique_ptr<Child>> children;
  std::vector<std::string> logs;
  for (int i = 0; i < workers; ++i) {
    logs.push_back(log_dir + "/worker-soak-" + std::to_string(i) + ".log");
    children.push_back(std::make_unique<Child>(binary, worker_args(target, args.passthrough), logs.back()));
    wait_for_line(logs.back(), "worker_started");
  }

  // The same open-loop schedule as `latency`: job i due at start + i / rate.
  const std::int64_t total = rate * seconds;
  std::vector<std::unique_ptr<QueueSession>> sessions;
  for (std::size_t k = 0; k < enqueuers; ++k) sessions.push_back(std::make_unique<QueueSession>(target));
  std::vector<std::exception_ptr> errors(enqueuers);
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  auto start = SteadyClock::now();
  for (std::size_t k = 0; k < enqueuers; ++k) {
    threads.emplace_back([&, k] {
      try {
        pw::queue::NewJob job;
        job.type = "noop";
        for (auto i = static_cast<std::int64_t>(k); i < total && !failed; i += static_cast<std::int64_t>(enqueuers)) {
          std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / rate));
          sessions[k]->queue().enqueue(job);
        }
      } catch (...) {
        errors[k] = std::current_exception();
        failed = true;
      }
    });
  }

  pw::db::postgres::Connection watcher(target.server());
  std::vector<TableSample> samples;
  for (std::int64_t t = sample_every; t <= seconds; t += sample_every) {
    std::this_thread::sleep_until(start + std::chrono::seconds(t));
    if (failed) break;
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i]->exited()) {
        failed = true;
        for (auto& thread : threads) thread.join();
        throw std::runtime_error("worker exited early; see " + logs[i]);
      }
    }
    samples.push_back(sample_jobs_table(watcher));
    const auto& s = samples.back();
    std::cout << json{{"impl", "personaworlds"}, {"driver", "postgres"}, {"metric", "soak_sample"}, {"t_s", t},
                      {"table_bytes", s.bytes}, {"live_tuples", s.live}, {"dead_tuples", s.dead},
                      {"autovacuum_count", s.autovacuums}, {"queued", s.queued}, {"load1", load_average()},
                      {"run", args.number("run", 0)}}
                     .dump()
              << std::endl;
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  double achieved = total / std::chrono::duration<double>(SteadyClock::now() - start).count();
  int exit_codes = 0;
  for (auto& child : children) exit_codes |= child->stop();
  std::int64_t trouble = 0;
  for (const auto& log : logs) trouble += lines_containing(log, trouble_needles(target));
  std::int64_t pruned = 0;
  for (const auto& log : logs) pruned += lines_containing(log, {"jobs_pruned"});
  auto max_of = [&](auto field) {
    std::int64_t most = 0;
    for (const auto& s : samples) most = std::max(most, s.*field);
    return most;
  };
  // Bounded: the second half of the run never needs more room than the
  // first half did at its largest (the table stopped growing once pruning
  // and autovacuum caught up).
  std::int64_t first_half_bytes = 0, second_half_bytes = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto& slot = i < samples.size() / 2 ? first_half_bytes : second_half_bytes;
    slot = std::max(slot, samples[i].bytes);
  }
  return {{"impl", "personaworlds"}, {"driver", "postgres"}, {"metric", "soak"}, {"rate", rate},
          {"achieved_rate", achieved}, {"seconds", seconds}, {"workers", workers}, {"count", total},
          {"flags", joined(args.passthrough)}, {"max_table_bytes", max_of(&TableSample::bytes)},
          {"max_dead_tuples", max_of(&TableSample::dead)}, {"max_live_tuples", max_of(&TableSample::live)},
          {"max_queued", max_of(&TableSample::queued)}, {"first_half_max_bytes", first_half_bytes},
          {"second_half_max_bytes", second_half_bytes},
          {"final_table_bytes", samples.empty() ? 0 : samples.back().bytes},
          {"final_dead_tuples", samples.empty() ? 0 : samples.back().dead},
          {"autovacuum_count", samples.empty() ? 0 : samples.back().autovacuums}, {"prune_log_lines", pruned},
          {"trouble_log_lines", trouble}, {"exit_codes", exit_codes}};
}

// ---- report --------------------------------------------------------------

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string thousands(double value) {
  auto n = static_cast<long long>(value + 0.5);
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// One database's results, as the report needs them.
struct Measurements {
  std::map<std::string, std::map<std::string, std::vector<double>>> values;  // key -> impl -> values
  std::map<std::string, std::string> flags;                                  // key + impl -> worker flags
  std::map<std::string, std::set<int>> concurrency;  // key -> graphile-worker's concurrency in its runs
  std::map<int, std::map<int, std::vector<double>>> probes;  // workers -> concurrency -> jobs/s (pre-run)
  std::int64_t probe_count = 0;
  std::int64_t count = 0;
  std::int64_t busy_lines = 0;
  int runs = 0;
  std::vector<double> loads;
  std::int64_t mixed_count = 0;
};

// Every line of every file (comma-separated names), by driver ("sqlite" when
// a line names none: results written before there was a PostgreSQL column).
std::map<std::string, Measurements> read_results(const std::string& files) {
  std::map<std::string, Measurements> by_driver;
  std::stringstream names(files);
  for (std::string name; std::getline(names, name, ',');) {
    if (name.empty()) continue;
    std::ifstream in(name);
    if (!in) throw std::runtime_error("cannot read " + name);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto r = json::parse(line);
      Measurements& m = by_driver[r.value("driver", std::string("sqlite"))];
      std::string impl = r["impl"];
      std::string metric = r["metric"];
      if (r.contains("run")) m.runs = std::max(m.runs, r["run"].get<int>());
      if (r.contains("load1")) m.loads.push_back(r["load1"]);
      if (metric == "concurrency_probe") {
        m.probes[r["workers"].get<int>()][r["concurrency"].get<int>()].push_back(r["value"]);
        m.probe_count = r["count"];
      } else if (metric == "process") {
        std::string key = "process_" + std::to_string(r["workers"].get<int>()) +
                          (r.contains("variant") ? "_" + r["variant"].get<std::string>() : "");
        m.values[key][impl].push_back(r["value"]);
        if (r.contains("flags")) m.flags[key + impl] = r["flags"];
        if (r.contains("concurrency")) m.concurrency[key].insert(r["concurrency"].get<int>());
        m.count = r["count"];
        m.busy_lines += r.value("busy_log_lines", 0);
      } else if (metric == "mixed") {
        m.values["mixed_" + std::to_string(r["slow_percent"].get<int>())][impl].push_back(r["value"]);
        m.mixed_count = r["count"];
      } else if (metric == "latency") {
        m.values["latency_p50"][impl].push_back(r["p50_ms"]);
        m.values["latency_p99"][impl].push_back(r["p99_ms"]);
        if (r.contains("achieved_rate")) m.values["latency_achieved"][impl].push_back(r["achieved_rate"]);
        m.concurrency["enqueuers"].insert(r.value("enqueuers", 1));
        if (r.contains("flags")) m.flags["latency" + impl] = r["flags"];
        if (r.contains("concurrency")) m.concurrency["latency"].insert(r["concurrency"].get<int>());
      } else {
        m.values[metric][impl].push_back(r["value"]);
      }
    }
  }
  return by_driver;
}

// Each row compares one of our measurements with one of the peer's.
struct Row {
  std::string ours;    // key of our value
  std::string theirs;  // key of the peer's value ("" for none)
  std::string label;
  bool lower_is_better = false;
};

// Medians of both sides and their ratio ("" when either is missing).
struct Compared {
  double ours = 0;
  double theirs = 0;
  bool both = false;
  double ratio = 0;  // how many times better ours is
};

Compared compare(Measurements& m, const Row& row, const std::string& peer) {
  Compared c;
  auto ours = m.values[row.ours]["personaworlds"];
  auto theirs = row.theirs.empty() ? std::vector<double>{} : m.values[row.theirs][peer];
  c.ours = median(ours);
  c.theirs = median(theirs);
  c.both = c.ours > 0 && c.theirs > 0;
  if (c.both) c.ratio = row.lower_is_better ? c.theirs / c.ours : c.ours / c.theirs;
  return c;
}

// A worker that cannot keep up with the latency run's 1,000 jobs/s builds a
// backlog for the whole run; its "latency" is then that backlog's age.
constexpr double kFellBehindMs = 100;

bool fell_behind(Measurements& m, const std::string& impl) {
  auto& p50 = m.values["latency_p50"][impl];
  return !p50.empty() && median(p50) > kFellBehindMs;
}

std::string table(Measurements& m, const std::vector<Row>& rows, const std::string& peer) {
  std::ostringstream out;
  out << "| Measure | personaworlds | " << peer << " | personaworlds vs " << peer << " |\n";
  out << "|---|---:|---:|---:|\n";
  for (const auto& row : rows) {
    bool have_ours = !m.values[row.ours]["personaworlds"].empty();
    bool have_theirs = !row.theirs.empty() && !m.values[row.theirs][peer].empty();
    if (!have_ours && !have_theirs) continue;
    Compared c = compare(m, row, peer);
    auto show = [&](double v) { return row.lower_is_better ? fixed(v, 2) : thousands(v); };
    std::string ratio = "-";
    if (c.both) ratio = fixed(c.ratio, 1) + (row.lower_is_better ? "x lower" : "x");
    if (c.both && row.ours.rfind("latency", 0) == 0) {
      // No ratio against a backlog: it says nothing about either wake-up path.
      if (fell_behind(m, "personaworlds")) ratio = "- (personaworlds fell behind)";
      if (fell_behind(m, peer)) ratio = "- (" + peer + " fell behind)";
    }
    out << "| " << row.label << " | " << (have_ours ? show(c.ours) : "-") << " | "
        << (have_theirs ? show(c.theirs) : "-") << " | " << ratio << " |\n";
  }
  return out.str();
}

std::string load_text(const std::vector<double>& loads) {
  return "Load: 1-minute load average at the end of each measurement (the benchmark's own processes "
         "included; the machine is shared, so other work shows here too) " +
         fixed(median(loads), 1) + " (median), " +
         fixed(loads.empty() ? 0 : *std::max_element(loads.begin(), loads.end()), 1) + " (highest) over the measurements, on " +
         std::to_string(std::thread::hardware_concurrency()) + " cores.";
}

std::string joined_set(const std::set<int>& values) {
  std::string out;
  for (int v : values) {
    if (!out.empty()) out += '/';
    out += std::to_string(v);
  }
  return out.empty() ? "?" : out;
}

// Issue 15's mixed workload: noop jobs/s with a tenth of the queue slow
// webhook deliveries, against the noop-only rate of the same run.
std::string mixed_text(Measurements& m) {
  auto& alone = m.values["mixed_0"]["personaworlds"];
  auto& mixed = m.values["mixed_10"]["personaworlds"];
  if (alone.empty() || mixed.empty()) return "";
  const double ratio = median(mixed) / median(alone);
  return "Mixed workload (our worker at its defaults, " + thousands(static_cast<double>(m.mixed_count)) +
         " noop jobs, and in the mixed runs one `webhook.deliver` job to a receiver that answers after 200 ms for "
         "every nine of them, spread through the queue; noop jobs/s from the worker's start to the last noop "
         "job's finish): noop only " + thousands(median(alone)) + ", mixed " + thousands(median(mixed)) + ", " +
         fixed(ratio, 2) + "x: target >= 0.80x (issue 15) " + (ratio >= 0.8 ? "met" : "**not met**") + ".\n";
}

// This tree against the baseline revision, when the run measured one.
std::string baseline_text(Measurements& m, const std::string& baseline) {
  bool any = false;
  for (auto& [key, by_impl] : m.values) any = any || by_impl.contains("baseline");
  if (!any) return "";
  const std::vector<Row> rows = {
      {"enqueue_single", "enqueue_single", "Enqueue, 1 job per transaction (jobs/s)"},
      {"enqueue_batch", "enqueue_batch", "Enqueue, 1,000 jobs per transaction (jobs/s)"},
      {"process_1_default", "process_1_default", "Process noop, 1 worker process, defaults (jobs/s)"},
      {"process_2_default", "process_2_default", "Process noop, 2 worker processes, defaults (jobs/s)"},
      {"process_1", "process_1", "Process noop, 1 worker process, tuned flags (jobs/s)"},
      {"process_2", "process_2", "Process noop, 2 worker processes, tuned flags (jobs/s)"},
  };
  return "Before and after, in the same run: this tree against the baseline " + baseline +
         " (each measurement of ours followed by the same one of the baseline's; its defaults are its own):\n\n" +
         table(m, rows, "baseline");
}

// The SQLite part: the section's head, ours against plainjob.
std::string sqlite_part(Measurements& m, const std::string& machine, const std::string& baseline,
                        std::string& printed) {
  const std::vector<Row> rows = {
      {"enqueue_single", "enqueue_single", "Enqueue, 1 job per transaction (jobs/s)"},
      {"enqueue_batch", "enqueue_batch", "Enqueue, 1,000 jobs per transaction (jobs/s)"},
      // The headline: our worker as a user starts it, no flags at all.
      {"process_1_default", "process_1", "Process noop, 1 worker process, our defaults, no flags (jobs/s)"},
      {"process_2_default", "process_2", "Process noop, 2 worker processes, our defaults, no flags (jobs/s)"},
      {"process_1", "process_1", "Process noop, 1 worker process, our tuned flags (jobs/s)"},
      {"process_2", "process_2", "Process noop, 2 worker processes, our tuned flags (jobs/s)"},
      {"process_2", "process_2_console", "Process noop, 2 workers, plainjob with its default logger (jobs/s)"},
      {"process_2_nolog", "process_2", "Process noop, 2 workers, tuned, our per-job log line off (jobs/s)"},
      {"latency_p50", "latency_p50", "Enqueue-to-start p50 at 1,000 jobs/s (ms)", true},
      {"latency_p99", "latency_p99", "Enqueue-to-start p99 at 1,000 jobs/s (ms)", true},
  };
  std::string results = table(m, rows, "plainjob");

  // Issue 14's targets, judged on this run's medians: met only when every
  // process count (and both sides) was measured and reached the ratio.
  auto target = [&](const std::string& name, std::vector<std::size_t> which, double ratio) {
    std::string ratios;
    bool met = true;
    for (std::size_t i : which) {
      Compared c = compare(m, rows[i], "plainjob");
      met = met && c.both && c.ratio >= ratio;
      ratios += (ratios.empty() ? "" : ", ") + (c.both ? fixed(c.ratio, 2) + "x" : std::string("not measured")) +
                (rows[i].ours.rfind("process_1", 0) == 0 ? " (1 process)"
                 : rows[i].ours.rfind("process_2", 0) == 0 ? " (2 processes)" : "");
    }
    return "- " + name + " >= " + fixed(ratio, 1) + "x plainjob: " + ratios + ": " + (met ? "met" : "**not met**") +
           "\n";
  };
  const std::string targets = "Targets (issue 14; ratios of this run's medians):\n\n" +
                              target("Worker with no flags", {2, 3}, 5.0) +
                              target("Worker with the tuned flags", {4, 5}, 10.0) +
                              target("Single-job enqueue", {0}, 1.5);
  const std::string extra = mixed_text(m) + (baseline_text(m, baseline).empty() ? "" : "\n" + baseline_text(m, baseline));
  printed += "\nSQLite\n" + results + "\n" + targets + "\n" + extra;
  std::ostringstream section;
  section << "## Queue\n\n"
          << "`make bench-queue` (bench/queue/), medians of " << m.runs << " runs, " << thousands(static_cast<double>(m.count))
          << " jobs per processing run; plainjob ran on the same machine in the same run.\n\n"
          << "Machine: " << machine << "\n\n"
          << load_text(m.loads) << "\n\n"
          << results << "\n"
          << targets << "\n"
          << (extra.empty() ? "" : extra + "\n")
          << "How it was measured:\n\n"
          << "- Enqueue: one process, `JobQueue::enqueue` (one transaction each) or `enqueue_many` "
             "(1,000 per transaction); plainjob `queue.add` / `queue.addMany` with the same batches.\n"
          << "- Process: the jobs are enqueued first (untimed); the clock runs from starting the worker "
             "processes (process start-up included) until no job is queued or running. The `our defaults` rows "
             "(the headline) start `personaworlds worker` with no flags at all, as a user would; the `tuned "
             "flags` rows with `" << m.flags["process_2personaworlds"] << "`. Either way the workers write one "
             "JSON log line per job (info level) to a file; the `log line off` row runs the tuned ones at "
             "`--log-level warn`. plainjob workers are "
             "`defineWorker` processes (one job at a time each, `pollIntervall: 1`) with debug logging off, "
             "so they log nothing per job, except in the `default logger` row: plainjob as shipped logs four "
             "debug lines per job through `console`, written to a file as ours are.\n"
          << "- Latency: one idle worker process, jobs enqueued one per transaction at a steady 1,000/s for "
             "10 s by another process; latency runs from just before each enqueue call to the start of its "
             "handler (CLOCK_MONOTONIC in both processes). personaworlds worker flags: "
          << (m.flags["latencypersonaworlds"].empty() ? std::string("none (defaults: 1 ms idle poll)")
                                                      : "`" + m.flags["latencypersonaworlds"] + "`")
          << "; plainjob with `pollIntervall: 1`.\n"
          << "- `SQLITE_BUSY` / `database is locked` lines in all personaworlds worker logs: " << m.busy_lines << ".\n";
  return section.str();
}

// The PostgreSQL part: ours against graphile-worker on one server.
std::string postgres_part(Measurements& m, const std::string& machine, const std::string& baseline,
                          std::string& printed) {
  const std::string peer = "graphile-worker";
  const std::vector<Row> rows = {
      {"enqueue_single", "enqueue_single", "Enqueue, 1 job per transaction (jobs/s)"},
      {"enqueue_batch", "enqueue_batch", "Enqueue, 1,000 jobs per transaction (jobs/s)"},
      {"process_1", "process_1", "Process noop, 1 worker process, our tuned flags (jobs/s)"},
      {"process_2", "process_2", "Process noop, 2 worker processes, our tuned flags (jobs/s)"},
      {"process_1_default", "process_1", "Process noop, 1 worker process, our defaults (jobs/s)"},
      {"process_2_default", "process_2", "Process noop, 2 worker processes, our defaults (jobs/s)"},
      {"latency_p50", "latency_p50", "Enqueue-to-start p50 at 1,000 jobs/s (ms)", true},
      {"latency_p99", "latency_p99", "Enqueue-to-start p99 at 1,000 jobs/s (ms)", true},
  };
  std::string results = table(m, rows, peer);
  const std::string extra = mixed_text(m) + (baseline_text(m, baseline).empty() ? "" : "\n" + baseline_text(m, baseline));
  printed += "\nPostgreSQL\n" + results + extra;

  // The goal, judged on this run's medians.
  Compared tuned1 = compare(m, rows[2], peer), tuned2 = compare(m, rows[3], peer);
  Compared default1 = compare(m, rows[4], peer), default2 = compare(m, rows[5], peer);
  double p99 = median(m.values["latency_p99"]["personaworlds"]);
  bool throughput_met = tuned1.both && tuned2.both && tuned1.ratio >= 1.5 && tuned2.ratio >= 1.5;
  bool defaults_met = default1.both && default2.both && default1.ratio >= 1.5 && default2.ratio >= 1.5;
  bool latency_met = !m.values["latency_p99"]["personaworlds"].empty() && p99 < 10.0;
  std::ostringstream goal;
  goal << "Goal: at least 1.5x graphile-worker's best-concurrency throughput, and p99 enqueue-to-start under "
          "10 ms at 1,000 jobs/s. This run: "
       << fixed(tuned1.ratio, 2) << "x (1 process) and " << fixed(tuned2.ratio, 2) << "x (2 processes) with our tuned flags, "
       << fixed(default1.ratio, 2) << "x and " << fixed(default2.ratio, 2) << "x with our defaults: throughput goal "
       << (throughput_met ? "met" : "**not met**") << " with the tuned flags, "
       << (defaults_met ? "met" : "**not met**") << " with the defaults; p99 " << fixed(p99, 2) << " ms: latency goal "
       << (latency_met ? "met" : "**not met**") << ".";
  std::string behind;
  for (const std::string impl : {"personaworlds", "graphile-worker"}) {
    if (fell_behind(m, impl)) {
      behind += " " + impl + " did not keep up with 1,000 jobs/s on this machine (median wait " +
                fixed(median(m.values["latency_p50"][impl]), 0) +
                " ms): its jobs queued behind a backlog that grew through the run, so its latency figures are "
                "that backlog's age, not its wake-up path.";
    }
  }
  goal << behind;
  printed += goal.str() + "\n";

  std::ostringstream probe;
  if (!m.probes.empty()) {
    probe << "graphile-worker's concurrency was the best of a pre-run of "
          << thousands(static_cast<double>(m.probe_count)) << " jobs per setting:";
    for (auto& [workers, by_concurrency] : m.probes) {
      std::string settings, rates;
      for (auto& [concurrency, values] : by_concurrency) {
        settings += (settings.empty() ? "" : " / ") + std::to_string(concurrency);
        rates += (rates.empty() ? "" : " / ") + thousands(median(values));
      }
      probe << (workers == m.probes.begin()->first ? " " : "; ") << workers << (workers == 1 ? " process" : " processes")
            << " at concurrency " << settings << ": " << rates << " jobs/s";
    }
    probe << ".";
  }
  std::ostringstream section;
  section << "### PostgreSQL\n\n"
          << "The same measurements on PostgreSQL (`--database-url`), medians of " << m.runs << " runs, "
          << thousands(static_cast<double>(m.count))
          << " jobs per processing run; graphile-worker ran against the same PostgreSQL server (a database of its "
             "own on it) on the same machine in the same run, each measurement of ours followed by the same one of "
             "graphile-worker's.\n\n"
          << "Server: started for the run by tests/support/postgres.sh, both peers over its Unix socket, with "
             "`fsync = off`, `full_page_writes = off` and `synchronous_commit = off` for both: no commit waits "
             "for a disk, so the figures are the queues' own costs (CPU, round trips), not a durable set-up's.\n\n"
          << "Machine: " << machine << "\n\n"
          << load_text(m.loads) << "\n\n"
          << results << "\n"
          << goal.str() << "\n\n"
          << (extra.empty() ? "" : extra + "\n")
          << "How it was measured:\n\n"
          << "- Every measurement starts from fresh tables: our public schema dropped and migrated again, "
             "graphile-worker's schema dropped and installed again (`runMigrations`). After an untimed bulk "
             "load both job tables are vacuumed and analyzed (`VACUUM (ANALYZE)`) and the server checkpoints.\n"
          << "- Enqueue: one process, `PostgresJobQueue::enqueue` (one transaction each) or `enqueue_many` "
             "(1,000 per transaction); graphile-worker `addJob` (one `graphile_worker.add_job` call in its own "
             "transaction) or `addJobs` with the same batches of 1,000. Both notify their idle workers.\n"
          << "- Process: the jobs are enqueued first (untimed); the clock runs from starting the worker processes "
             "(process start-up included) until no job is queued or running. personaworlds workers run with `"
          << m.flags["process_2personaworlds"] << "` (tuned rows) or no flags (defaults rows: `--concurrency` is "
             "the number of cores, " << std::thread::hardware_concurrency() << " here), and write one "
             "JSON log line per job (info level) to a file. graphile-worker: that many Node processes, each one "
             "`run()` with a no-op task, `concurrency` "
          << joined_set(m.concurrency["process_1"]) << " (1 process) and " << joined_set(m.concurrency["process_2"])
          << " (2 processes), `maxPoolSize` the larger of 10 and concurrency + 2 (its documentation's advice; "
             "it warns when the pool is smaller than the concurrency), everything else at its defaults: "
             "LISTEN/NOTIFY with a 2 s `pollInterval`, no local queue (one job fetched per statement), no batched "
             "completions; its default logger writes one `Completed task` line per job to a file, as ours does. "
          << probe.str() << "\n"
          << "- Latency: one idle worker process, jobs enqueued one per transaction at a steady 1,000/s for 10 s "
             "by another process on a fixed schedule (job i due at i ms), its "
          << joined_set(m.concurrency["enqueuers"])
          << " threads (a connection each) taking turns, so that one slow enqueue does not hold back the ones "
             "after it; enqueues achieved (median) "
          << thousands(median(m.values["latency_achieved"]["personaworlds"])) << "/s ours, "
          << thousands(median(m.values["latency_achieved"][peer])) << "/s graphile-worker's. Latency runs from just "
             "before each enqueue call to the start of its handler, both read from CLOCK_MONOTONIC on this machine "
             "(the client clocks, not the server's). personaworlds worker flags: "
          << (m.flags["latencypersonaworlds"].empty() ? std::string("none (defaults)")
                                                      : "`" + m.flags["latencypersonaworlds"] + "`")
          << "; graphile-worker with `concurrency` " << joined_set(m.concurrency["latency"]) << ".\n"
          << "- Warning and error lines in all personaworlds worker logs: " << m.busy_lines << ".\n";
  return section.str();
}

std::string trimmed_end(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

json report_command(const Args& args) {
  auto by_driver = read_results(args.get("results"));
  std::string printed;
  std::string sqlite_new, postgres_new;
  const std::string baseline = args.get("baseline");
  if (by_driver.contains("sqlite")) {
    sqlite_new = sqlite_part(by_driver["sqlite"], args.get("machine"), baseline, printed);
  }
  if (by_driver.contains("postgres")) {
    postgres_new =
        postgres_part(by_driver["postgres"], args.get("machine-postgres", args.get("machine")), baseline, printed);
  }
  std::cout << printed << std::endl;
  std::string out_path = args.get("markdown");
  if (!out_path.empty()) {
    std::string existing;
    if (std::ifstream file(out_path); file) {
      std::stringstream buffer;
      buffer << file.rdbuf();
      existing = buffer.str();
    }
    if (existing.empty()) existing = "# Benchmarks\n\n";
    // Replace our section only; other sections belong to other benchmarks.
    // Within it, a database without results keeps its part as it was.
    auto begin = existing.find("## Queue\n");
    std::string::size_type end = std::string::npos;
    std::string old_section;
    if (begin != std::string::npos) {
      end = existing.find("\n## ", begin + 1);
      old_section = existing.substr(begin, end == std::string::npos ? std::string::npos : end - begin + 1);
    }
    auto split = old_section.find("### PostgreSQL\n");
    std::string sqlite_old = split == std::string::npos ? old_section : old_section.substr(0, split);
    std::string postgres_old = split == std::string::npos ? "" : old_section.substr(split);
    std::string sqlite_text = trimmed_end(!sqlite_new.empty() ? sqlite_new : sqlite_old);
    std::string postgres_text = trimmed_end(!postgres_new.empty() ? postgres_new : postgres_old);
    if (sqlite_text.empty()) sqlite_text = "## Queue";
    std::string section = sqlite_text + "\n" + (postgres_text.empty() ? "" : "\n" + postgres_text + "\n");
    std::string updated;
    if (begin == std::string::npos) {
      updated = existing + (existing.ends_with("\n\n") ? "" : "\n") + section;
    } else {
      updated = existing.substr(0, begin) + section + (end == std::string::npos ? "" : existing.substr(end));
    }
    std::ofstream(out_path) << updated;
  }
  return {{"report", out_path}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: pw_queue_bench enqueue|process|mixed|latency|soak|report [--option value...] [-- worker flags]\n";
    return 2;
  }
  try {
    std::string command = argv[1];
    Args args = parse(argc, argv, 2);
    json result;
    if (command == "enqueue") {
      result = enqueue_command(args);
    } else if (command == "process") {
      result = process_command(args);
    } else if (command == "mixed") {
      result = mixed_command(args);
    } else if (command == "latency") {
      result = latency_command(args);
    } else if (command == "soak") {
      result = soak_command(args);
    } else if (command == "report") {
      result = report_command(args);
      return 0;
    } else {
      throw std::invalid_argument("unknown command " + command);
    }
    if (args.options.contains("run")) result["run"] = args.number("run", 0);
    result["load1"] = load_average();
    if (args.options.contains("variant")) result["variant"] = args.get("variant");
    std::cout << result.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pw_queue_bench: " << e.what() << "\n";
    return 1;
  }
}
