// The worker against a real database file in a temp folder, with a manual
// clock for everything the job table decides by time (run_at, leases). Tests
// wait for conditions (with a generous deadline), never for durations.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "observability/logger.hpp"
#include "db/statement.hpp"
#include "observability/metrics.hpp"
#include "unit/queue/queue_fixture.hpp"
#include "jobs/builtin.hpp"
#include "db/wal_care.hpp"
#include "worker/context.hpp"
#include "worker/housekeeping.hpp"
#include "worker/postgres_seams.hpp"
#include "worker/worker.hpp"

using pw::queue::JobState;
using pw::queue::NewJob;
using pw::worker::HandlerRegistry;
using pw::worker::JobContext;
using pw::worker::Worker;

namespace {

// Polls `done` until it holds or `limit` passes (a loaded machine is slow, never that slow).
template <typename Predicate>
bool eventually(Predicate done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

class CapturedLogs {
 public:
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(m_mutex);
      m_lines.push_back(nlohmann::json::parse(line));
    };
  }
  std::vector<nlohmann::json> with_msg(const std::string& msg) const {
    std::lock_guard lock(m_mutex);
    std::vector<nlohmann::json> out;
    for (const auto& line : m_lines) {
      if (line["msg"] == msg) out.push_back(line);
    }
    return out;
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<nlohmann::json> m_lines;
};

// The worker on either driver: Base is the job table fixture (SQLite or
// PostgreSQL), and seams() the matching driver parts.
template <class Base>
struct WorkerFixture : Base {
  static constexpr bool kPostgres = std::is_same_v<Base, pw::test::PostgresQueueFixture>;
  CapturedLogs logs;
  pw::observability::Logger logger{"worker", pw::observability::LogLevel::debug, pw::config::LogFormat::json,
                                   logs.sink()};
  // The types these tests register: only known types get their own series.
  pw::observability::Metrics metrics{"worker", {"noop", "flaky"}};
  HandlerRegistry handlers;
  pw::config::WorkerConfig config = [this] {
    pw::config::WorkerConfig c;
    if constexpr (!kPostgres) c.db = this->db_config;
    c.retry = this->retry;
    c.concurrency = 2;
    c.worker_id = "test-worker";
    c.shutdown_grace_ms = 10000;
    return c;
  }();

  WorkerFixture() { pw::jobs::register_builtin_handlers(handlers); }

  pw::worker::DriverSeams seams() {
    if constexpr (kPostgres) {
      return pw::worker::postgres_seams({this->url}, logger);
    } else {
      return pw::worker::sqlite_seams();
    }
  }

  std::int64_t enqueue(const std::string& type, const std::string& payload = "{}",
                       std::optional<std::string> trace_id = {}) {
    NewJob job;
    job.type = type;
    job.payload = payload;
    job.trace_id = std::move(trace_id);
    return this->queue->enqueue(job).id;
  }

  std::int64_t count(const std::string& type, const std::string& state) {
    return this->queue->counts()[type][state];
  }
};

using SqliteWorker = WorkerFixture<pw::test::QueueFixture>;
using PostgresWorker = WorkerFixture<pw::test::PostgresQueueFixture>;

}  // namespace

TYPE_TO_STRING_AS("SQLite", SqliteWorker);
TYPE_TO_STRING_AS("PostgreSQL", PostgresWorker);

TEST_CASE_TEMPLATE("Worker: runs ready jobs and logs each success with the job's fields", F, SqliteWorker, PostgresWorker) {
  F f;
  for (int i = 0; i < 40; ++i) f.enqueue("noop");
  auto traced = f.enqueue("noop", "{}", "req-abc");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.count("noop", "succeeded") == 41; }));
  worker.shutdown();
  CHECK(worker.healthy());

  auto successes = f.logs.with_msg("job_succeeded");
  CHECK(successes.size() == 41);
  bool saw_trace = false;
  for (const auto& line : successes) {
    CHECK(line["level"] == "info");
    CHECK(line["type"] == "noop");
    CHECK(line["attempt"] == 1);
    CHECK(line.contains("job_id"));
    if (line["job_id"] == traced) {
      saw_trace = true;
      CHECK(line["trace_id"] == "req-abc");
      CHECK(line["request_id"] == "req-abc");
    } else {
      CHECK_FALSE(line.contains("trace_id"));
    }
  }
  CHECK(saw_trace);
  auto scrape = f.metrics.scrape();
  CHECK(scrape.find(R"(jobs_processed_total{status="succeeded",type="noop"} 41)") != std::string::npos);
  CHECK(scrape.find(R"(jobs_trace_total{status="succeeded",trace="present",type="noop"} 1)") != std::string::npos);
  auto job = f.get(traced);
  CHECK(job.result == "null");
  CHECK(job.lease_owner == "test-worker");
}

