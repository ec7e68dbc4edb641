#include "worker/worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "worker/claimer.hpp"
#include "worker/completer.hpp"
#include "worker/context.hpp"
#include "worker/executor.hpp"
#include "worker/housekeeping.hpp"
#include "worker/in_hand.hpp"
#include "worker/lease_keeper.hpp"
#include "worker/outcome.hpp"

namespace pw::worker {
namespace {

std::string make_worker_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xFFFFFF);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + suffix;
}

Slots slots(const config::WorkerConfig& config) {
  return Slots{.concurrency = config.concurrency,
               // Twice the handlers: however many of one type wait in hand
               // for their type's slots, the other types still have room.
               .capacity = 2 * config.concurrency,
               .claim_threshold = std::max(1, std::min(config.batch_size, config.concurrency / 2)),
               .type_limits = config::type_concurrency(config)};
}

}  // namespace

struct Worker::Parts {
  Parts(const config::WorkerConfig& config, const HandlerRegistry& handlers, const observability::Logger& logger,
        observability::Metrics& metrics, const queue::Clock& clock, DriverSeams seams)
      : context(config, handlers, logger, metrics, clock,
                config.worker_id.empty() ? make_worker_id() : config.worker_id, std::move(seams)),
        in_hand(slots(config)) {}

  WorkerContext context;
  InHand in_hand;
  Outbox outbox;
  Executors executors{context, in_hand, outbox};
  Completer completer{context, in_hand, outbox};
  LeaseKeeper lease_keeper{context, in_hand};
  Housekeeper pruner{context, "pruner"};
  Housekeeper storage_care{context, "checkpointer"};
  Claimer claimer{context, in_hand, outbox};
  bool started = false;
  bool shut_down = false;
  std::atomic<int> abandoned_runs{0};

  void step(const char* name) { context.logger.debug("worker_shutdown_step", {{"step", name}}); }

  void start() {
    if (started) return;
    started = true;
    executors.start(context.config.concurrency);
    completer.start();
    lease_keeper.start();
    start_pruner(pruner, context);
    start_storage_care(storage_care, context);
    claimer.start();
  }

  void shutdown() {
    if (!started || shut_down) return;
    shut_down = true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(context.config.shutdown_grace_ms);
    step("stop_claiming");
    context.stopping = true;
    in_hand.stop_claiming();
    claimer.stop();
    pruner.stop();

    step("hand_back_unstarted");
    for (auto& held : in_hand.take_unstarted()) outbox.push(Outcome::release(std::move(held), false));

    step("wait_for_handlers");
    bool idle = in_hand.wait_until_idle(deadline);
    if (!idle) abandon_overdue();

    step("stop_handlers");
    in_hand.release_handlers();
    // Threads still running an abandoned handler are not waited for.
    executors.stop_until(idle ? std::chrono::steady_clock::time_point::max() : std::chrono::steady_clock::now());

    step("record_outcomes");
    completer.stop();

    step("stop_lease_keeper");
    lease_keeper.stop();
    storage_care.stop();
    const Totals& totals = context.totals;
    context.logger.info("worker_totals", {{"claim_transactions", static_cast<long long>(totals.claim_transactions)},
                                          {"jobs_claimed", static_cast<long long>(totals.jobs_claimed)},
                                          {"settle_transactions", static_cast<long long>(totals.settle_transactions)},
                                          {"jobs_claimed_with_outcomes", static_cast<long long>(totals.jobs_refilled)},
                                          {"outcomes_settled", static_cast<long long>(totals.outcomes_settled)}});
  }

  // Their handlers ignore stop_requested. Handing their jobs back would let
  // another worker run them while these handlers still do, so they keep
  // their leases: once this process has exited, the leases lapse and the
  // jobs run again. Their outcomes, if they come, are dropped and logged.
  void abandon_overdue() {
    auto overdue = in_hand.running();
    abandoned_runs = static_cast<int>(overdue.size());
    if (overdue.empty()) return;
    std::string ids;
    for (const auto& held : overdue) ids += (ids.empty() ? "" : ",") + std::to_string(held->job.id);
    context.logger.warn("shutdown_grace_expired", {{"job_ids", ids},
                                                   {"grace_ms", static_cast<long long>(context.config.shutdown_grace_ms)}});
    for (const auto& held : overdue) {
      auto fields = Reporter::job_fields(held->job);
      fields.emplace_back("error", "handler still running after the shutdown grace; abandoned with its lease, "
                                   "the job runs again once the lease lapses");
      context.logger.warn("job_abandoned", fields);
    }
  }
};

Worker::Worker(const config::WorkerConfig& config, const HandlerRegistry& handlers,
               const observability::Logger& logger, observability::Metrics& metrics, const queue::Clock& clock,
               DriverSeams seams)
    : m_parts(std::make_unique<Parts>(config, handlers, logger, metrics, clock, std::move(seams))) {}

Worker::~Worker() {
  shutdown();
  m_parts->executors.join();
}

int Worker::abandoned() const { return m_parts->abandoned_runs; }

db::HoldObserver Worker::hold_observer() { return m_parts->context.hold_observer(); }

void Worker::start() { m_parts->start(); }

void Worker::shutdown() { m_parts->shutdown(); }

// Liveness only: a database that is missing or busy is a readiness problem
// (/readyz reports it); restarting the process would not fix it.
bool Worker::healthy() const { return !m_parts->context.thread_died; }

const std::string& Worker::id() const { return m_parts->context.id; }

}  // namespace pw::worker
