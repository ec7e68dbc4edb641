// The job queue benchmark driver for our side of `make bench-queue`
// (bench/queue/run.sh runs it, and plainjob_bench.mjs for plainjob). Each
// command prints one JSON line with its result:
//
//   pw_queue_bench enqueue --db F --count N --batch B
//       enqueue rate through JobQueue, B jobs per transaction (1: enqueue()).
//   pw_queue_bench process --binary P --db F --count N --workers K --log-dir D [-- worker flags]
//       N noop jobs enqueued up front (untimed), then K `personaworlds worker`
//       processes started; jobs/s from their start until no job is queued or
//       running. Worker logs go to files in D, as they would to a log pipe.
//   pw_queue_bench latency --binary P --db F --rate R --seconds T --log-dir D [-- worker flags]
//       one worker idling, then noop jobs enqueued one per transaction at a
//       steady R per second; enqueue-to-start latency per job from the time
//       just before each enqueue to the time its handler started (the noop
//       run log, PW_NOOP_RUN_LOG, CLOCK_MONOTONIC on both sides).
//   pw_queue_bench report --results F --markdown OUT --machine TEXT
//       medians over the runs in F (JSON lines of the above plus plainjob's),
//       printed as one table and written as the "Queue" section of OUT.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "db/connection.hpp"
#include "migrations/migrator.hpp"
#include "queue/clock.hpp"
#include "queue/job_queue.hpp"

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

// A fresh, migrated database file.
void create_database(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  pw::db::Connection connection(database(path));
  pw::migrations::Migrator(connection, pw::migrations::embedded()).apply_pending();
}

void enqueue_noops(const std::string& path, std::int64_t count) {
  pw::db::Connection connection(database(path));
  pw::queue::SystemClock clock;
  pw::queue::JobQueue queue(connection, clock, {});
  pw::queue::NewJob job;
  job.type = "noop";
  std::vector<pw::queue::NewJob> batch(1000, job);
  for (std::int64_t done = 0; done < count;) {
    std::int64_t n = std::min<std::int64_t>(1000, count - done);
    batch.resize(static_cast<std::size_t>(n), job);
    queue.enqueue_many(batch);
    done += n;
  }
  // Start every measurement from an empty WAL.
  connection.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

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

// True while any job is queued or running (two index probes).
bool busy(SQLite::Database& db) {
  SQLite::Statement query(db,
                          "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE state = 'queued') OR "
                          "EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_leases WHERE state = 'running')");
  query.executeStep();
  return query.getColumn(0).getInt() != 0;
}

std::int64_t count_state(SQLite::Database& db, const char* state) {
  SQLite::Statement query(db, "SELECT count(*) FROM jobs WHERE state = ?");
  query.bind(1, state);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

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

std::vector<std::string> worker_args(const std::string& db, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"worker", "--db", db, "--observability-port", "0",
                                   "--observability-host", "127.0.0.1"};
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
  std::string path = args.get("db");
  std::int64_t count = args.number("count", 50000);
  std::int64_t batch = args.number("batch", 1);
  create_database(path);
  pw::db::Connection connection(database(path));
  pw::queue::SystemClock clock;
  pw::queue::JobQueue queue(connection, clock, {});
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
  return {{"impl", "personaworlds"}, {"metric", batch <= 1 ? "enqueue_single" : "enqueue_batch"},
          {"count", count}, {"batch", batch}, {"seconds", seconds}, {"value", count / seconds}};
}

json process_command(const Args& args) {
  std::string binary = args.get("binary");
  std::string path = args.get("db");
  std::string log_dir = args.get("log-dir", ".");
  std::int64_t count = args.number("count", 50000);
  int workers = static_cast<int>(args.number("workers", 1));
  create_database(path);
  enqueue_noops(path, count);

  SQLite::Database db(path, SQLite::OPEN_READONLY);
  db.setBusyTimeout(10000);
  std::vector<std::unique_ptr<Child>> children;
  std::vector<std::string> logs;
  auto start = SteadyClock::now();
  for (int i = 0; i < workers; ++i) {
    logs.push_back(log_dir + "/worker-" + std::to_string(i) + ".log");
    children.push_back(std::make_unique<Child>(binary, worker_args(path, args.passthrough), logs.back()));
  }
  while (busy(db)) {
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i]->exited()) throw std::runtime_error("worker exited early; see " + logs[i]);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  int exit_codes = 0;
  for (auto& child : children) exit_codes |= child->stop();
  std::int64_t succeeded = count_state(db, "succeeded");
  std::int64_t busy_lines = 0;
  for (const auto& log : logs) busy_lines += lines_containing(log, {"SQLITE_BUSY", "database is locked"});
  if (succeeded != count) throw std::runtime_error("only " + std::to_string(succeeded) + " jobs succeeded");
  return {{"impl", "personaworlds"}, {"metric", "process"}, {"workers", workers},
          {"flags", joined(args.passthrough)}, {"count", count}, {"seconds", seconds},
          {"value", count / seconds}, {"busy_log_lines", busy_lines}, {"exit_codes", exit_codes}};
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(std::min<double>(values.size() - 1, p * (values.size() - 1) + 0.5));
  return values[index];
}

