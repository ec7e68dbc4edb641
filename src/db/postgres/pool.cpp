#include "db/postgres/pool.hpp"

#include <algorithm>

namespace pw::db::postgres {

Pool::Pool(Settings settings, std::size_t max_size, std::chrono::milliseconds wait, StatementObserver observer)
    : m_settings(std::move(settings)),
      m_max_size(std::max<std::size_t>(1, max_size)),
      m_wait(wait),
      m_observer(std::move(observer)) {}

Pool::Lease::~Lease() {
  if (m_pool != nullptr) m_pool->give_back(std::move(m_connection));
}

Pool::Lease Pool::acquire() {
  std::unique_lock lock(m_mutex);
  bool freed = m_freed.wait_for(lock, m_wait, [&] { return !m_idle.empty() || m_open < m_max_size; });
  if (!freed) {
    throw Error(Fault::busy, "busy",
                "all " + std::to_string(m_max_size) + " PostgreSQL connections of this process stayed in use for " +
                    std::to_string(m_wait.count()) + " ms");
  }
  if (!m_idle.empty()) {
    auto connection = std::move(m_idle.back());
    m_idle.pop_back();
    return Lease(*this, std::move(connection));
  }
  // Connect outside the lock: it can take up to connect_timeout, and other
  // threads may meanwhile take idle connections or give theirs back.
  ++m_open;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Connection>(m_settings, m_observer));
  } catch (...) {
    lock.lock();
    --m_open;
    m_freed.notify_one();
    throw;
  }
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
  // A connection that lost its session, or comes back mid-transaction (its
  // holder threw past the Transaction guard), is closed, not reused.
  bool reusable = connection && connection->healthy() && !connection->in_transaction();
  std::unique_ptr<Connection> closing;
  {
    std::lock_guard lock(m_mutex);
    if (reusable) {
      m_idle.push_back(std::move(connection));
    } else {
      closing = std::move(connection);
      --m_open;
    }
  }
  m_freed.notify_one();
  // `closing` is closed here, outside the lock.
}

std::size_t Pool::open() const {
  std::lock_guard lock(m_mutex);
  return m_open;
}

void Pool::clear_idle() {
  std::vector<std::unique_ptr<Connection>> closing;
  {
    std::lock_guard lock(m_mutex);
    closing.swap(m_idle);
    m_open -= closing.size();
  }
  m_freed.notify_all();
}

}  // namespace pw::db::postgres
