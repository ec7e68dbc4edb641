#include "worker/postgres_seams.hpp"

#include "queue/postgres_job_queue.hpp"
#include "storage/drivers.hpp"
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
  // However many handler threads run, they share pool_size server
  // connections: a handler leases a session per transaction.
  seams.handler_storage = [](WorkerContext& context) {
    return storage::open_postgres_storage(context.config.db, static_cast<std::size_t>(context.config.db.pool_size),
                                          context.session_settings());
  };
  seams.wake_source = [wake, &logger](queue::JobTable&) -> std::unique_ptr<WakeSource> {
    return std::make_unique<NotificationWakeSource>(wake, logger);
  };
  return seams;
}

}  // namespace pw::worker
