// A bounded set of PostgreSQL connections shared by a process's threads:
// request handlers and the worker's parts borrow one for a transaction and
// give it back, so the number of server connections follows the pool's size
// (DATABASE_POOL_SIZE), not the number of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "db/postgres/connection.hpp"

namespace pw::db::postgres {

class Pool {
 public:
  // `wait`: how long acquire() waits for a connection when all are in use
  // before it gives up with db::Error (busy): a caller that cannot get one
  // promptly answers 503 instead of piling up.
  Pool(Settings settings, std::size_t max_size, std::chrono::milliseconds wait = std::chrono::seconds(5),
       StatementObserver observer = {});
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> connection)
        : m_pool(&pool), m_connection(std::move(connection)) {}
    Lease(Lease&& other) noexcept
        : m_pool(std::exchange(other.m_pool, nullptr)), m_connection(std::move(other.m_connection)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *m_connection; }
    Connection* operator->() { return m_connection.get(); }

   private:
    Pool* m_pool;
    std::unique_ptr<Connection> m_connection;
  };

  // An idle connection, or a new one while the pool is not full; otherwise
  // waits. Throws db::Error: unavailable when the server cannot be reached,
  // busy when none frees up in time.
  Lease acquire();

  std::size_t max_size() const { return m_max_size; }
  // Connections open now (idle or lent).
  std::size_t open() const;
  // Closes the idle connections (after the server restarted, say); lent ones
  // are dropped when they come back unhealthy.
  void clear_idle();

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> connection);

  Settings m_settings;
  std::size_t m_max_size;
  std::chrono::milliseconds m_wait;
  StatementObserver m_observer;
  mutable std::mutex m_mutex;
  std::condition_variable m_freed;
  std::vector<std::unique_ptr<Connection>> m_idle;
  std::size_t m_open = 0;
};

}  // namespace pw::db::postgres
