#include "app/backlog.hpp"

#include "queue/job_queue.hpp"

namespace pw::app {

void export_backlog(observability::Metrics& metrics, db::ConnectionPool& pool, const queue::Clock& clock,
                    const config::RetryConfig& retry, const observability::Logger& logger) {
  metrics.set_scrape_hook([&pool, &clock, retry, &logger](observability::Metrics& m) {
    try {
      auto connection = pool.acquire();
      queue::JobQueue queue(*connection, clock, retry);
      m.set_queue_depth(queue.ready_counts());
      m.set_oldest_ready_age(queue.oldest_ready_age_seconds());
    } catch (const std::exception& e) {
      logger.warn("queue_depth_unavailable", {{"error", e.what()}});
    }
  });
}

}  // namespace pw::app