TEST_CASE_TEMPLATE("Worker: an unknown job type goes to dead with a clear error, counted as type unknown", F, SqliteWorker, PostgresWorker) {
  F f;
  auto id = f.enqueue("mystery.type");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.get(id).state == JobState::dead; }));
  worker.shutdown();
  auto job = f.get(id);
  CHECK(job.last_error == "no handler for job type mystery.type");
  CHECK(job.attempts == 1);
  auto dead = f.logs.with_msg("job_dead");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["type"] == "mystery.type");
  CHECK(dead[0]["level"] == "error");
  auto scrape = f.metrics.scrape();
  CHECK(scrape.find(R"(jobs_dead_total{type="unknown"} 1)") != std::string::npos);
  CHECK(scrape.find("mystery.type") == std::string::npos);
}

TEST_CASE_TEMPLATE("Worker: a handler exception is a failed attempt, run again after the backoff", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.retry.backoff_base_ms = 1000;
  f.config.retry.backoff_cap_ms = 1000;
  std::atomic<int> calls{0};
  f.handlers.add("flaky", [&](JobContext&) -> std::string {
    if (calls++ == 0) throw std::runtime_error("upstream timed out");
    return R"({"ok":true})";
  });
  auto id = f.enqueue("flaky");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return !f.logs.with_msg("job_failed").empty(); }));
  // The backoff is at most the 1 s cap; the worker notices the due time by itself.
  f.clock.advance_ms(1000);
  REQUIRE(eventually([&] { return f.get(id).state == JobState::succeeded; }));
  worker.shutdown();
  auto job = f.get(id);
  CHECK(job.attempts == 2);
  CHECK(job.result == R"({"ok":true})");
  auto failed = f.logs.with_msg("job_failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["error"] == "upstream timed out");
  CHECK(failed[0]["attempt"] == 1);
  CHECK(failed[0]["level"] == "warn");
  auto scrape = f.metrics.scrape();
  CHECK(scrape.find(R"(job_retries_total{type="flaky"} 1)") != std::string::npos);
  CHECK(scrape.find(R"(jobs_processed_total{status="failed",type="flaky"} 1)") != std::string::npos);
}

TEST_CASE_TEMPLATE("Worker: a permanent failure goes straight to dead", F, SqliteWorker, PostgresWorker) {
  F f;
  f.handlers.add("strict", [](JobContext&) -> std::string { throw pw::worker::PermanentFailure("payload has no world_id"); });
  auto id = f.enqueue("strict");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.get(id).state == JobState::dead; }));
  worker.shutdown();
  CHECK(f.get(id).last_error == "payload has no world_id");
  CHECK(f.get(id).attempts == 1);
  auto dead = f.logs.with_msg("job_dead");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["permanent"] == true);
}

TEST_CASE_TEMPLATE("Worker: never holds more jobs than its concurrency", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.concurrency = 3;
  std::atomic<int> waiting{0};
  std::atomic<bool> open{false};
  f.handlers.add("gate", [&](JobContext&) {
    waiting++;
    while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    waiting--;
    return std::string("null");
  });
  for (int i = 0; i < 10; ++i) f.enqueue("gate");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return waiting == 3; }));
  CHECK(f.count("gate", "running") == 3);
  CHECK(f.count("gate", "queued") == 7);
  open = true;
  REQUIRE(eventually([&] { return f.count("gate", "succeeded") == 10; }));
  worker.shutdown();
}

