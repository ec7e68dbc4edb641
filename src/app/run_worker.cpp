#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "app/backlog.hpp"
#include "app/health.hpp"
#include "app/roles.hpp"
#include "app/signals.hpp"
#include "app/startup.hpp"
#include "http/server.hpp"
#include "jobs/builtin.hpp"
#include "jobs/contract.hpp"
#include "jobs/handlers.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "schedule/scheduler.hpp"
#include "webhook/network_libraries.hpp"
#include "storage/drivers.hpp"
#include "worker/postgres_seams.hpp"
#include "worker/worker.hpp"

namespace pw::app {

int run_worker(const config::WorkerConfig& config) {
  ShutdownSignals signals;
  observability::Logger logger("worker", config.log);
  try {
    // Before any thread that delivers or resolves: their global set-up is not thread-safe.
    webhook::NetworkLibraries network_libraries;
    worker::HandlerRegistry handlers;
    jobs::register_builtin_handlers(handlers);
    jobs::register_handlers(handlers, config);

    observability::Metrics metrics("worker", jobs::job_kinds());
    queue::SystemClock clock;
    // Not started until the schema is checked; made first so that the
    // scheduler's writes below count toward its lapse grace as its own do.
    worker::Worker runner(config, handlers, logger, metrics, clock,
                          config::uses_postgres(config.db)
                              ? worker::postgres_seams(storage::postgres_settings(config.db), logger)
                              : worker::sqlite_seams());
    // For the health checks, the backlog gauges and the scheduler loop; the
    // worker's own threads and handlers have theirs (see worker/driver_seams.hpp).
    auto storage = storage::open_storage(
        config.db, 3,
        {clock, config.retry,
         {[&metrics](double seconds) { metrics.observe_db_query(seconds); },
          [&metrics](double seconds, bool acquired) { metrics.observe_lock_wait(seconds, acquired); },
          runner.hold_observer()}});
    if (!schema_allows_start(*storage, logger)) return 1;
    std::atomic<bool> shutting_down{false};

    export_backlog(metrics, *storage, logger);

    http::Server server(config.observability, logger, metrics);
    register_health_routes(server,
                           {config.db, *storage, metrics, shutting_down, [&runner] { return runner.healthy(); }});

    // The observability server is up from the moment the worker starts until
    // it has shut down.
    int port = server.start();
    runner.start();
    logger.info("worker_started", {{"worker_id", runner.id()},
                                   {"observability_port", port},
                                   {"concurrency", config.concurrency},
                                   {"type_concurrency", [&] {
                                      std::string all;
                                      for (const auto& [type, limit] : config::type_concurrency(config)) {
                                        all += (all.empty() ? "" : ",") + type + "=" + std::to_string(limit);
                                      }
                                      return all;
                                    }()},
                                   {"db", storage->location()},
                                   {"version", PW_VERSION},
                                   {"types", [&] {
                                      std::string all;
                                      for (const auto& t : handlers.types()) all += (all.empty() ? "" : ",") + t;
                                      return all;
                                    }()}});
    // About once per poll interval, at most a second apart (a cron tick is a
    // minute at the finest).
    std::optional<schedule::Scheduler> scheduler;
    scheduler.emplace(*storage, clock, schedule::FireSettings{config.limits},
                      std::chrono::milliseconds(std::clamp<std::int64_t>(config.poll_interval_ms, 100, 1000)), logger,
                      metrics);
    int signal = signals.wait();
    shutting_down = true;
    logger.info("worker_stopping", {{"signal", signal}, {"grace_ms", config.shutdown_grace_ms}});
    scheduler.reset();
    runner.shutdown();
    server.stop();
    logger.info("worker_stopped", {{"abandoned_jobs", runner.abandoned()}});
    if (runner.abandoned() > 0) {
      // Handlers that ignored stop past the grace are still running: end
      // them with the process now rather than wait on them. Their jobs keep
      // their leases and run again once the leases lapse.
      logger.flush();
      std::fflush(nullptr);
      std::_Exit(0);
    }
    return 0;
  } catch (const std::exception& e) {
    logger.error("worker_failed", {{"error", e.what()}});
    std::cerr << "personaworlds worker: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
