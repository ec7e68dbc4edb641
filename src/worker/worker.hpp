// `personaworlds worker`: claims jobs in batches, runs them on handler
// threads, renews their leases, records outcomes in batches, and on shutdown
// hands back what it could not finish.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "worker/handler.hpp"

namespace pw::worker {

class Worker {
 public:
  Worker(const config::WorkerConfig& config, const HandlerRegistry& handlers,
         const observability::Logger& logger, observability::Metrics& metrics, const queue::Clock& clock);
  ~Worker();  // shutdown() if still running
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Stops claiming; running jobs get shutdown_grace_ms to finish, the rest are
  // handed back to queued without charging the attempt. Blocks until every
  // thread has joined. Idempotent.
  void shutdown();
  // False once a worker thread died unexpectedly (for /healthz).
  bool healthy() const;
  const std::string& id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pw::worker
