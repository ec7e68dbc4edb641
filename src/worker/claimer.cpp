#include "worker/claimer.hpp"

#include <algorithm>

namespace pw::worker {

void accept_claimed(WorkerContext& context, InHand& in_hand, Outbox& outbox, queue::ClaimResult& claimed,
                    std::optional<bool> backlog, int unreserve) {
  context.totals.jobs_claimed += static_cast<std::int64_t>(claimed.jobs.size());
  // Claims and refills alike: a type held back by its rate limit.
  for (const auto& type : claimed.rate_limited) context.metrics.count_rate_limited(type);
  for (const auto& lapsed : claimed.expired) {
    // A lapsed claim of our own (this process was frozen, say): its run is
    // no longer ours, so tell its handler to stop now, not at the next renewal.
    if (auto held = in_hand.find({lapsed.job_id, lapsed.claim}); held && !held->lost.exchange(true)) {
      context.reporter.lease_lost(held->job);
    }
    context.reporter.expired(lapsed);
  }
  auto taken = in_hand.take(claimed.jobs, backlog, unreserve);
  for (const auto& older : taken.superseded) context.reporter.superseded(older->job);
  for (auto& refused : taken.refused) outbox.push(Outcome::release(std::move(refused), false));
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
  auto table = open_job_table(m_context, "claimer", stopped, stop);
  if (!table) return;
  const auto& config = m_context.config;
  queue::JobTable& queue = *table;
  auto wake = open_guarded(m_context, "claimer", stopped, stop, [&] { return m_context.seams.wake_source(queue); });
  if (!wake) return;
  std::optional<std::int64_t> next_due;
  const auto poll = std::chrono::milliseconds(config.poll_interval_ms);
  // A due time that a claim could not act on (a row no claim can take, a
  // lapse not yet judged final) stays "due": without this the idle claimer
  // would claim again at once, forever. Such a due time is rechecked after
  // a doubling pause (up to 1 s); commits still wake the claimer at once.
  using Steady = std::chrono::steady_clock;
  auto due_quiet_until = Steady::time_point::min();
  std::chrono::milliseconds due_pause{0};
  // A claim that passes over full types walks their queued rows under the
  // write lock, so it is made only once a job of some other type is ready:
  // asked first with a read (no write lock), and while the answer is no,
  // asked again after a doubling pause (up to 100 ms).
  auto others_check_at = Steady::time_point::min();
  std::chrono::milliseconds others_pause{0};

  for (;;) {
    auto room = m_in_hand.wait_for_room(stop);
    if (!room) return;
    if (!room->backlog) {
      // Idle: claim only when someone committed or something came due.
      bool check = false;
      run_guarded(m_context, "claimer", [&] {
        check = wake->news() ||
                (next_due && m_context.clock.now_ms() >= *next_due && Steady::now() >= due_quiet_until);
      }, stopped, stop);
      if (!check) {
        pause_unless_stopped(stop, poll);
        continue;
      }
    }
    if (!room->skip_types.empty()) {
      if (Steady::now() < others_check_at) {
        pause_unless_stopped(stop, poll);
        continue;
      }
      const auto& skip = room->skip_types;
      bool others_ready = false;
      run_guarded(m_context, "claimer", [&] {
        for (const auto& [type, ready] : queue.ready_counts()) {
          if (ready > 0 && std::find(skip.begin(), skip.end(), type) == skip.end()) others_ready = true;
        }
      }, stopped, stop);
      if (!others_ready) {
        others_pause = std::clamp(others_pause * 2, std::max(poll, std::chrono::milliseconds(1)),
                                  std::chrono::milliseconds(100));
        others_check_at = Steady::now() + others_pause;
        continue;
      }
      others_pause = std::chrono::milliseconds(0);
    }
    const int limit = std::min(room->slots, config.batch_size);
    queue::ClaimResult claimed;
    bool ok = run_guarded(m_context, "claimer", [&] {
      // Marked before claiming: a commit after this changes the version,
      // so it cannot be missed.
      wake->mark();
      Lock gate(m_context.write_gate);
      claimed = queue.claim(m_context.id, limit, config.lease_ms, room->skip_types);
    }, stopped, stop);
    if (!ok) return;
    m_context.totals.claim_transactions++;
    bool backlog = static_cast<int>(claimed.jobs.size()) == limit;
    bool idle_claim = claimed.jobs.empty() && claimed.expired.empty();
    // A claim that passed over full types and came back short says nothing
    // of their backlog: the refills of their slots as their jobs finish
    // find out (and keep riding on the transactions that record outcomes).
    std::optional<bool> judged = backlog;
    if (!backlog && !room->skip_types.empty()) judged.reset();
    // Handlers get the jobs before the next due time is asked for: that
    // query is one more round trip they need not wait on.
    accept_claimed(m_context, m_in_hand, m_outbox, claimed, judged, 0);
    if (!backlog) run_guarded(m_context, "claimer", [&] { next_due = queue.next_due_ms(); }, stopped, stop);
    if (idle_claim && next_due && *next_due <= m_context.clock.now_ms()) {
      due_pause = std::clamp(due_pause * 2, std::max(poll, std::chrono::milliseconds(1)), std::chrono::milliseconds(1000));
      due_quiet_until = Steady::now() + due_pause;
    } else {
      due_pause = std::chrono::milliseconds(0);
    }
  }
}

}  // namespace pw::worker
