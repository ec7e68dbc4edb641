#include "db/connection.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "db/native.hpp"
#include "db/statement.hpp"

namespace pw::db {


Connection::Timer::~Timer() {
  if (m_observer) {
    m_observer(std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count());
  }
}

Connection::Connection(const config::DatabaseConfig& config, QueryObserver observer, LockObserver lock_observer)
    : m_native(native::translate([&] { return std::make_unique<Native>(config); })),
      m_observer(std::move(observer)),
      m_lock_observer(std::move(lock_observer)),
      m_busy_timeout_ms(config.busy_timeout_ms),
      m_path(config.path) {
  sqlite3_busy_handler(m_native->db.getHandle(), &Connection::busy_wait, this);
  // A new file gets pages of kPageSize bytes; on a file that has pages
  // already, SQLite ignores this (and in WAL mode a VACUUM cannot change
  // them either), so older databases keep theirs.
  if (!config.read_only) exec("PRAGMA page_size=" + std::to_string(kPageSize));
  // Switching to WAL needs a moment of exclusive access; when several
  // processes open a fresh file at once, one of them may briefly see BUSY.
  for (int attempt = 0; !config.read_only; ++attempt) {
    try {
      exec("PRAGMA journal_mode=WAL");
      break;
    } catch (const Error& e) {
      if (e.fault() != Fault::busy || attempt >= 200) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (config.read_only) exec("PRAGMA query_only=ON");
  if (!config.read_only) exec(config.synchronous == "full" ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  exec("PRAGMA foreign_keys=ON");
  exec("PRAGMA temp_store=MEMORY");
  if (auto file = identity_of(config.path)) m_file = *file;
}

Connection::~Connection() = default;

Connection::StatementCache::~StatementCache() { clear(); }

sqlite3_stmt* Connection::StatementCache::take(std::string_view sql) {
  auto found = m_idle.find(sql);
  if (found == m_idle.end() || found->second.empty()) return nullptr;
  auto* statement = found->second.back();
  found->second.pop_back();
  --m_count;
  return statement;
}

void Connection::StatementCache::give_back(sqlite3_stmt* statement) {
  // Reset releases any read snapshot it held (which would pin the WAL);
  // unbinding drops pointers to text that may be gone by its next use.
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (m_count >= kMaxStatements) clear();
  const std::string_view sql = sqlite3_sql(statement);
  auto found = m_idle.find(sql);
  if (found == m_idle.end()) found = m_idle.emplace(std::string(sql), std::vector<sqlite3_stmt*>{}).first;
  found->second.push_back(statement);
  ++m_count;
}

void Connection::StatementCache::clear() {
  for (auto& [sql, statements] : m_idle) {
    for (auto* statement : statements) sqlite3_finalize(statement);
  }
  m_idle.clear();
  m_count = 0;
}


void Connection::exec(std::string_view sql) {
  native::translate([&] { m_native->db.exec(std::string(sql)); });
}

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(m_native->db.getHandle()); }

int Connection::changes() const { return sqlite3_changes(m_native->db.getHandle()); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(m_native->db.getHandle()) == 0; }

bool Connection::table_exists(std::string_view name) {
  return native::translate([&] { return m_native->db.tableExists(std::string(name)); });
}

std::optional<Connection::FileIdentity> Connection::identity_of(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  return FileIdentity{info.st_dev, info.st_ino};
}

bool Connection::refers_to_current_file() const { return identity_of(m_path) == m_file; }

int Connection::busy_wait(void* self, int count) {
  auto& connection = *static_cast<Connection*>(self);
  auto now = std::chrono::steady_clock::now();
  if (count == 0) connection.m_busy_since = now;
  if (now - connection.m_busy_since >= std::chrono::milliseconds(connection.m_busy_timeout_ms)) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, 10 << std::min(count, 7))));
  return 1;
}

void Connection::set_autocheckpoint(int pages) {
  exec("PRAGMA wal_autocheckpoint=" + std::to_string(std::max(0, pages)));
}

namespace {

int sqlite_mode(Connection::Checkpoint mode) {
  switch (mode) {
    case Connection::Checkpoint::passive: return SQLITE_CHECKPOINT_PASSIVE;
    case Connection::Checkpoint::restart: return SQLITE_CHECKPOINT_RESTART;
    case Connection::Checkpoint::truncate: return SQLITE_CHECKPOINT_TRUNCATE;
  }
  return SQLITE_CHECKPOINT_PASSIVE;
}

}  // namespace

int Connection::checkpoint(Checkpoint mode) {
  // BUSY: someone else is checkpointing, or the wait timed out; next time.
  return try_checkpoint(mode, std::chrono::milliseconds(m_busy_timeout_ms)).wal_frames;
}

