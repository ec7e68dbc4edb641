#include "worker/executor.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace pw::worker {

using observability::LogFields;
using observability::LogLevel;

Outcome run_job(WorkerContext& context, const std::shared_ptr<Held>& held, storage::Storage* storage) {
  const queue::Job& job = held->job;
  Outcome outcome;
  outcome.held = held;
  auto start = std::chrono::steady_clock::now();
  const Handler* handler = context.handlers.find(job.type);
  if (!handler) {
    outcome.kind = OutcomeKind::failed;
    outcome.failure = queue::FailureKind::permanent;
    outcome.text = "no handler for job type " + job.type;
    return outcome;
  }
  Held& entry = *held;
  JobContext job_context{
      job, storage, context.clock,
      [&context, &job](LogLevel level, std::string_view msg, LogFields fields) {
        if (!context.logger.enabled(level)) return;
        LogFields all = Reporter::job_fields(job);
        all.insert(all.end(), std::make_move_iterator(fields.begin()), std::make_move_iterator(fields.end()));
        context.logger.log(level, msg, all);
      },
      [&context, &entry] {
        return context.stopping.load(std::memory_order_relaxed) || entry.lost.load(std::memory_order_relaxed);
      },
      [&entry] { return entry.canceled.load(std::memory_order_relaxed); }};
  try {
    std::string result = (*handler)(job_context);
    if (result.empty()) result = "null";
    if (result != "null" && !nlohmann::json::accept(result)) {
      throw PermanentFailure("handler returned a result that is not JSON");
    }
    outcome.kind = OutcomeKind::completed;
    outcome.text = std::move(result);
  } catch (const PermanentFailure& e) {
    outcome.kind = OutcomeKind::failed;
    outcome.failure = queue::FailureKind::permanent;
    outcome.text = e.what();
  } catch (const std::exception& e) {
    // A handler that gave up because the worker is stopping is handed
    // back uncharged; anything else is a failed attempt.
    outcome.kind = context.stopping ? OutcomeKind::released : OutcomeKind::failed;
    outcome.text = e.what();
  } catch (...) {
    outcome.kind = context.stopping ? OutcomeKind::released : OutcomeKind::failed;
    outcome.text = "handler threw a non-standard exception";
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

void Executors::start(int threads) {
  if (m_context.seams.handler_storage) m_storage = m_context.seams.handler_storage(m_context);
  m_threads.reserve(static_cast<std::size_t>(threads));
  {
    Lock lock(m_mutex);
    m_live = threads;
  }
  for (int i = 0; i < threads; ++i) {
    m_threads.push_back(spawn(m_context, "handler", [this](std::stop_token stop) {
      loop(stop);
      Lock lock(m_mutex);
      --m_live;
      m_ended.notify_all();
    }));
  }
}

bool Executors::stop_until(std::chrono::steady_clock::time_point deadline) {
  for (auto& thread : m_threads) thread.request_stop();
  Lock lock(m_mutex);
  while (m_live > 0) {
    if (m_ended.wait_until(m_mutex, deadline) == std::cv_status::timeout) return m_live == 0;
  }
  return true;
}

void Executors::join() {
  for (auto& thread : m_threads) thread.request_stop();
  for (auto& thread : m_threads) {
    if (thread.joinable()) thread.join();
  }
  m_threads.clear();
}

void Executors::loop(std::stop_token stop) {
  for (;;) {
    auto held = m_in_hand.next(stop);
    if (!held) return;
    // Claimed is not started: a job still waiting for a handler thread is
    // handed back untouched at shutdown. This line tells the two apart.
    if (m_context.logger.enabled(LogLevel::debug)) m_context.logger.debug("job_started", Reporter::job_fields(held->job));
    Outcome outcome = run_job(m_context, held, m_storage.get());
    outcome.refill = m_in_hand.finish(*held);
    if (!m_outbox.push(std::move(outcome))) {
      // The worker shut down while this handler ignored stop past the grace period.
      LogFields fields = Reporter::job_fields(held->job);
      fields.emplace_back("error", "the handler returned after shutdown; outcome dropped, the job comes back after its lease");
      m_context.logger.warn("job_outcome_dropped", fields);
    }
  }
}

}  // namespace pw::worker
