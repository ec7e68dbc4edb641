// The claimer: while there is a backlog, claims batches of ready jobs as
// room frees up (never more than free capacity); when idle, asks the wake
// source every poll interval whether anything was committed, and claims when
// something was or a scheduled job or a lease comes due. Each claim also
// settles expired leases (inside JobQueue::claim()).
#pragma once

#include <optional>
#include <stop_token>
#include <thread>

#include "queue/job_table.hpp"
#include "worker/context.hpp"
#include "worker/in_hand.hpp"
#include "worker/outcome.hpp"
#include "worker/wake_source.hpp"

namespace pw::worker {

// Puts freshly claimed jobs in hand (for the handlers), or straight back
// when shutdown began while they were being claimed; shared by the claimer
// and the completer's refills. `unreserve` slots kept for the completer are
// given up in the same step, so the claimer never counts a refilled slot as
// free. `backlog`: nothing when no claim was made.
void accept_claimed(WorkerContext& context, InHand& in_hand, Outbox& outbox, queue::ClaimResult& claimed,
                    std::optional<bool> backlog, int unreserve);

class Claimer {
 public:
  Claimer(WorkerContext& context, InHand& in_hand, Outbox& outbox)
      : m_context(context), m_in_hand(in_hand), m_outbox(outbox) {}

  void start();
  // Returns once the thread has ended (a claim in flight is finished first).
  void stop();

 private:
  void loop(std::stop_token stop);

  WorkerContext& m_context;
  InHand& m_in_hand;
  Outbox& m_outbox;
  std::jthread m_thread;
};

}  // namespace pw::worker
