// The worker on SQLite: every thread its own connection to the database
// file; idle wake-ups from PRAGMA data_version; WAL checkpoints as care.
#include <stdexcept>

#include "queue/job_queue.hpp"
#include "storage/drivers.hpp"
#include "worker/context.hpp"
#include "worker/driver_seams.hpp"
#include "worker/housekeeping.hpp"

namespace pw::worker {
namespace {

// data_version moves when another connection commits: read on the claimer's
// own connection, its own claims do not count as news.
class DataVersionWakeSource final : public WakeSource {
 public:
  explicit DataVersionWakeSource(queue::JobQueue& queue) : m_queue(queue) {}
  void mark() override { m_seen = m_queue.data_version(); }
  bool news() override { return m_queue.data_version() != m_seen; }

 private:
  queue::JobQueue& m_queue;
  std::int64_t m_seen = -1;  // nothing seen yet: the first check claims
};

std::unique_ptr<db::Connection> open_connection(WorkerContext& context, bool autocheckpoint) {
  auto connection = std::make_unique<db::Connection>(context.config.db, context.observer(), context.lock_observer());
  if (!autocheckpoint) connection->set_autocheckpoint(0);
  return connection;
}

}  // namespace

DriverSeams sqlite_seams() {
  DriverSeams seams;
  seams.job_table = [](WorkerContext& context, bool autocheckpoint) {
    auto queue = std::make_unique<queue::JobQueue>(open_connection(context, autocheckpoint), context.clock,
                                                   context.config.retry);
    queue->observe_lock_waits(context.lock_waits);
    return std::unique_ptr<queue::JobTable>(std::move(queue));
  };
  // Handlers' own writes keep automatic checkpoints: they are not on the
  // claim path, and a handler-heavy workload must not grow the WAL unchecked.
  // A session per handler thread at most: they are local and cheap.
  seams.handler_storage = [](WorkerContext& context) {
    return storage::open_sqlite_storage(context.config.db, static_cast<std::size_t>(context.config.concurrency),
                                        context.session_settings());
  };
  seams.wake_source = [](queue::JobTable& table) -> std::unique_ptr<WakeSource> {
    // The seams come as one set: the claimer's table is the one job_table made.
    auto* queue = dynamic_cast<queue::JobQueue*>(&table);
    if (queue == nullptr) throw std::logic_error("the SQLite wake source needs an SQLite job table");
    return std::make_unique<DataVersionWakeSource>(*queue);
  };
  seams.storage_care = [](WorkerContext& context) -> std::unique_ptr<StorageCare> {
    auto connection = open_connection(context, true);
    connection->observe_holds(context.hold_observer());
    return std::make_unique<WalCheckpoints>(std::move(connection));
  };
  return seams;
}

}  // namespace pw::worker
