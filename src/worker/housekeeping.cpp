#include "worker/housekeeping.hpp"

#include <algorithm>

#include "queue/job_table.hpp"

namespace pw::worker {

void Housekeeper::start(std::function<Chore()> make_chore) {
  m_thread = spawn(m_context, m_name, [this, make_chore = std::move(make_chore)](std::stop_token stop) {
    auto stopped = [&] { return stop.stop_requested(); };
    auto chore = open_guarded(m_context, m_name, stopped, stop, [&] { return std::optional<Chore>(make_chore()); });
    if (!chore || !chore->round) return;
    while (pause_unless_stopped(stop, chore->period)) run_guarded(m_context, m_name, chore->round, stopped, stop);
  });
}

void Housekeeper::stop() {
  if (!m_thread.joinable()) return;
  m_thread.request_stop();
  m_thread.join();
}

void start_pruner(Housekeeper& pruner, WorkerContext& context) {
  pruner.start([&context] {
    std::shared_ptr<queue::JobTable> queue = context.seams.job_table(context, true);
    auto round = [&context, queue] {
      // No write gate: pruning runs many short transactions and must not
      // hold up claims between them.
      std::int64_t deleted = queue->prune(context.config.retention_ms);
      if (deleted > 0) {
        context.logger.info("jobs_pruned", {{"deleted", static_cast<long long>(deleted)},
                                            {"retention_ms", static_cast<long long>(context.config.retention_ms)}});
      }
    };
    return Chore{round, std::chrono::milliseconds(context.config.prune_interval_ms)};
  });
}

void start_storage_care(Housekeeper& keeper, WorkerContext& context) {
  if (!context.seams.storage_care) return;
  keeper.start([&context] {
    std::shared_ptr<StorageCare> care = context.seams.storage_care(context);
    if (!care) return Chore{};
    return Chore{[care] { care->run_once(); }, care->period()};
  });
}

}  // namespace pw::worker
