#include "worker/claimer.hpp"

#include <algorithm>

namespace pw::worker {

void accept_claimed(WorkerContext& context, InHand& in_hand, Outbox& outbox, queue::ClaimResult& claimed,
                    std::optional<bool> backlog, int unreserve) {
  context.totals.jobs_claimed += static_cast<std::int64_t>(claimed.jobs.size());
  for (auto& refused : in_hand.take(claimed.jobs, backlog, unreserve)) {
    outbox.push(Outcome::release(std::move(refused), false));
  }
}

void Claimer::start() {
  m_thread = spawn(m_context, "claimer", [this](std::stop_token stop) { loop(stop); });
}

void Claimer::stop() {
  if (!m_thread.joinable()) return;
  m_thread.request_stop();
  m_thread.join();
}

void Claimer::loop(std::stop_token stop) {
  auto stopped = [&] { return stop.stop_requested(); };
  auto connection = open_guarded(m_context, "claimer", stopped, stop);
  if (!connection) return;
  const auto& config = m_context.config;
  queue::JobQueue queue(*connection, m_context.clock, config.retry);
  auto wake = m_wake_source(queue);
  std::optional<std::int64_t> next_due;
  const auto poll = std::chrono::milliseconds(config.poll_interval_ms);

  for (;;) {
    auto room = m_in_hand.wait_for_room(stop);
    if (!room) return;
    if (!room->backlog) {
      // Idle: claim only when someone committed or something came due.
      bool check = false;
      run_guarded(m_context, "claimer", [&] {
        check = wake->news() || (next_due && m_context.clock.now_ms() >= *next_due);
      }, stopped, stop);
      if (!check) {
        pause_unless_stopped(stop, poll);
        continue;
      }
    }
    const int limit = std::min(room->slots, config.batch_size);
    queue::ClaimResult claimed;
    bool ok = run_guarded(m_context, "claimer", [&] {
      // Marked before claiming: a commit after this changes the version,
      // so it cannot be missed.
      wake->mark();
      Lock gate(m_context.write_gate);
      claimed = queue.claim(m_context.id, limit, config.lease_ms);
    }, stopped, stop);
    if (!ok) return;
    m_context.totals.claim_transactions++;
    for (const auto& lapsed : claimed.expired) m_context.reporter.expired(lapsed);
    bool backlog = static_cast<int>(claimed.jobs.size()) == limit;
    if (!backlog) run_guarded(m_context, "claimer", [&] { next_due = queue.next_due_ms(); }, stopped, stop);
    accept_claimed(m_context, m_in_hand, m_outbox, claimed, backlog, 0);
  }
}

}  // namespace pw::worker
