#include "worker/postgres_seams.hpp"

#include "queue/postgres_job_queue.hpp"
#include "worker/context.hpp"

namespace pw::worker {

DriverSeams postgres_seams(const db::postgres::Settings& database, const observability::Logger& logger,
                           NotificationWakeSource::Options wake) {
  wake.database = database;
  DriverSeams seams;
  seams.job_table = [database](WorkerContext& context, bool) {
    auto connection = std::make_unique<db::postgres::Connection>(database, context.observer());
    return std::unique_ptr<queue::JobTable>(
        std::make_unique<queue::PostgresJobQueue>(std::move(connection), context.clock, context.config.retry));
  };
  seams.wake_source = [wake, &logger](queue::JobTable&) -> std::unique_ptr<WakeSource> {
    return std::make_unique<NotificationWakeSource>(wake, logger);
  };
  return seams;
}

}  // namespace pw::worker
