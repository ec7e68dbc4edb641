#include <iostream>

#include "api/routes.hpp"
#include "app/backlog.hpp"
#include "app/health.hpp"
#include "jobs/contract.hpp"
#include "app/roles.hpp"
#include "app/signals.hpp"
#include "app/startup.hpp"
#include "http/server.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "webhook/network_libraries.hpp"

namespace pw::app {

int run_api(const config::ApiConfig& config) {
  ShutdownSignals signals;
  observability::Logger logger("api", config.log);
  try {
    // Before any thread that delivers or resolves: their global set-up is not thread-safe.
    webhook::NetworkLibraries network_libraries;
    observability::Metrics metrics("api", jobs::job_kinds());
    queue::SystemClock clock;
    const storage::SessionSettings session_settings{
        clock, config.retry,
        {[&metrics](double seconds) { metrics.observe_db_query(seconds); },
         [&metrics](double seconds, bool acquired) { metrics.observe_lock_wait(seconds, acquired); },
         {}}};
    auto storage =
        storage::open_storage(config.db, request_sessions(config.db, config.http.threads), session_settings);
    // Requests' commits never stop to checkpoint the WAL: a thread does.
    storage->start_upkeep([&logger](const std::exception& e, int consecutive) {
      logger.warn("db_upkeep_failed", {{"error", e.what()}, {"consecutive", consecutive}});
    });
    // One session for the console's background count of every job
    // (api/admin_counts.hpp). Declared before the server: the server's
    // routes own that count's thread, which must stop before this goes.
    auto background_storage = storage::open_storage(config.db, 1, session_settings);
    if (!schema_allows_start(*storage, logger)) return 1;
    std::atomic<bool> shutting_down{false};
    export_backlog(metrics, *storage, logger);

    http::Server server(config.http, logger, metrics);
    register_health_routes(server, {config.db, *storage, metrics, shutting_down});
    api::register_routes(server,
                         api::Dependencies{config, *storage, clock, logger, metrics, background_storage.get()});

    int port = server.start();
    logger.info("api_started", {{"host", config.http.host},
                                {"port", port},
                                {"db", storage->location()},
                                {"version", PW_VERSION},
                                {"threads", config.http.threads}});
    int signal = signals.wait();
    // Tell load balancers first, then stop taking connections.
    shutting_down = true;
    logger.info("api_stopping", {{"signal", signal}, {"delay_ms", config.shutdown_delay_ms}});
    std::this_thread::sleep_for(std::chrono::milliseconds(config.shutdown_delay_ms));
    server.stop();
    logger.info("api_stopped");
    return 0;
  } catch (const std::exception& e) {
    logger.error("api_failed", {{"error", e.what()}});
    std::cerr << "personaworlds api: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
