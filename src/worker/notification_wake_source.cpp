#include "worker/notification_wake_source.hpp"

#include <unistd.h>

#include "db/error.hpp"
#include "queue/postgres_job_queue.hpp"

namespace pw::worker {

NotificationWakeSource::NotificationWakeSource(Options options, const observability::Logger& logger)
    : m_options(std::move(options)), m_logger(logger) {
  if (m_options.probe_url.empty()) m_options.probe_url = m_options.database.url;
  try_connect();
}

NotificationWakeSource::~NotificationWakeSource() = default;

bool NotificationWakeSource::try_connect() {
  m_next_connect = Clock::now() + m_options.reconnect_pause;
  try {
    auto listener = std::make_unique<db::postgres::Connection>(m_options.database);
    listener->listen(queue::kJobsChannel);
    // The start check: a probe sent from another session must come back.
    std::string probe = "probe " + std::to_string(::getpid()) + " " + std::to_string(listener->backend_pid());
    {
      db::postgres::Connection sender({m_options.probe_url, m_options.database.connect_timeout_s,
                                       m_options.database.application_name});
      sender.query("SELECT pg_notify($1, $2)", db::postgres::Params().add(queue::kJobsChannel).add(probe));
    }
    bool arrived = false;
    auto deadline = Clock::now() + m_options.probe_timeout;
    while (!arrived && Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto notification = listener->wait_for_notification(left);
      if (notification && notification->payload == probe) arrived = true;
    }
    m_delivering = arrived;
    if (!arrived && !m_warned) {
      m_warned = true;
      m_logger.warn("wake_notifications_unavailable",
                    {{"reason", std::string("a probe notification did not arrive (a connection pooler in transaction mode?)")},
                     {"poll_ms", static_cast<std::int64_t>(m_options.poll_without_notifications.count())}});
    }
    m_listener = std::move(listener);
    return true;
  } catch (const std::exception& error) {
    m_listener.reset();
    m_delivering = false;
    m_logger.warn("wake_listener_unavailable",
                  {{"error", std::string(error.what())},
                   {"retry_ms", static_cast<std::int64_t>(m_options.reconnect_pause.count())}});
    return false;
  }
}

bool NotificationWakeSource::drain() {
  if (!m_listener) return false;
  bool any = false;
  try {
    while (m_listener->wait_for_notification(std::chrono::milliseconds(0))) any = true;
  } catch (const db::Error& error) {
    m_listener.reset();
    m_delivering = false;
    m_logger.warn("wake_listener_lost", {{"error", std::string(error.what())}});
    return true;  // whatever was sent meanwhile is lost: look now
  }
  return any;
}

void NotificationWakeSource::mark() {
  drain();
  m_pending = false;
  m_marked_at = Clock::now();
}

bool NotificationWakeSource::news() {
  if (!m_listener && Clock::now() >= m_next_connect) {
    // Back after a loss: what was sent while it was away is unknown.
    if (try_connect()) m_pending = true;
  }
  if (drain()) m_pending = true;
  if (m_pending) return true;
  auto quiet = Clock::now() - m_marked_at;
  if (!listening()) return quiet >= m_options.poll_without_notifications;
  return quiet >= m_options.fallback_poll;
}

}  // namespace pw::worker
