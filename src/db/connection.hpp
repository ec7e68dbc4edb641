// One place opens SQLite connections, with the pragmas the whole system relies
// on. A Connection belongs to one thread at a time; share the pool, not the
// connection. SQLite's and SQLiteCpp's own types stay inside src/db/ (the
// build refuses them elsewhere); every failure is a db::Error (db/error.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "db/error.hpp"

struct sqlite3_stmt;

namespace pw::db {

// Called with the duration of each timed query, in seconds.
using QueryObserver = std::function<void(double)>;
// Called after each attempt to take the write lock (BEGIN IMMEDIATE), with
// the time it waited, in seconds, and whether it got the lock (false: the
// busy timeout ran out). The wait happens before any statement runs, so no
// query timer sees it.
using LockObserver = std::function<void(double seconds, bool acquired)>;
// Called with each stretch in which a connection waited for SQLite's write
// lock or held it, on the monotonic clock: a write transaction from asking
// for the lock to its end, a write statement outside a transaction
// (Statement::exec), and a checkpoint that holds writers off (RESTART,
// TRUNCATE). A worker judges others' leases net of such
// stretches of its own (queue::LockWaits): while it held the lock, or was
// stopped holding it, nobody else could renew.
using HoldObserver = std::function<void(std::chrono::steady_clock::time_point from,
                                        std::chrono::steady_clock::time_point to)>;

// The page size of a new database file. Every commit writes each page it
// touched whole to the WAL (and later back to the file), and a write here
// touches a few rows of under 200 bytes in each of several b-trees (a job
// row has five), so 4 KiB pages mostly carry bytes that did not change.
// With 1 KiB pages, one enqueue per transaction ran 1.65x as fast, and
// POST /v1/worlds 1.3x; reads and the worker's batched writes were the
// same (BENCHMARKS.md). Rows over about 1 KiB (large payloads) take
// overflow pages sooner; they are not what the tables mostly hold.
inline constexpr int kPageSize = 1024;

class Connection {
 public:
  explicit Connection(const config::DatabaseConfig& config, QueryObserver observer = {},
                      LockObserver lock_observer = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows (DDL, pragmas, a script).
  void exec(std::string_view sql);
  // The rowid of the last row this connection inserted.
  std::int64_t last_insert_rowid() const;
  // Rows changed by this connection's last INSERT, UPDATE or DELETE.
  int changes() const;
  // False outside a transaction, and after an error (an I/O error, a full
  // disk) that made SQLite roll the whole open transaction back by itself.
  bool in_transaction() const;
  bool table_exists(std::string_view name);
  // How long a writer waits for the lock before it gives up with busy.
  int busy_timeout_ms() const { return m_busy_timeout_ms; }

  // False once the file at the configured path is gone or is another file
  // than the one this connection opened (deleted, replaced, restored from a
  // backup): the connection would read and write a file nobody else sees.
  bool refers_to_current_file() const;
  // Which file this is (device and inode), to compare with identity_of(path)
  // taken elsewhere without a stat(2) per connection.
  struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const FileIdentity&) const = default;
  };
  FileIdentity file_identity() const { return m_file; }
  // The regular file at `path` now, or nothing when there is none.
  static std::optional<FileIdentity> identity_of(const std::string& path);

  // Cheap "did any connection commit since I last asked?" counter.
  std::int64_t data_version();

  // WAL checkpoints. By default the commit that grows the WAL past 1000
  // pages copies it back into the database (and syncs) before returning; a
  // latency-sensitive connection can turn that off (pages = 0) when another
  // thread calls checkpoint() regularly instead.
  void set_autocheckpoint(int pages);
  // A PASSIVE checkpoint copies what it can without waiting for anyone. A
  // TRUNCATE one also waits (busy timeout) for readers and writers to pause,
  // then empties the WAL: under a constant stream of overlapping
  // transactions the WAL is otherwise never reset and grows without bound.
  // Returns the WAL's size in frames (pages) before the call reset it.
  // RESTART also makes the next writer start the WAL over from its first
  // frame (the file keeps its size); TRUNCATE also empties the file.
  enum class Checkpoint { passive, restart, truncate };
  int checkpoint(Checkpoint mode = Checkpoint::passive);