TEST_CASE_TEMPLATE("Worker: a type at its --type-concurrency limit runs that many at once, and the claims pass over its backlog to the jobs behind it", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.concurrency = 4;
  f.config.type_concurrency = "gate=1";
  std::atomic<int> started{0};
  std::atomic<bool> open{false};
  f.handlers.add("gate", [&](JobContext&) {
    started++;
    while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::string("null");
  });
  for (int i = 0; i < 10; ++i) f.enqueue("gate");
  for (int i = 0; i < 5; ++i) f.enqueue("noop");  // behind every gate job
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.count("noop", "succeeded") == 5; }));
  CHECK(started == 1);
  // One claim took at most `concurrency` gate jobs; after that the claims
  // passed over the type, leaving the rest queued.
  CHECK(f.count("gate", "queued") >= 10 - 4);
  open = true;
  REQUIRE(eventually([&] { return f.count("gate", "succeeded") == 10; }));
  worker.shutdown();
  CHECK(f.logs.with_msg("job_lost").empty());
}

TEST_CASE("Worker: draining a backlog, outcomes and the next claims share a transaction, within the concurrency") {
  SqliteWorker f;
  f.config.concurrency = 3;
  std::atomic<std::int64_t> most_running{0};
  f.handlers.add("count", [&](JobContext& context) {
    // Seen from the database: every job this worker holds is 'running'.
    auto running = context.database().with_session(
        [](pw::storage::Session& session) { return session.jobs().counts()["count"]["running"]; });
    auto seen = most_running.load();
    while (running > seen && !most_running.compare_exchange_weak(seen, running)) {
    }
    return std::string("null");
  });
  constexpr int kJobs = 300;
  std::vector<NewJob> jobs(kJobs);
  for (auto& job : jobs) job.type = "count";
  f.queue->enqueue_many(jobs);
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.count("count", "succeeded") == kJobs; }));
  worker.shutdown();
  CHECK(most_running.load() <= 3);
  CHECK(most_running.load() >= 1);
  auto totals = f.logs.with_msg("worker_totals");
  REQUIRE(totals.size() == 1);
  CHECK(totals[0]["jobs_claimed"] == kJobs);
  CHECK(totals[0]["outcomes_settled"] == kJobs);
  // All but the first claim (and whatever the end of the backlog left to the
  // claimer) rode on the transactions that recorded outcomes.
  CHECK(totals[0]["jobs_claimed_with_outcomes"].get<int>() >= kJobs - 3 * 3);
  INFO(totals[0].dump());
  CHECK(totals[0]["claim_transactions"].get<int>() <= 10);
}

TEST_CASE_TEMPLATE("Worker: lease renewals racing the recording of outcomes report no lease as lost", F, SqliteWorker, PostgresWorker) {
  // Renewals every 200 ms while jobs finish without pause: many renewals wait
  // for the write gate while a batch of outcomes is being recorded, then
  // find those jobs finished. That is not a lost lease.
  F f;
  f.config.lease_ms = 600;
  f.config.concurrency = 4;
  constexpr int kJobs = 8000;
  std::vector<NewJob> jobs(kJobs);
  for (auto& job : jobs) job.type = "noop";
  f.queue->enqueue_many(jobs);
  pw::queue::SystemClock real_clock;  // leases must lapse only if renewals really stop
  Worker worker(f.config, f.handlers, f.logger, f.metrics, real_clock, f.seams());
  worker.start();
  // About 1 s here; many times that under ThreadSanitizer.
  REQUIRE(eventually([&] { return f.count("noop", "succeeded") == kJobs; }, std::chrono::seconds(180)));
  worker.shutdown();
  CHECK(f.logs.with_msg("job_lease_lost").empty());
  CHECK(f.logs.with_msg("job_lost").empty());
  CHECK(f.logs.with_msg("job_lease_expired").empty());
}

TEST_CASE_TEMPLATE("Worker: shutdown hands back running and unstarted jobs without charging an attempt", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.concurrency = 2;
  std::atomic<int> running{0};
  f.handlers.add("long", [&](JobContext& context) -> std::string {
    running++;
    while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    throw std::runtime_error("stopping");
  });
  for (int i = 0; i < 5; ++i) f.enqueue("long");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return running == 2; }));
  worker.shutdown();
  CHECK(f.count("long", "queued") == 5);
  for (const auto& job : f.queue->list({})) {
    CHECK(job.attempts == 0);
    CHECK_FALSE(job.lease_owner);
  }
  CHECK(f.logs.with_msg("job_released").size() == 2);
  CHECK(f.logs.with_msg("job_failed").empty());
  worker.shutdown();  // idempotent
}

