// The setting of every job table test: a migrated database, a manual clock
// and a queue on it. QueueFixture is SQLite (a fresh temporary folder,
// removed on scope exit); PostgresQueueFixture is a fresh database on the
// test server. Both offer the same members, so one test body runs on each
// driver (TEST_CASE_TEMPLATE over both).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"
#include "queue/clock.hpp"
#include "queue/job_queue.hpp"
#include "queue/postgres_job_queue.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

namespace pw::test {

// What every fixture offers on top of its `queue` (either driver's).
template <class Fixture>
struct JobHelpers {
  std::int64_t add(std::string type = "noop", int priority = 0, std::optional<std::int64_t> run_at = {},
                   std::optional<int> max_attempts = {}) {
    queue::NewJob job;
    job.type = std::move(type);
    job.priority = priority;
    job.run_at_ms = run_at;
    job.max_attempts = max_attempts;
    return table().enqueue(job).id;
  }

  // The job's latest claim, as the worker holding it knows it.
  queue::ClaimToken token(std::int64_t id) { return queue::token_of(get(id)); }

  queue::Job get(std::int64_t id) {
    auto job = table().find(id);
    if (!job) throw std::runtime_error("no job " + std::to_string(id));
    return *job;
  }

 private:
  queue::JobTable& table() { return *static_cast<Fixture*>(this)->queue; }
};

struct QueueFixture : JobHelpers<QueueFixture> {
  TempDir dir;
  config::DatabaseConfig db_config = [this] {
    config::DatabaseConfig config;
    config.path = dir.file("jobs.db");
    return config;
  }();
  config::RetryConfig retry{.backoff_base_ms = 1000, .backoff_cap_ms = 600000, .default_max_attempts = 10};
  queue::ManualClock clock;
  db::Connection connection{db_config};
  std::unique_ptr<queue::JobQueue> queue;

  QueueFixture() {
    migrations::Migrator(connection, migrations::embedded()).apply_pending();
    queue = std::make_unique<queue::JobQueue>(connection, clock, retry);
  }

  // A second, independent connection and queue (another process, in effect).
  std::unique_ptr<db::Connection> open() { return std::make_unique<db::Connection>(db_config); }
  struct Other {
    std::unique_ptr<db::Connection> connection;
    std::unique_ptr<queue::JobQueue> queue;
  };
  Other other() {
    Other side{open(), nullptr};
    side.queue = std::make_unique<queue::JobQueue>(*side.connection, clock, retry);
    return side;
  }

};

struct PostgresQueueFixture : JobHelpers<PostgresQueueFixture> {
  std::string url = PostgresServer::shared().create_database();
  config::RetryConfig retry{.backoff_base_ms = 1000, .backoff_cap_ms = 600000, .default_max_attempts = 10};
  queue::ManualClock clock;
  db::postgres::Connection connection{{url}};
  std::unique_ptr<queue::PostgresJobQueue> queue;

  PostgresQueueFixture() {
    migrations::PostgresMigrator(connection, migrations::embedded(migrations::Dialect::postgres)).apply_pending();
    queue = std::make_unique<queue::PostgresJobQueue>(connection, clock, retry);
  }

  struct Other {
    std::unique_ptr<db::postgres::Connection> connection;
    std::unique_ptr<queue::PostgresJobQueue> queue;
  };
  Other other() {
    Other side{std::make_unique<db::postgres::Connection>(db::postgres::Settings{url}), nullptr};
    side.queue = std::make_unique<queue::PostgresJobQueue>(*side.connection, clock, retry);
    return side;
  }

};

}  // namespace pw::test

TYPE_TO_STRING_AS("SQLite", pw::test::QueueFixture);
TYPE_TO_STRING_AS("PostgreSQL", pw::test::PostgresQueueFixture);
