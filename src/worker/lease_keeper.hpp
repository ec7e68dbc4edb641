// The lease keeper: every lease_ms / 3 extends the leases of everything the
// ledger holds, in one statement, and flags the claims whose lease is gone
// (canceled, or taken over after a lapse) so their handlers are told to stop.
// Between renewals it reads, every kCancelCheck, which claims in hand were
// canceled, so a cancel reaches a running handler within that.
#pragma once

#include <chrono>
#include <stop_token>
#include <thread>
#include <vector>

#include "queue/job_table.hpp"

#include "worker/context.hpp"
#include "worker/in_hand.hpp"

namespace pw::worker {

inline constexpr std::chrono::milliseconds kCancelCheck{250};

class LeaseKeeper {
 public:
  LeaseKeeper(WorkerContext& context, InHand& in_hand) : m_context(context), m_in_hand(in_hand) {}

  void start();
  void stop();

 private:
  void loop(std::stop_token stop);
  void flag_canceled(queue::JobTable& queue, const std::vector<queue::ClaimToken>& claims, std::stop_token stop);

  WorkerContext& m_context;
  InHand& m_in_hand;
  std::jthread m_thread;
};

}  // namespace pw::worker
