// Running jobs: run_job() runs one claimed job's handler with its context
// and turns whatever happens into an outcome; Executors are the
// `concurrency` handler threads that take started jobs from the ledger (each
// type within its limit) and pass their outcomes to the completer.
#pragma once

#include <chrono>
#include <condition_variable>
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
Outcome run_job(WorkerContext& context, const std::shared_ptr<Held>& held, storage::Storage* storage);

class Executors {
 public:
  Executors(WorkerContext& context, InHand& in_hand, Outbox& outbox)
      : m_context(context), m_in_hand(in_hand), m_outbox(outbox) {}

  void start(int threads);
  // Asks every handler thread to end once its running job (if any) is done,
  // and waits until `deadline` for them. False when some are still running
  // a job at the deadline: their handlers ignore stop_requested. Call after
  // InHand::release_handlers().
  bool stop_until(std::chrono::steady_clock::time_point deadline);
  // Waits for every handler thread, however long it takes.
  void join();

 private:
  void loop(std::stop_token stop);

  WorkerContext& m_context;
  // Shared by every handler thread; opened with them (it connects lazily).
  std::unique_ptr<storage::Storage> m_storage;
  InHand& m_in_hand;
  Outbox& m_outbox;
  std::vector<std::jthread> m_threads;
  Mutex m_mutex;
  std::condition_variable_any m_ended;
  int m_live PW_GUARDED_BY(m_mutex) = 0;
};

}  // namespace pw::worker
