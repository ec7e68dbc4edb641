#include "storage/storage.hpp"

#include <algorithm>
#include <vector>

#include "db/error.hpp"
#include "storage/drivers.hpp"

namespace pw::storage {

Storage::Storage(std::size_t max_sessions, std::chrono::milliseconds wait)
    : m_max_sessions(max_sessions == 0 ? 1 : max_sessions), m_wait(wait) {}

Storage::~Storage() = default;

void Storage::run_write(Session& caller, const std::function<void(Session&)>& work) {
  caller.write([&] { work(caller); });
}

Storage::Lease::~Lease() {
  if (m_storage != nullptr) m_storage->release(std::move(m_session));
}

Storage::Lease Storage::acquire() {
  using std::chrono::steady_clock;
  check_available();
  // Idle sessions found unusable close after the lock is let go (closing
  // may talk to a server): declared before it, destroyed after it.
  std::vector<std::unique_ptr<Session>> stale;
  std::unique_lock lock(m_mutex);
  const auto deadline = steady_clock::now() + m_wait;
  for (;;) {
    while (!m_idle.empty()) {
      auto session = std::move(m_idle.back());
      m_idle.pop_back();
      // Asked again on the way out: on SQLite, the file may have been
      // replaced since the session went idle, which check_available() has
      // just looked at.
      if (session->reusable()) return Lease(*this, std::move(session));
      stale.push_back(std::move(session));
      --m_open;
    }
    const auto refused = last_failure();
    if (m_open < m_max_sessions && !refused) break;
    // A new session would be refused (the server was unreachable or full a
    // moment ago): with none open, nothing will come back, so say so now;
    // otherwise wait for one of those that work.
    if (refused && m_open == 0) throw refused->error;
    if (steady_clock::now() >= deadline) {
      if (refused) throw refused->error;
      throw db::Error(db::Fault::busy, "overloaded",
                      "every one of the " + std::to_string(m_max_sessions) +
                          " database sessions stayed busy for " + std::to_string(m_wait.count()) + " ms");
    }
    const auto until = refused ? std::min(deadline, refused->until) : deadline;
    m_returned.wait_until(lock, until,
                          [&] { return !m_idle.empty() || (m_open < m_max_sessions && !last_failure()); });
  }
  // Connecting may take a while (a server far away, or down): not under the lock.
  ++m_open;
  lock.unlock();
  try {
    return Lease(*this, open_session_or_note_failure());
  } catch (...) {
    lock.lock();
    --m_open;
    m_returned.notify_one();
    throw;
  }
}

namespace {

// A copy that shares no memory with `error`. std::runtime_error keeps its
// message in a reference-counted string inside libstdc++, so plain copies of
// the stored failure, thrown on several request threads while another thread
// replaces it, would share one buffer through counts ThreadSanitizer cannot
// see (libstdc++ is not instrumented). Each copy owning its text keeps the
// sharing out of the question.
db::Error detached(const db::Error& error) {
  std::string message(error.what());
  if (error.code() != 0) return db::Error(error.code(), std::move(message));
  return db::Error(error.fault(), error.reason(), std::move(message));
}

}  // namespace

std::optional<Storage::Refusal> Storage::last_failure() {
  std::lock_guard lock(m_failure_mutex);
  if (!m_failure || std::chrono::steady_clock::now() >= m_retry_at) return std::nullopt;
  return Refusal{detached(*m_failure), m_retry_at};
}

std::unique_ptr<Session> Storage::open_session_or_note_failure() {
  using namespace std::chrono;
  constexpr milliseconds kFirstPause{250};
  constexpr milliseconds kLongestPause{4000};
  try {
    auto session = open_session();
    std::lock_guard lock(m_failure_mutex);
    m_failure.reset();
    m_backoff = milliseconds(0);
    return session;
  } catch (const db::Error& error) {
    if (error.fault() == db::Fault::unavailable) {
      std::lock_guard lock(m_failure_mutex);
      m_backoff = std::clamp(m_backoff * 2, kFirstPause, kLongestPause);
      m_retry_at = steady_clock::now() + m_backoff;
      m_failure = detached(error);
    }
    throw;
  }
}

void Storage::release(std::unique_ptr<Session> session) {
  // Asked without the lock: on SQLite it looks at the file system.
  const bool keep = session && session->reusable();
  {
    std::lock_guard lock(m_mutex);
    if (keep) {
      m_idle.push_back(std::move(session));
    } else {
      --m_open;
    }
  }
  m_returned.notify_one();
  // A session not kept closes here, outside the lock: closing may talk to a server.
}

std::unique_ptr<Storage> open_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                      const SessionSettings& settings) {
  return config::uses_postgres(config) ? open_postgres_storage(config, max_sessions, settings)
                                       : open_sqlite_storage(config, max_sessions, settings);
}

}  // namespace pw::storage
