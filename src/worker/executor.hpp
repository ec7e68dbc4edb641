// Running jobs: run_job() runs one claimed job's handler with its context
// and turns whatever happens into an outcome; Executors are the
// `concurrency` handler threads that take started jobs from the ledger and
// pass their outcomes to the completer.
#pragma once

#include <stop_token>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "worker/context.hpp"
#include "worker/in_hand.hpp"
#include "worker/outcome.hpp"

namespace pw::worker {

// Never throws: a handler's exception is a failed attempt, or a hand-back
// when the worker is stopping.
Outcome run_job(WorkerContext& context, const std::shared_ptr<Held>& held, db::Connection& connection);

class Executors {
 public:
  Executors(WorkerContext& context, InHand& in_hand, Outbox& outbox)
      : m_context(context), m_in_hand(in_hand), m_outbox(outbox) {}

  void start(int threads);
  // Returns once every handler thread has ended: each finishes its running
  // job first. Call after InHand::release_handlers().
  void join();

 private:
  void loop(std::stop_token stop);

  WorkerContext& m_context;
  InHand& m_in_hand;
  Outbox& m_outbox;
  std::vector<std::jthread> m_threads;
};

}  // namespace pw::worker