Connection::CheckpointResult Connection::try_checkpoint(Checkpoint mode, std::chrono::milliseconds wait) {
  CheckpointResult result;
  const int busy_timeout_ms = m_busy_timeout_ms;
  if (wait.count() > 0) {
    m_busy_timeout_ms = static_cast<int>(wait.count());
  } else {
    sqlite3_busy_handler(m_native->db.getHandle(), nullptr, nullptr);
  }
  const auto start = std::chrono::steady_clock::now();
  int rc = sqlite3_wal_checkpoint_v2(m_native->db.getHandle(), nullptr,
                                     sqlite_mode(mode),
                                     &result.wal_frames, &result.copied_frames);
  // Only PASSIVE lets writers go on meanwhile.
  if (mode != Checkpoint::passive) report_hold(start);
  m_busy_timeout_ms = busy_timeout_ms;
  sqlite3_busy_handler(m_native->db.getHandle(), &Connection::busy_wait, this);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) native::raise(m_native->db.getHandle(), rc);
  result.busy = rc == SQLITE_BUSY;
  result.wal_frames = std::max(0, result.wal_frames);
  result.copied_frames = std::max(0, result.copied_frames);
  return result;
}

std::uintmax_t Connection::wal_file_bytes() const {
  std::error_code error;
  auto bytes = std::filesystem::file_size(m_path + "-wal", error);
  return error ? 0 : bytes;
}

int Connection::page_size() {
  return native::translate([&] {
    SQLite::Statement query(m_native->db, "PRAGMA page_size");
    query.executeStep();
    return query.getColumn(0).getInt();
  });
}

std::int64_t Connection::data_version() {
  return native::translate([&] {
    SQLite::Statement query(m_native->db, "PRAGMA data_version");
    query.executeStep();
    return query.getColumn(0).getInt64();
  });
}

WriteTransaction::WriteTransaction(Connection& connection)
    : m_connection(connection), m_start(std::chrono::steady_clock::now()) {
  // Timed here: while another connection or process holds the write lock,
  // this is where a write waits, up to the busy timeout.
  auto waited = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(); };
  const auto deadline = m_start + std::chrono::milliseconds(m_connection.busy_timeout_ms());
  for (int attempt = 0;; ++attempt) {
    try {
      // Cached statements, not exec(): these three run on every write, and
      // exec() parses its text each time.
      Statement(m_connection, "BEGIN IMMEDIATE").exec();
      m_connection.report_lock_wait(waited(), true);
      return;
    } catch (const Error& e) {
      if (e.fault() != Fault::busy) throw;
      const auto pause = std::chrono::milliseconds(std::min(100, 1 + attempt * 5));
      if (std::chrono::steady_clock::now() + pause >= deadline) {
        m_connection.report_lock_wait(waited(), false);
        m_connection.report_hold(m_start);
        throw;
      }
      std::this_thread::sleep_for(pause);
    }
  }
}

WriteTransaction::~WriteTransaction() {
  if (!m_done) {
    try {
      Statement(m_connection, "ROLLBACK").exec();
    } catch (...) {
      // Nothing sensible to do in a destructor: SQLite has already rolled back
      // if the connection itself failed.
    }
    m_connection.report_hold(m_start);
  }
}

void WriteTransaction::commit() {
  // A COMMIT that throws leaves the rest to the destructor's ROLLBACK,
  // which reports the stretch.
  Statement(m_connection, "COMMIT").exec();
  m_done = true;
  m_connection.report_hold(m_start);
}

Savepoint::Savepoint(Connection& connection) : m_connection(connection) {
  Statement(m_connection, "SAVEPOINT pw_item").exec();
}

Savepoint::~Savepoint() {
  if (m_done || !m_connection.in_transaction()) return;
  try {
    Statement(m_connection, "ROLLBACK TO pw_item").exec();
    Statement(m_connection, "RELEASE pw_item").exec();
  } catch (...) {
    // What the savepoint covered must not reach a COMMIT: the whole
    // transaction goes, and the caller sees it end (in_transaction()).
    try {
      Statement(m_connection, "ROLLBACK").exec();
    } catch (...) {
      // Already gone with the connection's failure.
    }
  }
}

void Savepoint::release() {
  Statement(m_connection, "RELEASE pw_item").exec();
  m_done = true;
}

ConnectionPool::ConnectionPool(config::DatabaseConfig config, std::size_t max_size,
                               QueryObserver observer, LockObserver lock_observer)
    : m_config(std::move(config)),
      m_max_size(max_size),
      m_observer(std::move(observer)),
      m_lock_observer(std::move(lock_observer)) {}

ConnectionPool::Lease::~Lease() {
  if (m_pool) m_pool->release(std::move(m_connection));
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::unique_lock lock(m_mutex);
  m_available.wait(lock, [&] { return !m_idle.empty() || m_open < m_max_size; });
  while (!m_idle.empty()) {
    auto connection = std::move(m_idle.back());
    m_idle.pop_back();
    if (connection->refers_to_current_file()) return Lease(*this, std::move(connection));
    // Its file was deleted or replaced: reopen at the path instead.
    connection.reset();
    --m_open;
  }
  ++m_open;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Connection>(m_config, m_observer, m_lock_observer));
  } catch (...) {
    std::lock_guard relock(m_mutex);
    --m_open;
    m_available.notify_one();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(m_mutex);
  if (connection) {
    m_idle.push_back(std::move(connection));
  } else {
    --m_open;
  }
  m_available.notify_one();
}

}  // namespace pw::db
