#include "worker/completer.hpp"

#include "worker/claimer.hpp"

namespace pw::worker {

using Result = Reporter::Result;

void Completer::start() {
  m_thread = spawn(m_context, "completer", [this](std::stop_token stop) { loop(stop); });
}

void Completer::stop() {
  if (!m_thread.joinable()) return;
  m_thread.request_stop();
  m_thread.join();
}

void Completer::loop(std::stop_token stop) {
  auto table = open_job_table(m_context, "completer", [&] { return stop.stop_requested(); }, stop);
  if (!table) return;
  queue::JobTable& queue = *table;
  for (;;) {
    auto batch = m_outbox.take_all(stop);
    if (batch.empty()) break;
    settle(queue, batch, stop);
  }
  // Whatever a handler still running reports from now on is dropped (and logged by it).
  m_outbox.close();
  auto last = m_outbox.take_all(stop);
  if (!last.empty()) settle(queue, last, stop);
}

void Completer::settle(queue::JobTable& queue, std::vector<Outcome>& batch, std::stop_token stop) {
  std::vector<queue::Completion> completions;
  std::vector<queue::Failure> failures;
  std::vector<queue::ClaimToken> releases;
  std::vector<const Outcome*> completed_order, failed_order, released_order;
  std::vector<std::shared_ptr<Held>> claims;
  claims.reserve(batch.size());
  int reserved = 0;
  for (const auto& outcome : batch) {
    if (outcome.refill) ++reserved;
    claims.push_back(outcome.held);
    queue::ClaimToken token = outcome.held->key();
    switch (outcome.kind) {
      case OutcomeKind::completed:
        completions.push_back({token, outcome.text});
        completed_order.push_back(&outcome);
        break;
      case OutcomeKind::failed:
        failures.push_back({token, outcome.text, outcome.failure});
        failed_order.push_back(&outcome);
        break;
      case OutcomeKind::released:
        releases.push_back(token);
        released_order.push_back(&outcome);
        break;
    }
  }
  const auto& config = m_context.config;
  queue::JobTable::Refill refill{m_in_hand.refill_limit(reserved, config.batch_size), config.lease_ms,
                                 m_in_hand.full_types()};
  queue::JobTable::Outcomes recorded;
  // Retried until it works or the worker gives up at exit: the outcome of
  // work already done must not be dropped for a passing database error.
  int attempts = 0;
  bool ok = run_guarded(m_context, "completer", [&] {
    ++attempts;
    Lock gate(m_context.write_gate);
    recorded = queue.settle(m_context.id, completions, failures, releases, refill);
    // Before the gate opens: a renewal queued behind it would otherwise
    // find these jobs finished in the table but still held here, and
    // report leases as lost that were not.
    m_in_hand.forget(claims);
  }, [&] { return stop.stop_requested() && attempts >= 20; }, std::stop_token{});
  if (!ok) m_in_hand.forget(claims);
  if (ok) {
    m_context.totals.settle_transactions++;
    m_context.totals.outcomes_settled += static_cast<std::int64_t>(batch.size());
    m_context.totals.jobs_refilled += static_cast<std::int64_t>(recorded.claimed.jobs.size());
  }
  // A refill that got less than it asked for found the backlog drained:
  // from here on the claimer waits for commits and due times.
  // As with the claimer's claims, a short refill that passed over full
  // types says nothing of their backlog (their queued jobs were not asked
  // for): judged drained, the claimer would wait for commits that may never
  // come (PostgreSQL wakes it only on NOTIFY) while those jobs stay queued.
  std::optional<bool> backlog;
  if (ok && refill.limit > 0) {
    const bool filled = static_cast<int>(recorded.claimed.jobs.size()) == refill.limit;
    if (filled || refill.skip_types.empty()) backlog = filled;
  }
  accept_claimed(m_context, m_in_hand, m_outbox, recorded.claimed, backlog, reserved);
  if (!ok) {
    std::string ids;
    for (const auto& outcome : batch) ids += (ids.empty() ? "" : ",") + std::to_string(outcome.held->job.id);
    m_context.logger.error("outcomes_not_recorded", {{"jobs", static_cast<long long>(batch.size())},
                                                     {"job_ids", ids},
                                                     {"hint", "their leases will expire and they will run again"}});
    return;
  }
  const Reporter& report = m_context.reporter;
  for (std::size_t i = 0; i < completed_order.size(); ++i) {
    report.outcome(*completed_order[i], recorded.completed[i] ? Result::succeeded : Result::lost);
  }
  for (std::size_t i = 0; i < failed_order.size(); ++i) {
    switch (recorded.failed[i]) {
      case queue::FailureOutcome::requeued: report.outcome(*failed_order[i], Result::requeued); break;
      case queue::FailureOutcome::dead: report.outcome(*failed_order[i], Result::dead); break;
      case queue::FailureOutcome::lost_lease: report.outcome(*failed_order[i], Result::lost); break;
    }
  }
  // Releases are guarded too: one that did not apply was no longer ours.
  for (std::size_t i = 0; i < released_order.size(); ++i) {
    report.outcome(*released_order[i], recorded.released[i] ? Result::released : Result::lost);
  }
}

}  // namespace pw::worker
