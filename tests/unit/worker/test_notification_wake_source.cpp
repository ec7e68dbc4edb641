// The PostgreSQL wake source against a real server: commits of jobs due now
// wake it, nothing else does, it survives the loss of its session, and it
// falls back to polling when notifications cannot arrive.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "observability/logger.hpp"
#include "queue/postgres_job_queue.hpp"
#include "support/postgres_server.hpp"
#include "unit/queue/queue_fixture.hpp"
#include "worker/notification_wake_source.hpp"

using namespace std::chrono_literals;
using pw::queue::NewJob;
using pw::test::PostgresQueueFixture;
using pw::worker::NotificationWakeSource;

namespace {

struct WakeFixture : PostgresQueueFixture {
  std::vector<std::string> lines;
  pw::observability::Logger logger{"worker", pw::observability::LogLevel::debug, pw::config::LogFormat::json,
                                   [this](std::string_view line) { lines.emplace_back(line); }};

  NotificationWakeSource::Options options() {
    NotificationWakeSource::Options options;
    options.database.url = url;
    options.fallback_poll = 60s;  // long: only notifications may wake it here
    return options;
  }

  bool logged(const std::string& msg) const {
    for (const auto& line : lines) {
      if (line.find("\"msg\":\"" + msg + "\"") != std::string::npos) return true;
    }
    return false;
  }
};

// news() within `wait`, asked as an idle claimer would (every few ms).
bool news_within(NotificationWakeSource& wake, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  do {
    if (wake.news()) return true;
    std::this_thread::sleep_for(2ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace

TEST_CASE("PostgreSQL wake source: a committed job due now wakes it, a rolled-back or future one does not") {
  WakeFixture f;
  NotificationWakeSource wake(f.options(), f.logger);
  CHECK(wake.listening());
  CHECK(wake.news());  // nothing seen yet: the first check claims
  wake.mark();
  CHECK_FALSE(news_within(wake, 100ms));

  {
    pw::db::postgres::Transaction transaction(f.connection);
    f.queue->enqueue_in_transaction(NewJob{.type = "noop"});
  }  // rolled back: never announced
  f.queue->enqueue(NewJob{.type = "noop", .run_at_ms = f.clock.now_ms() + 60000});
  CHECK_FALSE(news_within(wake, 150ms));

  f.queue->enqueue(NewJob{.type = "noop"});
  CHECK(news_within(wake, 2s));
  wake.mark();
  CHECK_FALSE(wake.news());
}

TEST_CASE("PostgreSQL wake source: a lost listener session is news at once, and it listens again after") {
  WakeFixture f;
  auto options = f.options();
  options.reconnect_pause = 10ms;
  NotificationWakeSource wake(options, f.logger);
  wake.mark();
  REQUIRE_FALSE(wake.news());
  // The listener is the session listening on the channel.
  auto pid = f.connection
                 .query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                        "pg_backend_pid() AND query LIKE 'LISTEN%'")
                 .int32(0, 0);
  f.connection.query("SELECT pg_terminate_backend($1)", pw::db::postgres::Params().add(pid));
  CHECK(news_within(wake, 2s));
  CHECK(f.logged("wake_listener_lost"));
  // Reconnected: quiet again after a mark, woken by the next job.
  REQUIRE(news_within(wake, 2s));
  wake.mark();
  std::this_thread::sleep_for(20ms);
  (void)wake.news();  // reconnects here if it had not yet
  wake.mark();
  CHECK(wake.listening());
  CHECK_FALSE(news_within(wake, 100ms));
  f.queue->enqueue(NewJob{.type = "noop"});
  CHECK(news_within(wake, 2s));
}

TEST_CASE("PostgreSQL wake source: when the start check hears nothing it warns once and polls") {
  WakeFixture f;
  auto options = f.options();
  // The probe goes to another database: it never arrives, as behind a pooler
  // in transaction mode.
  options.probe_url = pw::test::PostgresServer::shared().create_database();
  options.probe_timeout = 200ms;
  options.poll_without_notifications = 30ms;
  NotificationWakeSource wake(options, f.logger);
  CHECK_FALSE(wake.listening());
  CHECK(f.logged("wake_notifications_unavailable"));
  wake.mark();
  CHECK_FALSE(wake.news());
  std::this_thread::sleep_for(40ms);
  CHECK(wake.news());  // polling
}

TEST_CASE("PostgreSQL wake source: with nothing announced, the fallback poll still reports news") {
  WakeFixture f;
  auto options = f.options();
  options.fallback_poll = 50ms;
  NotificationWakeSource wake(options, f.logger);
  wake.mark();
  CHECK_FALSE(wake.news());
  std::this_thread::sleep_for(60ms);
  CHECK(wake.news());
}

TEST_CASE("PostgreSQL notify limiter: one notification per interval from a process, however many enqueues") {
  WakeFixture f;
  pw::queue::NotifyLimiter limiter(10s);
  f.queue->notify_through(&limiter);
  pw::db::postgres::Connection listener({f.url});
  listener.listen(pw::queue::kJobsChannel);
  for (int i = 0; i < 5; ++i) f.queue->enqueue(NewJob{.type = "noop"});
  CHECK(listener.wait_for_notification(2s).has_value());
  CHECK_FALSE(listener.wait_for_notification(100ms).has_value());

  pw::queue::NotifyLimiter brief(0ms);
  f.queue->notify_through(&brief);
  // Each enqueue is its own transaction: PostgreSQL folds identical
  // notifications only within one.
  for (int i = 0; i < 3; ++i) f.queue->enqueue(NewJob{.type = "noop"});
  int heard = 0;
  while (listener.wait_for_notification(200ms)) ++heard;
  CHECK(heard == 3);
}
