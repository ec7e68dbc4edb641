#include "worker/lease_keeper.hpp"

#include <algorithm>

#include "queue/job_table.hpp"

namespace pw::worker {

void LeaseKeeper::start() {
  m_thread = spawn(m_context, "renewer", [this](std::stop_token stop) { loop(stop); });
}

void LeaseKeeper::stop() {
  if (!m_thread.joinable()) return;
  m_thread.request_stop();
  m_thread.join();
}

void LeaseKeeper::loop(std::stop_token stop) {
  auto stopped = [&] { return stop.stop_requested(); };
  auto table = open_job_table(m_context, "renewer", stopped, stop);
  if (!table) return;
  const auto& config = m_context.config;
  queue::JobTable& queue = *table;
  using Steady = std::chrono::steady_clock;
  const auto renewal_period = std::chrono::milliseconds(std::max<std::int64_t>(1, config.lease_ms / 3));
  // Between renewals, a read every cancel_check asks whether any claim in
  // hand was canceled: a cancel reaches its handler within that, not at the
  // next renewal (10 s with the default lease).
  const auto tick = std::min(renewal_period, kCancelCheck);
  auto renew_at = Steady::now() + renewal_period;
  while (pause_unless_stopped(stop, tick)) {
    std::vector<queue::ClaimToken> claims;
    for (const auto& held : m_in_hand.renewable()) claims.push_back(held->key());
    if (claims.empty()) {
      renew_at = Steady::now() + renewal_period;
      continue;
    }
    if (Steady::now() >= renew_at) {
      renew_at = Steady::now() + renewal_period;
      std::vector<queue::ClaimToken> lost;
      run_guarded(m_context, "renewer", [&] {
        Lock gate(m_context.write_gate);
        lost = queue.renew(m_context.id, claims, config.lease_ms);
      }, stopped, stop);
      // Those among them that were canceled are told apart by the read below.
      flag_canceled(queue, lost, stop);
      for (auto key : lost) {
        auto held = m_in_hand.find(key);
        if (!held || held->lost.exchange(true)) continue;  // recorded meanwhile, or already flagged
        m_context.reporter.lease_lost(held->job);
      }
      continue;
    }
    flag_canceled(queue, claims, stop);
  }
}

void LeaseKeeper::flag_canceled(queue::JobTable& queue, const std::vector<queue::ClaimToken>& claims,
                                std::stop_token stop) {
  if (claims.empty()) return;
  std::vector<queue::ClaimToken> canceled;
  // One try: a failed read is asked again at the next tick.
  try {
    canceled = queue.canceled_claims(claims);
  } catch (const std::exception& e) {
    if (!stop.stop_requested()) m_context.logger.debug("cancel_check_failed", {{"error", e.what()}});
    return;
  }
  for (auto key : canceled) {
    auto held = m_in_hand.find(key);
    if (!held || held->canceled.exchange(true)) continue;
    held->lost = true;  // after `canceled`: whoever sees lost can tell why
    m_context.reporter.canceled(held->job);
  }
}

}  // namespace pw::worker
