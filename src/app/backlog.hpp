// The backlog gauges, queue_depth, job_oldest_ready_age_seconds and
// queue_paused (the paused types, queue/controls.hpp), read from
// the job table whenever /metrics is scraped. Both roles export them: the
// backlog must stay visible when no worker is running, which is exactly when
// it matters. Every process reads the same table, so rules and panels take
// `max by (type)` and never sum them.
#pragma once

#include "config/config.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "storage/storage.hpp"

namespace pw::app {

// Sets the scrape hook of `metrics`. Every argument must outlive the
// servers that scrape `metrics`. A reading that fails is logged (warn,
// `queue_depth_unavailable`) and leaves the gauges as they were.
void export_backlog(observability::Metrics& metrics, storage::Storage& storage, const observability::Logger& logger);

}  // namespace pw::app
