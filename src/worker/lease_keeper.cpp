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
  const auto period = std::chrono::milliseconds(std::max<std::int64_t>(1, config.lease_ms / 3));
  while (pause_unless_stopped(stop, period)) {
    std::vector<queue::ClaimToken> claims;
    for (const auto& held : m_in_hand.renewable()) claims.push_back(held->key());
    if (claims.empty()) continue;
    std::vector<queue::ClaimToken> lost;
    run_guarded(m_context, "renewer", [&] {
      Lock gate(m_context.write_gate);
      lost = queue.renew(m_context.id, claims, config.lease_ms);
    }, stopped, stop);
    for (auto key : lost) {
      auto held = m_in_hand.find(key);
      if (!held || held->lost.exchange(true)) continue;  // recorded meanwhile, or already flagged
      m_context.reporter.lease_lost(held->job);
    }
  }
}

}  // namespace pw::worker
