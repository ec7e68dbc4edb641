// What became of one claim, on its way from a handler (or shutdown) to the
// completer, and the queue that carries it there.
#pragma once

#include <condition_variable>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "queue/job_queue.hpp"
#include "worker/in_hand.hpp"
#include "worker/thread_safety.hpp"

namespace pw::worker {

enum class OutcomeKind { completed, failed, released };

struct Outcome {
  std::shared_ptr<Held> held;
  OutcomeKind kind = OutcomeKind::released;
  std::string text;  // result JSON, or the error
  queue::FailureKind failure = queue::FailureKind::retryable;
  double seconds = 0;
  bool refill = false;   // its slot is reserved for the completer to fill
  bool started = true;   // a handler ran it (false: handed back untouched)

  static Outcome release(std::shared_ptr<Held> held, bool started) {
    Outcome outcome;
    outcome.held = std::move(held);
    outcome.started = started;
    return outcome;
  }
};

// Many producers (handler threads, shutdown), one consumer (the completer).
class Outbox {
 public:
  // False once closed: nobody will record it (the worker shut down while
  // this handler ignored stop past the grace period).
  bool push(Outcome outcome) PW_EXCLUDES(m_mutex) {
    Lock lock(m_mutex);
    if (m_closed) return false;
    m_outcomes.push_back(std::move(outcome));
    m_ready.notify_one();
    return true;
  }

  // After the completer's last batch.
  void close() PW_EXCLUDES(m_mutex) {
    Lock lock(m_mutex);
    m_closed = true;
  }

  // Everything waiting, once there is something; empty only once `stop`
  // was requested and nothing is left.
  std::vector<Outcome> take_all(std::stop_token stop) PW_EXCLUDES(m_mutex) {
    std::stop_callback wake(stop, [this] {
      Lock lock(m_mutex);
      m_ready.notify_all();
    });
    Lock lock(m_mutex);
    while (m_outcomes.empty() && !stop.stop_requested()) m_ready.wait(m_mutex);
    std::vector<Outcome> out;
    out.swap(m_outcomes);
    return out;
  }

 private:
  Mutex m_mutex;
  std::condition_variable_any m_ready;
  std::vector<Outcome> m_outcomes PW_GUARDED_BY(m_mutex);
  bool m_closed PW_GUARDED_BY(m_mutex) = false;
};

}  // namespace pw::worker