TEST_CASE_TEMPLATE("Worker: shutdown lets a running job finish within the grace period", F, SqliteWorker, PostgresWorker) {
  F f;
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  f.handlers.add("steady", [&](JobContext&) {
    started = true;
    while (!finish) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::string("\"done\"");
  });
  auto id = f.enqueue("steady");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return started.load(); }));
  std::thread stopper([&] { worker.shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let shutdown begin (order only, not timing)
  finish = true;
  stopper.join();
  CHECK(f.get(id).state == JobState::succeeded);
  CHECK(f.get(id).result == "\"done\"");
}

TEST_CASE_TEMPLATE("Worker: after the grace period, shutdown returns without handing back a job whose handler still runs", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.shutdown_grace_ms = 0;
  std::atomic<bool> started{false};
  std::atomic<bool> finish{false};
  f.handlers.add("stubborn", [&](JobContext&) {
    started = true;
    while (!finish) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::string("null");
  });
  auto id = f.enqueue("stubborn");
  {
    Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
    worker.start();
    REQUIRE(eventually([&] { return started.load(); }));
    worker.shutdown();  // returns although the handler is still running
    CHECK(worker.abandoned() == 1);
    // Not handed back while its handler runs: no other worker can take it.
    CHECK(f.get(id).state == JobState::running);
    CHECK(f.get(id).lease_owner == "test-worker");
    CHECK(f.logs.with_msg("shutdown_grace_expired").size() == 1);
    auto abandoned = f.logs.with_msg("job_abandoned");
    REQUIRE(abandoned.size() == 1);
    CHECK(abandoned[0]["job_id"] == id);
    finish = true;  // the handler returns late: nobody records its outcome
  }  // the destructor waits for the abandoned handler
  CHECK(f.get(id).state == JobState::running);
  CHECK(f.logs.with_msg("job_outcome_dropped").size() == 1);
  CHECK(f.logs.with_msg("job_released").empty());
}

TEST_CASE_TEMPLATE("Worker: a job canceled while it runs is told to stop through its cancellation token and its outcome is discarded", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.lease_ms = 300;  // renewals every 100 ms
  std::atomic<bool> started{false};
  std::atomic<bool> told{false};
  std::atomic<bool> token{false};
  f.handlers.add("watch", [&](JobContext& context) {
    started = true;
    while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    token = context.canceled();
    told = true;
    return std::string("null");
  });
  auto id = f.enqueue("watch");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return started.load(); }));
  REQUIRE(f.queue->cancel(id));
  REQUIRE(eventually([&] { return told.load(); }));
  REQUIRE(eventually([&] { return !f.logs.with_msg("job_stopped_after_cancel").empty(); }));
  worker.shutdown();
  CHECK(token.load());
  CHECK(f.get(id).state == JobState::canceled);
  CHECK(f.logs.with_msg("job_canceled").size() == 1);
  CHECK(f.logs.with_msg("job_stopped_after_cancel").size() == 1);
  CHECK(f.logs.with_msg("job_succeeded").empty());
  // A cancel is not a lost lease: neither logged nor counted as one.
  CHECK(f.logs.with_msg("job_lease_lost").empty());
  CHECK(f.logs.with_msg("job_lost").empty());
  auto scraped = f.metrics.scrape();
  CHECK(scraped.find(R"(jobs_lease_lost_total{type="unknown"} 1)") == std::string::npos);
  // The attempt counts as canceled, not as succeeded, whatever the handler returned.
  CHECK(scraped.find(R"(jobs_processed_total{status="canceled",type="unknown"} 1)") != std::string::npos);
  CHECK(scraped.find(R"(jobs_processed_total{status="succeeded",type="unknown"} 0)") != std::string::npos);
}

TEST_CASE_TEMPLATE("Worker: a cancel reaches its running handler long before the next lease renewal", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.lease_ms = 90000;  // the first renewal 30 s after the claim
  std::atomic<bool> started{false};
  std::atomic<bool> told{false};
  f.handlers.add("long", [&](JobContext& context) {
    started = true;
    while (!context.canceled() && !context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    told = context.canceled();
    return std::string("null");
  });
  auto id = f.enqueue("long");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return started.load(); }));
  REQUIRE(f.queue->cancel(id));
  // Well under the renewal period: only the cancel check can have told it.
  CHECK(eventually([&] { return told.load(); }, std::chrono::seconds(10)));
  worker.shutdown();
  CHECK(told.load());
  CHECK(f.get(id).state == JobState::canceled);
  CHECK(f.logs.with_msg("job_canceled").size() == 1);
}

