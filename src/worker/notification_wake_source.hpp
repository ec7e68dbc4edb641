// The PostgreSQL wake source: an idle claimer learns of new work from
// notifications (LISTEN on queue::kJobsChannel), which every transaction that
// enqueues a job due now sends (PostgresJobQueue). It keeps a connection of
// its own for listening, and:
//
// - checks at start that a notification really arrives. Behind a pooler in
//   transaction mode (PgBouncer) LISTEN silently hears nothing; then it warns
//   once (wake_notifications_unavailable) and falls back to polling;
// - reconnects by itself when its session is lost, and reports news at once
//   then (whatever was sent meanwhile was missed), polling until it is back;
// - reports news after `fallback_poll` without any, so a lost notification
//   costs at most that long.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "db/postgres/connection.hpp"
#include "observability/logger.hpp"
#include "worker/wake_source.hpp"

namespace pw::worker {

class NotificationWakeSource final : public WakeSource {
 public:
  struct Options {
    db::postgres::Settings database;
    // Where the start check sends its probe from; the database's URL unless
    // set (a different database makes the probe never arrive, as behind a
    // pooler in transaction mode).
    std::string probe_url;
    std::chrono::milliseconds fallback_poll{1000};
    // While notifications cannot be used: news this often.
    std::chrono::milliseconds poll_without_notifications{50};
    std::chrono::milliseconds probe_timeout{2000};
    std::chrono::milliseconds reconnect_pause{500};
  };

  NotificationWakeSource(Options options, const observability::Logger& logger);
  ~NotificationWakeSource() override;

  void mark() override;
  bool news() override;

  // Whether notifications arrive (the start check passed and the listener is
  // connected); false: polling.
  bool listening() const { return m_listener != nullptr && m_delivering; }

 private:
  using Clock = std::chrono::steady_clock;
  bool try_connect();
  // Takes in what has arrived; true if anything did. Drops the listener when
  // its session is lost.
  bool drain();

  Options m_options;
  const observability::Logger& m_logger;
  std::unique_ptr<db::postgres::Connection> m_listener;
  bool m_delivering = false;
  bool m_warned = false;
  bool m_pending = true;  // nothing seen yet: the first check claims
  Clock::time_point m_marked_at = Clock::now();
  Clock::time_point m_next_connect = Clock::time_point::min();
};

}  // namespace pw::worker
