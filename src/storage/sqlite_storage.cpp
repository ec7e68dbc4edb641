// Sessions on the SQLite file: one db::Connection each, with the store, the
// tokens and the job table on it, writes under BEGIN IMMEDIATE, taken by one
// session of the process at a time through the storage's write gate.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

#include "db/connection.hpp"
#include "db/error.hpp"
#include "db/wal_care.hpp"
#include "migrations/migration.hpp"
#include "queue/job_queue.hpp"
#include "schedule/sqlite_schedule_store.hpp"
#include "storage/drivers.hpp"
#include "storage/group_commit.hpp"
#include "storage/write_gate.hpp"
#include "threads/pause.hpp"
#include "store/sqlite/admin_tokens.hpp"
#include "store/sqlite/store.hpp"

namespace pw::storage {
namespace {

// The database file as the last request found it. Every acquire looks at
// the path once (a file deleted or replaced under the running process must
// turn requests away or reopen it); sessions compare their connection's file
// with that finding instead of each looking again.
class DatabaseFile {
 public:
  explicit DatabaseFile(std::string path) : m_path(std::move(path)) {}

  // A session opened now would create an empty file, or (already open) keep
  // writing to a deleted one: refuse while the file is gone.
  void check() {
    auto found = db::Connection::identity_of(m_path);
    {
      std::lock_guard lock(m_mutex);
      m_found = found;
    }
    if (!found) throw db::Error(db::Fault::unavailable, "missing", "the database file " + m_path + " is missing");
  }

  bool holds(const db::Connection& connection) const {
    std::optional<db::Connection::FileIdentity> found;
    {
      std::lock_guard lock(m_mutex);
      found = m_found;
    }
    return found == connection.file_identity();
  }

 private:
  const std::string m_path;
  mutable std::mutex m_mutex;
  std::optional<db::Connection::FileIdentity> m_found;
};

class SqliteSession final : public Session {
 public:
  SqliteSession(const config::DatabaseConfig& config, const SessionSettings& settings, WriteGate& gate,
                const DatabaseFile& file)
      : m_gate(gate),
        m_file(file),
        m_lock_observer(settings.observers.lock),
        // A write's wait for the lock is its wait at the gate plus BEGIN's.
        m_connection(config, settings.observers.query,
                     [this](double seconds, bool acquired) {
                       if (m_lock_observer) m_lock_observer(std::exchange(m_gate_wait, 0.0) + seconds, acquired);
                     }),
        m_store(m_connection),
        m_tokens(m_connection),
        m_admin_tokens(m_connection),
        m_jobs(m_connection, settings.clock, settings.retry),
        m_schedules(m_connection) {
    m_connection.observe_holds(settings.observers.held);
  }

  store::Store& store() override { return m_store; }
  store::Tokens& tokens() override { return m_tokens; }
  store::AdminTokens& admin_tokens() override { return m_admin_tokens; }
  queue::JobTable& jobs() override { return m_jobs; }
  schedule::ScheduleStore& schedules() override { return m_schedules; }

  std::unique_ptr<WriteScope> begin_write() override {
    using std::chrono::steady_clock;
    const auto start = steady_clock::now();
    if (!m_gate.enter(start + std::chrono::milliseconds(m_connection.busy_timeout_ms()))) {
      const double waited = std::chrono::duration<double>(steady_clock::now() - start).count();
      if (m_lock_observer) m_lock_observer(waited, false);
      throw db::Error(db::Fault::busy, "busy",
                      "waited " + std::to_string(m_connection.busy_timeout_ms()) +
                          " ms for the other writers of this process");
    }
    WriteGate::Pass pass(m_gate);
    m_gate_wait = std::chrono::duration<double>(steady_clock::now() - start).count();
    return std::make_unique<Scope>(m_connection, std::move(pass));
  }

  migrations::Status schema_status() override {
    migrations::Migrator migrator(m_connection, migrations::embedded());
    return migrator.status();
  }
  std::optional<std::string> write_problem() override { return std::nullopt; }

  // A connection keeps working on a file that was deleted or replaced under
  // it, and what it writes then is lost: such a session never serves again.
  bool reusable() override { return m_file.holds(m_connection); }

  db::Connection& connection() { return m_connection; }

 private:
  class Scope final : public WriteScope {
   public:
    Scope(db::Connection& connection, WriteGate::Pass pass)
        : m_pass(std::move(pass)), m_transaction(connection) {}
    void commit() override { m_transaction.commit(); }

   private:
    // Declared first, so it is let go last: after COMMIT or ROLLBACK.
    WriteGate::Pass m_pass;
    db::WriteTransaction m_transaction;
  };

  WriteGate& m_gate;
  const DatabaseFile& m_file;
  db::LockObserver m_lock_observer;
  // Set between the gate and BEGIN, read by the connection's lock observer.
  double m_gate_wait = 0.0;
  db::Connection m_connection;
  store::SqliteStore m_store;
  store::SqliteTokens m_tokens;
  store::SqliteAdminTokens m_admin_tokens;
  queue::JobQueue m_jobs;
  schedule::SqliteScheduleStore m_schedules;
};

class SqliteStorage final : public Storage {
 public:
  SqliteStorage(const config::DatabaseConfig& config, std::size_t max_sessions, const SessionSettings& settings)
      // Sessions are cheap and local: a request waits for one only when every
      // one is in use, as long as a writer would wait for the lock.
      : Storage(max_sessions, std::chrono::milliseconds(config.busy_timeout_ms)),
        m_config(config),
        m_settings(settings),
        m_file(config.path),
        m_group_commit(
            [this] {
              auto session = new_session();
              auto* connection = &session->connection();
              return GroupCommit::Writer{std::move(session), connection};
            },
            std::chrono::milliseconds(config.busy_timeout_ms), kMaxBatch,
            [this](double waited) {
              if (m_settings.observers.lock) m_settings.observers.lock(waited, false);
            }) {}