  // A checkpoint that waits for no one longer than `wait`: with no wait the
  // busy handler is off for the call, so a TRUNCATE that would have to wait
  // for a reader or a writer gives up at once (busy); with one, it gives up
  // after `wait` instead of the connection's busy timeout. (A TRUNCATE
  // holds off new writers while it waits for readers.)
  struct CheckpointResult {
    int wal_frames = 0;     // the WAL's size in frames before the call
    int copied_frames = 0;  // frames now copied back into the database
    bool busy = false;      // it could not do all it was asked without waiting
  };
  CheckpointResult try_checkpoint(Checkpoint mode, std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // The file's page size in bytes (one WAL frame holds one page).
  int page_size();
  // The size of the WAL file in bytes (0 if there is none).
  std::uintmax_t wal_file_bytes() const;

  // RAII: reports the elapsed time of one query (or one transaction) to the
  // observer when it goes out of scope.
  class Timer {
   public:
    explicit Timer(const QueryObserver& observer)
        : m_observer(observer), m_start(std::chrono::steady_clock::now()) {}
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

   private:
    const QueryObserver& m_observer;
    std::chrono::steady_clock::time_point m_start;
  };
  Timer time_query() const { return Timer(m_observer); }

  // Off unless set; see HoldObserver.
  void observe_holds(HoldObserver observer) { m_hold_observer = std::move(observer); }
  bool observes_holds() const { return static_cast<bool>(m_hold_observer); }
  void report_hold(std::chrono::steady_clock::time_point from) const {
    if (m_hold_observer) m_hold_observer(from, std::chrono::steady_clock::now());
  }

  void report_lock_wait(double seconds, bool acquired) const {
    if (m_lock_observer) m_lock_observer(seconds, acquired);
  }

 private:
  // Waits for a lock held by another connection in short, growing sleeps
  // (tens of microseconds up to 1 ms) until busy_timeout_ms has passed.
  // SQLite's own busy timeout sleeps 1, 2, 5, 10... ms, which under steady
  // contention between worker processes stalls every writer for milliseconds.
  static int busy_wait(void* self, int count);
  friend class Statement;
  friend class WriteTransaction;
  friend class Savepoint;

  // Prepared statements kept for reuse, by SQL text. Preparing is most of
  // the cost of a short query (parsing, planning, schema locks), and request
  // paths run the same few dozen texts over and over. Statement takes one
  // from here and gives it back, reset and unbound, when it ends. Bounded:
  // when it holds kMaxStatements, it is emptied and fills again with what is
  // in use now (SQL built at run time cannot grow it without limit).
  class StatementCache {
   public:
    static constexpr std::size_t kMaxStatements = 200;
    ~StatementCache();
    // An idle statement for `sql`, or nullptr (prepare one, then give_back).
    sqlite3_stmt* take(std::string_view sql);
    void give_back(sqlite3_stmt* statement);

   private:
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
    };
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>, Hash, std::equal_to<>> m_idle;
    std::size_t m_count = 0;
    void clear();
  };

  struct Native;  // the SQLiteCpp database, in connection.cpp
  std::unique_ptr<Native> m_native;
  // After m_native: destroyed first, so every statement is finalized
  // before the database closes.
  StatementCache m_statements;
  QueryObserver m_observer;
  LockObserver m_lock_observer;
  HoldObserver m_hold_observer;
  int m_busy_timeout_ms;
  std::string m_path;
  FileIdentity m_file;
  std::chrono::steady_clock::time_point m_busy_since;
};

// BEGIN IMMEDIATE takes the write lock up front, so two writers never both
// read, then fail to upgrade to a write (the classic SQLITE_BUSY deadlock);
// the busy handler makes the second one wait its turn instead. Should BUSY
// still escape before the busy timeout has passed (SQLite skips the handler
// in a few cases, such as WAL recovery), BEGIN is tried again after a short,
// growing pause: retrying BEGIN is always safe, nothing has been done yet.
// Past the busy timeout it throws db::Error with Fault::busy.
// Rolls back on destruction unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& connection);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  Connection& m_connection;
  const std::chrono::steady_clock::time_point m_start;
  bool m_done = false;
};

// A savepoint inside an open transaction: release() keeps what was done
// since it was set; otherwise its destruction rolls back to it (and only to
// it: the transaction goes on). Not nested: one at a time per connection.
class Savepoint {
 public:
  explicit Savepoint(Connection& connection);
  ~Savepoint();
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release();

 private:
  Connection& m_connection;
  bool m_done = false;
};

// Runs `work` in one write transaction and commits what it did; an exception
// from `work` rolls everything back and goes on up. Returns what `work` returns.
template <class Work>
decltype(auto) write(Connection& connection, Work&& work) {
  WriteTransaction transaction(connection);
  if constexpr (std::is_void_v<std::invoke_result_t<Work&>>) {
    work();
    transaction.commit();
  } else {
    auto result = work();
    transaction.commit();
    return result;
  }
}

// A bounded set of connections for request threads. acquire() hands one out
// exclusively; it returns to the pool when the lease ends.
class ConnectionPool {
 public:
  ConnectionPool(config::DatabaseConfig config, std::size_t max_size, QueryObserver observer = {},
                 LockObserver lock_observer = {});

  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : m_pool(&pool), m_connection(std::move(connection)) {}
    Lease(Lease&& other) noexcept
        : m_pool(std::exchange(other.m_pool, nullptr)), m_connection(std::move(other.m_connection)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *m_connection; }
    Connection* operator->() { return m_connection.get(); }
    // Drops the connection instead of returning it (after an I/O error, say).
    void discard() { m_connection.reset(); }

   private:
    ConnectionPool* m_pool;
    std::unique_ptr<Connection> m_connection;
  };

  // Opens a new connection when none is idle and the pool is not full;
  // waits otherwise. Throws db::Error when the database cannot be opened.
  Lease acquire();

 private:
  void release(std::unique_ptr<Connection> connection);

  config::DatabaseConfig m_config;
  std::size_t m_max_size;
  QueryObserver m_observer;
  LockObserver m_lock_observer;
  std::mutex m_mutex;
  std::condition_variable m_available;
  std::vector<std::unique_ptr<Connection>> m_idle;
  std::size_t m_open = 0;
};

}  // namespace pw::db
