// The completer: records outcomes in batches, one transaction per batch,
// then logs them and counts them in metrics (so logs and metrics only ever
// show outcomes that are durable). While there is a backlog, the slots those
// jobs freed are kept for it, and it claims their replacements in the same
// transaction: a busy worker commits once per batch of jobs, not twice.
#pragma once

#include <stop_token>
#include <thread>
#include <vector>

#include "queue/job_table.hpp"
#include "worker/context.hpp"
#include "worker/in_hand.hpp"
#include "worker/outcome.hpp"

namespace pw::worker {

class Completer {
 public:
  Completer(WorkerContext& context, InHand& in_hand, Outbox& outbox)
      : m_context(context), m_in_hand(in_hand), m_outbox(outbox) {}

  void start();
  // Records everything already in the outbox, then returns once the thread has ended.
  void stop();

 private:
  void loop(std::stop_token stop);
  void settle(queue::JobTable& queue, std::vector<Outcome>& batch, std::stop_token stop);

  WorkerContext& m_context;
  InHand& m_in_hand;
  Outbox& m_outbox;
  std::jthread m_thread;
};

}  // namespace pw::worker