TEST_CASE_TEMPLATE("Worker: an outcome refused at settle before any renewal noticed is reported as a lost lease, once", F, SqliteWorker, PostgresWorker) {
  // A long lease: no renewal runs while the job does, so the guarded settle
  // is the first to learn the claim is gone (as for a worker cut off from
  // the database until after its lease lapsed).
  F f;
  f.config.lease_ms = 600000;
  std::atomic<bool> returned{false};
  f.handlers.add("self.cancel", [&](JobContext& context) {
    CHECK(f.queue->cancel(context.job.id));
    returned = true;
    return std::string("null");
  });
  auto id = f.enqueue("self.cancel");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return returned.load(); }));
  REQUIRE(eventually([&] { return !f.logs.with_msg("job_lost").empty(); }));
  worker.shutdown();
  CHECK(f.get(id).state == JobState::canceled);
  auto lost = f.logs.with_msg("job_lease_lost");
  REQUIRE(lost.size() == 1);
  CHECK(lost[0]["job_id"] == id);
  CHECK(f.logs.with_msg("job_lost").size() == 1);
  CHECK(f.logs.with_msg("job_succeeded").empty());
  CHECK(f.metrics.scrape().find(R"(jobs_lease_lost_total{type="unknown"} 1)") != std::string::npos);
}

TEST_CASE_TEMPLATE("Worker: a job whose worker died is reclaimed once its lease expires", F, SqliteWorker, PostgresWorker) {
  F f;
  auto id = f.enqueue("noop", "{}", "req-9");
  REQUIRE(f.queue->claim("ghost", 1, 5000).jobs.size() == 1);
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  f.clock.advance_ms(6500);
  REQUIRE(eventually([&] { return f.get(id).state == JobState::succeeded; }));
  worker.shutdown();
  auto job = f.get(id);
  CHECK(job.attempts == 2);
  CHECK(job.lease_owner == "test-worker");
  auto lapsed = f.logs.with_msg("job_lease_expired");
  REQUIRE(lapsed.size() == 1);
  CHECK(lapsed[0]["previous_owner"] == "ghost");
  CHECK(lapsed[0]["job_id"] == id);
  CHECK(lapsed[0]["request_id"] == "req-9");
  CHECK(lapsed[0]["overdue_ms"] == 1500);  // on the manual clock
  CHECK(lapsed[0]["grace_ms"] == 0);       // the database was never out of reach
  CHECK(f.metrics.scrape().find(R"(job_retries_total{type="noop"} 1)") != std::string::npos);
}

TEST_CASE("Worker on SQLite: time the process's other sessions held the write lock (hold_observer) is grace for others' leases") {
  SqliteWorker f;
  auto ghost = f.enqueue("noop");
  REQUIRE(f.queue->claim("ghost", 1, 5000).jobs.size() == 1);
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  // As if the scheduler's session had just held the lock for 5 s (the
  // worker frozen inside its transaction): nobody could renew meanwhile.
  const auto now = std::chrono::steady_clock::now();
  worker.hold_observer()(now - std::chrono::seconds(5), now);
  f.clock.advance_ms(5001);  // the ghost's lease ran out 1 ms ago
  worker.start();
  auto next = f.enqueue("noop");
  REQUIRE(eventually([&] { return f.get(next).state == JobState::succeeded; }));
  // The claim that took `next` judged the ghost's lease within the grace.
  CHECK(f.get(ghost).state == JobState::running);
  CHECK(f.get(ghost).lease_owner == "ghost");
  // Past the grace (the stretch, plus a renewal period) it lapses.
  f.clock.advance_ms(5000 + f.config.lease_ms / 3);
  REQUIRE(eventually([&] { return f.get(ghost).state == JobState::succeeded; }));
  worker.shutdown();
  auto lapsed = f.logs.with_msg("job_lease_expired");
  REQUIRE(lapsed.size() == 1);
  CHECK(lapsed[0]["grace_ms"].get<std::int64_t>() >= 5000);
}

