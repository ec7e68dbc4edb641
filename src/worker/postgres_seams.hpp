// The worker on PostgreSQL: each of its threads a connection of its own,
// handlers sharing a pool of DATABASE_POOL_SIZE sessions, wake-ups from
// notifications (NotificationWakeSource), and no storage care (autovacuum's,
// tuned on the jobs table by its migration).
#pragma once

#include "db/postgres/connection.hpp"
#include "observability/logger.hpp"
#include "worker/driver_seams.hpp"
#include "worker/notification_wake_source.hpp"

namespace pw::worker {

DriverSeams postgres_seams(const db::postgres::Settings& database, const observability::Logger& logger,
                           NotificationWakeSource::Options wake = {});

}  // namespace pw::worker
