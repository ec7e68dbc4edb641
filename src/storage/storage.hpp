// The database as the rest of the product sees it, whichever driver is
// under it: a bounded pool of sessions, each one connection with the domain
// store, the tokens and the job table on it, and write transactions that
// span all three (so a request's rows and the job it enqueues commit
// together). SQLite's and PostgreSQL's sessions are in sqlite_storage.cpp
// and postgres_storage.cpp; open_storage() picks one by the configuration.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "db/connection.hpp"
#include "db/error.hpp"
#include "migrations/migrator.hpp"
#include "queue/clock.hpp"
#include "queue/job_table.hpp"
#include "schedule/schedule_store.hpp"
#include "store/admin_tokens.hpp"
#include "store/store.hpp"
#include "store/tokens.hpp"

namespace pw::storage {

class Session {
 public:
  virtual ~Session() = default;

  virtual store::Store& store() = 0;
  virtual store::Tokens& tokens() = 0;
  virtual store::AdminTokens& admin_tokens() = 0;
  virtual queue::JobTable& jobs() = 0;
  virtual schedule::ScheduleStore& schedules() = 0;

  // Ends a transaction: rolls back on destruction unless committed.
  class WriteScope {
   public:
    virtual ~WriteScope() = default;
    virtual void commit() = 0;
  };
  // A write transaction over the store, the tokens and the job table
  // (enqueue_in_transaction joins it).
  virtual std::unique_ptr<WriteScope> begin_write() = 0;

  // Runs `work` in one write transaction and commits what it did; an
  // exception from `work` rolls everything back and goes on up.
  template <class Work>
  decltype(auto) write(Work&& work) {
    auto transaction = begin_write();
    if constexpr (std::is_void_v<std::invoke_result_t<Work&>>) {
      work();
      transaction->commit();
    } else {
      auto result = work();
      transaction->commit();
      return result;
    }
  }

  // Which migrations are applied, checked against the embedded ones (a
  // query: it also proves the database answers).
  virtual migrations::Status schema_status() = 0;
  // Nothing when the server takes writes; why not otherwise (PostgreSQL: a
  // standby in recovery). SQLite's writability (files, WAL, the write lock)
  // is probed from outside any session by the readiness check.
  virtual std::optional<std::string> write_problem() = 0;

  // False once the session must not serve again (its connection was lost,
  // or its file is no longer the configured one): the pool drops it.
  virtual bool reusable() = 0;
};

// Called with the duration of each query, in seconds, with each wait for
// SQLite's write lock (see db::LockObserver), and with each stretch a
// session waited for that lock or held it (db::HoldObserver; SQLite only).
struct Observers {
  db::QueryObserver query;
  db::LockObserver lock;
  db::HoldObserver held;
};

class Storage {
 public:
  Storage(std::size_t max_sessions, std::chrono::milliseconds wait);
  virtual ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  class Lease {
   public:
    Lease(Storage& storage, std::unique_ptr<Session> session)
        : m_storage(&storage), m_session(std::move(session)) {}
    Lease(Lease&& other) noexcept
        : m_storage(std::exchange(other.m_storage, nullptr)), m_session(std::move(other.m_session)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Session& operator*() { return *m_session; }
    Session* operator->() { return m_session.get(); }
    // Drops the session instead of returning it.
    void discard() { m_session.reset(); }

   private:
    Storage* m_storage;
    std::unique_ptr<Session> m_session;
  };

  // An idle session, or a new one while fewer than max_sessions are open;
  // otherwise waits for one to come back, up to the wait given at
  // construction, then throws db::Error (busy, reason "overloaded"). Throws
  // db::Error (unavailable) when the database cannot be reached; after such
  // a failure, new sessions are tried again only after a pause that grows
  // while the database stays unreachable (so a server that is down or full
  // is not hammered by every request): meanwhile a caller waits for one of
  // the sessions already open, or hears the failure at once when none is.
  Lease acquire();

  // Runs `work` on a leased session; a session that met an unavailable
  // database is dropped rather than handed out again.
  template <class Work>
  decltype(auto) with_session(Work&& work) {
    auto lease = acquire();
    try {
      return work(*lease);
    } catch (...) {
      if (!lease->reusable()) lease.discard();
      throw;
    }
  }

  // Runs `work(session)` in a write transaction and returns once it has
  // committed; an exception from `work` rolls its writes back and goes on
  // up. `caller` is the session the caller holds; the session `work` gets
  // may be another one (SQLite: one writer connection commits the
  // concurrent writes of many callers together, see group_commit.hpp), so
  // `work` reads and writes only through the session it is given.
  template <class Work>
  auto write(Session& caller, Work&& work) {
    using Result = std::invoke_result_t<Work&, Session&>;
    if constexpr (std::is_void_v<Result>) {
      run_write(caller, [&](Session& session) { work(session); });
    } else {
      std::optional<Result> result;
      run_write(caller, [&](Session& session) { result.emplace(work(session)); });
      return std::move(*result);
    }
  }

  // Where the data is, fit for a log line: the file's path, or the URL with
  // its password masked.
  virtual std::string location() const = 0;
  virtual bool is_postgres() const = 0;

  // Called with each failed round of the storage's own upkeep, and how many
  // failed in a row (the rounds back off meanwhile).
  using UpkeepFailed = std::function<void(const std::exception&, int consecutive)>;
  // Upkeep of the database on a thread of the storage's own, for a process
  // whose sessions write all the time: on SQLite, the WAL's checkpoints
  // (db::WalCare), which its sessions then leave alone, so that no commit
  // stops to copy the WAL back. Call before the first lease. Nothing to do
  // for a server database, which does its own.
  virtual void start_upkeep(UpkeepFailed /*on_failure*/) {}

 protected:
  virtual std::unique_ptr<Session> open_session() = 0;
  // Called before every lease: a driver may refuse to hand out sessions
  // (SQLite: the file is gone) by throwing db::Error.
  virtual void check_available() {}
  // By default, `work` runs in its own transaction on the caller's session.
  virtual void run_write(Session& caller, const std::function<void(Session&)>& work);

 private:
  void release(std::unique_ptr<Session> session);
  std::unique_ptr<Session> open_session_or_note_failure();
  struct Refusal {
    db::Error error;
    std::chrono::steady_clock::time_point until;
  };
  // The last failure to open a session while it still stands.
  std::optional<Refusal> last_failure();

  std::size_t m_max_sessions;
  std::chrono::milliseconds m_wait;
  std::mutex m_mutex;
  std::condition_variable m_returned;
  std::vector<std::unique_ptr<Session>> m_idle;
  std::size_t m_open = 0;

  // The last failure to open a session, and until when it stands for the
  // next attempts.
  std::mutex m_failure_mutex;
  std::optional<db::Error> m_failure;
  std::chrono::steady_clock::time_point m_retry_at;
  std::chrono::milliseconds m_backoff{0};
};

// What every session of a storage needs besides its connection.
struct SessionSettings {
  const queue::Clock& clock;
  config::RetryConfig retry;
  Observers observers;
};

// The driver config.db names (config::uses_postgres), with at most
// `max_sessions` sessions open at once. Connects lazily: an unreachable
// server shows at the first acquire().
std::unique_ptr<Storage> open_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                      const SessionSettings& settings);

}  // namespace pw::storage