json latency_command(const Args& args) {
  std::string binary = args.get("binary");
  std::string path = args.get("db");
  std::string log_dir = args.get("log-dir", ".");
  std::int64_t rate = args.number("rate", 1000);
  std::int64_t seconds = args.number("seconds", 10);
  create_database(path);
  std::string run_log = log_dir + "/runs.log";
  std::string worker_log = log_dir + "/worker-latency.log";
  std::filesystem::remove(run_log);
  Child worker(binary, worker_args(path, args.passthrough), worker_log, {{"PW_NOOP_RUN_LOG", run_log}});
  wait_for_line(worker_log, "worker_started");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it go idle

  pw::db::Connection connection(database(path));
  pw::queue::SystemClock clock;
  pw::queue::JobQueue queue(connection, clock, {});
  pw::queue::NewJob job;
  job.type = "noop";
  std::unordered_map<std::int64_t, std::int64_t> enqueued_at;
  std::int64_t total = rate * seconds;
  enqueued_at.reserve(static_cast<std::size_t>(total));
  auto start = SteadyClock::now();
  for (std::int64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1'000'000 / rate));
    std::int64_t before = monotonic_us();
    enqueued_at[queue.enqueue(job).id] = before;
  }
  double achieved = total / std::chrono::duration<double>(SteadyClock::now() - start).count();
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  db.setBusyTimeout(10000);
  while (busy(db)) {
    if (worker.exited()) throw std::runtime_error("worker exited early; see " + worker_log);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int exit_code = worker.stop();

  std::vector<double> latencies_ms;
  std::optional<std::ofstream> dump;  // --dump FILE: "<id> <enqueued us> <started us>" per job
  if (!args.get("dump").empty()) dump.emplace(args.get("dump"));
  std::ifstream runs(run_log);
  for (std::string line; std::getline(runs, line);) {
    std::istringstream fields(line);
    std::int64_t id = 0, attempt = 0, started_us = 0;
    fields >> id >> attempt >> started_us;
    auto found = enqueued_at.find(id);
    if (found != enqueued_at.end()) {
      latencies_ms.push_back((started_us - found->second) / 1000.0);
      if (dump) *dump << id << ' ' << found->second << ' ' << started_us << '\n';
    }
  }
  if (static_cast<std::int64_t>(latencies_ms.size()) != total) {
    throw std::runtime_error("expected " + std::to_string(total) + " runs, saw " + std::to_string(latencies_ms.size()));
  }
  return {{"impl", "personaworlds"}, {"metric", "latency"}, {"rate", rate}, {"achieved_rate", achieved},
          {"count", total}, {"flags", joined(args.passthrough)}, {"p50_ms", percentile(latencies_ms, 0.50)},
          {"p99_ms", percentile(latencies_ms, 0.99)}, {"max_ms", percentile(latencies_ms, 1.0)},
          {"exit_code", exit_code}};
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

json report_command(const Args& args) {
  // key -> impl -> values
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  std::map<std::string, std::string> flags;
  std::int64_t count = 0;
  std::int64_t busy_lines = 0;
  int runs = 0;
  std::vector<double> loads;
  std::ifstream in(args.get("results"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto r = json::parse(line);
    std::string impl = r["impl"];
    std::string metric = r["metric"];
    if (r.contains("run")) runs = std::max(runs, r["run"].get<int>());
    if (r.contains("load1")) loads.push_back(r["load1"]);
    if (metric == "process") {
      std::string key = "process_" + std::to_string(r["workers"].get<int>()) + (r.contains("variant") ? "_" + r["variant"].get<std::string>() : "");
      values[key][impl].push_back(r["value"]);
      if (r.contains("flags")) flags[key + impl] = r["flags"];
      count = r["count"];
      busy_lines += r.value("busy_log_lines", 0);
    } else if (metric == "latency") {
      values["latency_p50"][impl].push_back(r["p50_ms"]);
      values["latency_p99"][impl].push_back(r["p99_ms"]);
      if (r.contains("flags")) flags["latency" + impl] = r["flags"];
    } else {
      values[metric][impl].push_back(r["value"]);
    }
  }
  // Each row compares one of our measurements with one of plainjob's.
  struct Row {
    std::string ours;    // key of our value
    std::string theirs;  // key of plainjob's value ("" for none)
    std::string label;
    bool lower_is_better = false;
  };
  const std::vector<Row> rows = {
      {"enqueue_single", "enqueue_single", "Enqueue, 1 job per transaction (jobs/s)"},
      {"enqueue_batch", "enqueue_batch", "Enqueue, 1,000 jobs per transaction (jobs/s)"},
      {"process_1", "process_1", "Process noop, 1 worker process (jobs/s)"},
      {"process_2", "process_2", "Process noop, 2 worker processes (jobs/s)"},
      {"process_2", "process_2_console", "Process noop, 2 workers, plainjob with its default logger (jobs/s)"},
      {"process_2_nolog", "process_2", "Process noop, 2 workers, our per-job log line off (jobs/s)"},
      {"process_2_default", "process_2", "Process noop, 2 workers, our default --concurrency (jobs/s)"},
      {"latency_p50", "latency_p50", "Enqueue-to-start p50 at 1,000 jobs/s (ms)", true},
      {"latency_p99", "latency_p99", "Enqueue-to-start p99 at 1,000 jobs/s (ms)", true},
  };
  std::ostringstream table;
  table << "| Measure | personaworlds | plainjob | personaworlds vs plainjob |\n";
  table << "|---|---:|---:|---:|\n";
  for (const auto& row : rows) {
    auto ours_values = values[row.ours]["personaworlds"];
    auto theirs_values = row.theirs.empty() ? std::vector<double>{} : values[row.theirs]["plainjob"];
    if (ours_values.empty() && theirs_values.empty()) continue;
    double ours = median(ours_values);
    double theirs = median(theirs_values);
    auto show = [&](double v) { return row.lower_is_better ? fixed(v, 2) : thousands(v); };
    std::string ratio = "-";
    if (ours > 0 && theirs > 0) {
      ratio = row.lower_is_better ? fixed(theirs / ours, 1) + "x lower" : fixed(ours / theirs, 1) + "x";
    }
    table << "| " << row.label << " | " << (ours_values.empty() ? "-" : show(ours)) << " | "
          << (theirs_values.empty() ? "-" : show(theirs)) << " | " << ratio << " |\n";
  }
  std::ostringstream section;
  section << "## Queue\n\n"
          << "`make bench-queue` (bench/queue/), medians of " << runs << " runs, " << thousands(static_cast<double>(count))
          << " jobs per processing run; plainjob ran on the same machine in the same run.\n\n"
          << "Machine: " << args.get("machine") << "\n\n"
          << "Load: 1-minute load average at the end of each measurement (the benchmark's own processes "
             "included; the machine is shared, so other work shows here too) " << fixed(median(loads), 1) << " (median), "
          << fixed(loads.empty() ? 0 : *std::max_element(loads.begin(), loads.end()), 1)
          << " (highest) over the measurements, on " << std::thread::hardware_concurrency() << " cores.\n\n"
          << table.str() << "\n"
          << "How it was measured:\n\n"
          << "- Enqueue: one process, `JobQueue::enqueue` (one transaction each) or `enqueue_many` "
             "(1,000 per transaction); plainjob `queue.add` / `queue.addMany` with the same batches.\n"
          << "- Process: the jobs are enqueued first (untimed); the clock runs from starting the worker "
             "processes (process start-up included) until no job is queued or running. personaworlds workers "
             "run with `" << flags["process_2personaworlds"] << "` and write one JSON log line per job (info "
             "level) to a file; the `log line off` row runs them at `--log-level warn`, the `default "
             "--concurrency` row with no flags at all (2 handler threads here). plainjob workers are "
             "`defineWorker` processes (one job at a time each, `pollIntervall: 1`) with debug logging off, "
             "so they log nothing per job, except in the `default logger` row: plainjob as shipped logs four "
             "debug lines per job through `console`, written to a file as ours are.\n"
          << "- Latency: one idle worker process, jobs enqueued one per transaction at a steady 1,000/s for "
             "10 s by another process; latency runs from just before each enqueue call to the start of its "
             "handler (CLOCK_MONOTONIC in both processes). personaworlds worker flags: "
          << (flags["latencypersonaworlds"].empty() ? std::string("none (defaults: 1 ms idle poll)")
                                                    : "`" + flags["latencypersonaworlds"] + "`")
          << "; plainjob with `pollIntervall: 1`.\n"
          << "- `SQLITE_BUSY` / `database is locked` lines in all personaworlds worker logs: " << busy_lines << ".\n";

  std::cout << "\n" << table.str() << std::endl;
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
    auto begin = existing.find("## Queue\n");
    std::string updated;
    if (begin == std::string::npos) {
      updated = existing + (existing.ends_with("\n\n") ? "" : "\n") + section.str();
    } else {
      auto end = existing.find("\n## ", begin + 1);
      updated = existing.substr(0, begin) + section.str() +
                (end == std::string::npos ? "" : existing.substr(end));
    }
    std::ofstream(out_path) << updated;
  }
  return {{"report", out_path}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: pw_queue_bench enqueue|process|latency|report [--option value...] [-- worker flags]\n";
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
    } else if (command == "latency") {
      result = latency_command(args);
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
