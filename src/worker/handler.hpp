// What a job handler is: a function of one claimed job. Handlers are
// registered by type; the worker runs them on its handler threads.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/storage.hpp"
#include "observability/logger.hpp"
#include "queue/clock.hpp"
#include "queue/job.hpp"

namespace pw::worker {

struct JobContext {
  const queue::Job& job;
  // The database, for handlers that read or write the domain: lease a
  // session for each transaction (or read) and let it go before anything
  // slow, so handler threads share a bounded pool. None for a worker whose
  // handlers need no database: database() then refuses the job for good.
  storage::Storage* storage;
  const queue::Clock& clock;
  // Log through this: it adds job_id, type, attempt, trace_id and request_id.
  std::function<void(observability::LogLevel, std::string_view msg, observability::LogFields)> log;
  // True once the worker is shutting down: long handlers should return early
  // by throwing (the job is then handed back, not charged).
  std::function<bool()> stop_requested;
  // The cancellation token: true once the job was canceled while this
  // handler ran it (stop_requested() is then true as well). The job is
  // already recorded as canceled and whatever the handler returns is
  // discarded, so it should stop at its next safe point, within a second.
  std::function<bool()> canceled = [] { return false; };

  storage::Storage& database() const;
};

// Thrown by a handler for a failure that retrying cannot fix: the job goes
// straight to dead with this message. Any other exception is a retryable
// failure.
class PermanentFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline storage::Storage& JobContext::database() const {
  if (storage == nullptr) throw PermanentFailure("job type " + job.type + " needs a database this worker has not");
  return *storage;
}

// Returns the job's result as JSON text ("null" when there is nothing to say).
using Handler = std::function<std::string(JobContext&)>;

class HandlerRegistry {
 public:
  void add(std::string type, Handler handler) { m_handlers[std::move(type)] = std::move(handler); }
  const Handler* find(const std::string& type) const {
    auto found = m_handlers.find(type);
    return found == m_handlers.end() ? nullptr : &found->second;
  }
  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [type, handler] : m_handlers) out.push_back(type);
    return out;
  }

 private:
  std::map<std::string, Handler> m_handlers;
};

}  // namespace pw::worker