TEST_CASE("Worker on SQLite: a checkpoint that held writers off, and a handler's write, count as time this worker could not write") {
  SqliteWorker f;
  f.config.lease_ms = 50;  // stretches from 5 ms count
  pw::worker::WorkerContext context(f.config, f.handlers, f.logger, f.metrics, f.clock, "w", f.seams());
  REQUIRE(context.lock_waits.total_within(std::chrono::hours(1)) == 0);

  // Past WalCare's threshold, with a reader on an old snapshot: the RESTART
  // holds writers off while it waits for the reader (WalCare::kReaderWait).
  auto writer = f.open();
  writer->set_autocheckpoint(0);
  writer->exec("CREATE TABLE filler (data BLOB)");
  auto reader = f.open();
  reader->exec("BEGIN");
  pw::db::Statement pin(*reader, "SELECT count(*) FROM filler");
  REQUIRE(pin.step());
  pin.reset();
  pw::db::Statement fill(*writer, "INSERT INTO filler (data) VALUES (zeroblob(1048576))");
  for (std::int64_t written = 0; written <= pw::db::WalCare::kResetAboveBytes; written += 1 << 20) {
    fill.exec();
    fill.reset();
  }
  auto care = context.seams.storage_care(context);
  care->run_once();
  const auto after_care = context.lock_waits.total_within(std::chrono::hours(1));
  CHECK(after_care >= pw::db::WalCare::kReaderWait.count());
  reader->exec("COMMIT");

  // A handler's session, its write held long (as a worker frozen mid-write would).
  auto storage = context.seams.handler_storage(context);
  storage->with_session([&](pw::storage::Session& session) {
    session.write([&] {
      (void)session.store().create_user("alice", "hash", 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    });
  });
  CHECK(context.lock_waits.total_within(std::chrono::hours(1)) >= after_care + 30);
}

TEST_CASE_TEMPLATE("Worker: an idle worker picks up a newly enqueued job", F, SqliteWorker, PostgresWorker) {
  F f;
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  // Give the claimer time to go idle first; any duration works.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto other_side = f.other();
  auto& other = *other_side.queue;
  NewJob job;
  job.type = "noop";
  auto id = other.enqueue(job).id;
  REQUIRE(eventually([&] { return f.get(id).state == JobState::succeeded; }));
  worker.shutdown();
}

TEST_CASE_TEMPLATE("Worker: prunes finished jobs past the retention", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.retention_ms = 1000;
  f.config.prune_interval_ms = 5;
  auto old_id = f.enqueue("noop");
  f.queue->claim("earlier", 1, 1000);
  f.queue->complete("earlier", {f.token(old_id), "null"});
  f.clock.advance_ms(1001);
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return !f.queue->find(old_id); }));
  worker.shutdown();
  auto pruned = f.logs.with_msg("jobs_pruned");
  REQUIRE(pruned.size() >= 1);
  CHECK(pruned[0]["deleted"] == 1);
}

TEST_CASE_TEMPLATE("Worker: the sleep job stops early when the worker stops", F, SqliteWorker, PostgresWorker) {
  F f;
  auto id = f.enqueue("sleep", R"({"ms":600000})");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.get(id).state == JobState::running; }));
  worker.shutdown();
  CHECK(f.get(id).state == JobState::queued);
  CHECK(f.get(id).attempts == 0);
}

TEST_CASE_TEMPLATE("Worker: the sleep job refuses a bad payload for good", F, SqliteWorker, PostgresWorker) {
  F f;
  auto id = f.enqueue("sleep", R"({"ms":"soon"})");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return f.get(id).state == JobState::dead; }));
  worker.shutdown();
  CHECK(f.get(id).last_error->find("sleep: payload") == 0);
}

TEST_CASE_TEMPLATE("Worker: shutdown runs its steps in order, each once", F, SqliteWorker, PostgresWorker) {
  F f;
  std::atomic<bool> started{false};
  f.handlers.add("long", [&](JobContext& context) -> std::string {
    started = true;
    while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    throw std::runtime_error("stopping");
  });
  f.enqueue("long");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return started.load(); }));
  worker.shutdown();
  worker.shutdown();
  std::vector<std::string> steps;
  for (const auto& line : f.logs.with_msg("worker_shutdown_step")) steps.push_back(line["step"]);
  const std::vector<std::string> expected = {"stop_claiming",     "hand_back_unstarted", "wait_for_handlers",
                                             "stop_handlers",     "record_outcomes",     "stop_lease_keeper"};
  CHECK(steps == expected);
  // The hand-back was recorded by the completer before it stopped, and the
  // totals line comes last.
  CHECK(f.logs.with_msg("job_released").size() == 1);
  CHECK(f.logs.with_msg("worker_totals").size() == 1);
}