  std::string location() const override { return m_config.path; }
  bool is_postgres() const override { return false; }

  void start_upkeep(UpkeepFailed on_failure) override {
    m_wal_cared = true;
    m_upkeep = std::jthread([this, on_failure = std::move(on_failure)](std::stop_token stop) {
      care_for_wal(stop, on_failure);
    });
  }

 protected:
  std::unique_ptr<Session> open_session() override { return new_session(); }

  void run_write(Session& /*caller*/, const std::function<void(Session&)>& work) override {
    m_group_commit.run(work);
  }

  void check_available() override { m_file.check(); }

 private:
  std::unique_ptr<SqliteSession> new_session() {
    auto session = std::make_unique<SqliteSession>(m_config, m_settings, m_gate, m_file);
    if (m_wal_cared) session->connection().set_autocheckpoint(0);
    return session;
  }

  // Every kCopyPeriod the WAL is copied back into the database while this
  // process's writers go on, and once it holds kStartOverBytes, once more,
  // for what they added meanwhile, with them held at the gate for that
  // moment. The next writer
  // then finds the WAL copied whole, and SQLite starts it over from its
  // beginning only then: without the second copy, commits always came in
  // between, the WAL grew to the 64 MiB bound under API load alone, and
  // p99 of POST .../simulations went from 5-7 ms to 12-32 ms. Every
  // WalCare::kPeriod, WalCare's round also bounds a WAL that grows anyway
  // (other processes' writes, long readers). On a connection of its own,
  // reopened after a failure (the file may have been replaced) and when the
  // file at the path is another one; failures back off up to 5 s.
  static constexpr std::chrono::milliseconds kCopyPeriod{5};
  static constexpr std::chrono::milliseconds kGateWait{5};
  // The gated copy waits until the WAL holds this much, as SQLite's own
  // automatic checkpoint does (1,000 pages of 1 KiB): holding writers every
  // 5 ms for a few pages cost POST /v1/worlds 13% of its rate.
  static constexpr std::int64_t kStartOverBytes = std::int64_t{1} << 20;

  void care_for_wal(std::stop_token stop, const UpkeepFailed& on_failure) {
    auto config = m_config;
    config.create_if_missing = false;  // a deleted file is not brought back empty
    std::optional<db::WalCare> care;
    db::Connection* cared_for = nullptr;
    int start_over_frames = 0;
    constexpr int kCopiesPerCare = static_cast<int>(db::WalCare::kPeriod / kCopyPeriod);
    int round = 0;
    int failures = 0;
    std::chrono::milliseconds pause = kCopyPeriod;
    for (;;) {
      if (!threads::pause_unless_stopped(stop, pause)) return;
      try {
        if (care && !cared_for->refers_to_current_file()) care.reset();
        if (!care) {
          auto connection = std::make_unique<db::Connection>(config);
          cared_for = connection.get();
          start_over_frames = static_cast<int>(kStartOverBytes / connection->page_size());
          care.emplace(std::move(connection));
        }
        // WalCare's round copies too, and may have started the WAL over.
        const bool cared = round++ % kCopiesPerCare == 0;
        if (cared) care->run_once();
        const int frames = cared ? start_over_frames
                                 : cared_for->try_checkpoint(db::Connection::Checkpoint::passive).wal_frames;
        if (frames >= start_over_frames && m_gate.enter(std::chrono::steady_clock::now() + kGateWait)) {
          WriteGate::Pass held(m_gate);
          cared_for->try_checkpoint(db::Connection::Checkpoint::passive);
        }
        failures = 0;
        pause = kCopyPeriod;
      } catch (const std::exception& e) {
        care.reset();
        ++failures;
        if (on_failure) on_failure(e, failures);
        pause = std::min(std::chrono::milliseconds(5000), db::WalCare::kPeriod * failures);
      }
    }
  }

  config::DatabaseConfig m_config;
  SessionSettings m_settings;
  // Idle sessions (in the base class) outlive it, as they do the gate, but
  // only reusable() reads it, and nothing asks that during destruction.
  DatabaseFile m_file;
  // Idle sessions (in the base class) outlive it, but only a write
  // scope uses it, and none is open once the storage is destroyed.
  WriteGate m_gate;
  // Writes per transaction at most: a batch holds the write lock for a few
  // milliseconds at most, so a worker's claim is not held up for long.
  static constexpr std::size_t kMaxBatch = 32;
  // After the gate: its writer goes (and its thread stops) first.
  GroupCommit m_group_commit;
  // Set before the first session opens (start_upkeep's contract).
  std::atomic<bool> m_wal_cared{false};
  std::jthread m_upkeep;  // last: stops before the members it uses go
};

}  // namespace

std::unique_ptr<Storage> open_sqlite_storage(const config::DatabaseConfig& config, std::size_t max_sessions,
                                             const SessionSettings& settings) {
  return std::make_unique<SqliteStorage>(config, max_sessions, settings);
}

}  // namespace pw::storage
