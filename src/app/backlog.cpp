#include "app/backlog.hpp"

namespace pw::app {

void export_backlog(observability::Metrics& metrics, storage::Storage& storage, const observability::Logger& logger) {
  metrics.set_scrape_hook([&storage, &logger](observability::Metrics& m) {
    try {
      storage.with_session([&](storage::Session& session) {
        m.set_queue_depth(session.jobs().ready_counts());
        m.set_oldest_ready_age(session.jobs().oldest_ready_age_seconds());
        std::vector<std::string> paused;
        for (const auto& control : session.jobs().controls()) {
          if (control.paused) paused.push_back(control.type);
        }
        m.set_queue_paused(paused);
      });
    } catch (const std::exception& e) {
      logger.warn("queue_depth_unavailable", {{"error", e.what()}});
    }
  });
}

}  // namespace pw::app