TEST_CASE_TEMPLATE("Worker: a worker that retakes its own lapsed job stops the old run and records only the new run's outcome", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.lease_ms = 60000;  // renewals every 20 s of real time: none comes before the lapse
  std::atomic<int> runs{0};
  std::atomic<bool> old_run_told{false};
  f.handlers.add("twice", [&](JobContext& context) -> std::string {
    int run = ++runs;
    if (run == 1) {
      // The first run outlives its lease (the process was frozen, say) and
      // keeps going until it is told to stop, then reports a result anyway.
      while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      old_run_told = true;
      return R"("first run")";
    }
    return R"("second run")";
  });
  auto id = f.enqueue("twice");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return runs == 1; }));
  // The lease lapses before any renewal, and this same worker claims the job again.
  f.clock.advance_ms(60000);
  REQUIRE(eventually([&] { return f.get(id).state == JobState::succeeded; }));
  REQUIRE(eventually([&] { return old_run_told.load(); }));
  REQUIRE(eventually([&] { return !f.logs.with_msg("job_lost").empty(); }));
  worker.shutdown();
  auto job = f.get(id);
  CHECK(job.result == R"("second run")");
  CHECK(job.attempts == 2);
  CHECK(job.claim == 2);
  auto lost = f.logs.with_msg("job_lost");
  REQUIRE(lost.size() == 1);
  CHECK(lost[0]["claim"] == 1);
  auto succeeded = f.logs.with_msg("job_succeeded");
  REQUIRE(succeeded.size() == 1);
  CHECK(succeeded[0]["claim"] == 2);
  CHECK(f.logs.with_msg("job_lease_expired").size() == 1);
}

TEST_CASE_TEMPLATE("Worker: a running job canceled and retried: the canceled run is told to stop, the new run's outcome is recorded", F, SqliteWorker, PostgresWorker) {
  F f;
  f.config.lease_ms = 300;  // renewals every 100 ms
  std::atomic<int> runs{0};
  std::atomic<bool> release_second{false};
  f.handlers.add("watched", [&](JobContext& context) -> std::string {
    int run = ++runs;
    if (run == 1) {
      while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return R"("canceled run")";
    }
    while (!release_second) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return R"("retried run")";
  });
  auto id = f.enqueue("watched");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  REQUIRE(eventually([&] { return runs == 1; }));
  REQUIRE(f.queue->cancel(id));
  REQUIRE(f.queue->retry(id));
  REQUIRE(eventually([&] { return runs == 2; }));
  // The canceled run learns (from a renewal, or from the cancel check if it
  // looked between the cancel and the retry) while the retried run still runs.
  REQUIRE(eventually([&] {
    return !f.logs.with_msg("job_lost").empty() || !f.logs.with_msg("job_stopped_after_cancel").empty();
  }));
  CHECK(f.get(id).state == JobState::running);
  release_second = true;
  REQUIRE(eventually([&] { return f.get(id).state == JobState::succeeded; }));
  worker.shutdown();
  CHECK(f.get(id).result == R"("retried run")");
  CHECK(f.logs.with_msg("job_succeeded").size() == 1);
}

TEST_CASE("Worker: an idle worker never claims in a loop when a due job cannot be taken") {
  SqliteWorker f;
  auto stuck = f.enqueue("noop");
  // A row next_due names as due that no claim can take (as a text run_at
  // did before the table was STRICT): the trigger silently skips its claim.
  f.connection.exec("CREATE TRIGGER untakable BEFORE UPDATE OF state ON jobs WHEN OLD.id = " +
                          std::to_string(stuck) + " BEGIN SELECT RAISE(IGNORE); END");
  Worker worker(f.config, f.handlers, f.logger, f.metrics, f.clock, f.seams());
  worker.start();
  // One second of real time: before the fix, a claim every poll interval
  // (thousands); with it, a doubling pause up to 1 s (about 10).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto other = f.enqueue("noop");  // new work is still picked up at once
  REQUIRE(eventually([&] { return f.get(other).state == JobState::succeeded; }));
  worker.shutdown();
  auto totals = f.logs.with_msg("worker_totals");
  REQUIRE(totals.size() == 1);
  INFO(totals[0].dump());
  CHECK(totals[0]["claim_transactions"].get<int>() < 40);
  CHECK(f.get(stuck).state == JobState::queued);
}
