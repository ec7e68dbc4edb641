// A connection to a PostgreSQL server through libpq, in RAII. libpq's types
// stay in src/db/postgres/ (its own library target, linked PRIVATE; the build
// refuses them elsewhere); every failure is a db::Error classified by its
// SQLSTATE (see error.hpp), so callers decide by kind as they do on SQLite.
//
// Values travel as text in both directions (libpq's text format): one code
// path for every type, and the server parses numbers exactly. A Connection
// belongs to one thread at a time; share a storage::Storage (its pool of sessions), not the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "db/error.hpp"
#include "db/postgres/rows.hpp"

namespace pw::db::postgres {

struct Settings {
  // postgresql://user:password@host:port/database?param=value (or postgres://).
  std::string url;
  // Bounds each attempt to reach the server (libpq's connect_timeout).
  int connect_timeout_s = 5;
  // Shown in pg_stat_activity, so an operator can tell our sessions apart.
  std::string application_name = "personaworlds";
  // The server cancels any statement running longer (0: no limit).
  int statement_timeout_ms = 0;
  // The server ends a session left idle inside a transaction this long (0:
  // never). Our transactions never wait on anything outside the process, so
  // such a session is a client that is gone (a host cut off mid-transaction)
  // whose row locks would otherwise keep other hosts from its jobs until TCP
  // gives up, which takes minutes.
  int idle_in_transaction_timeout_ms = 0;
};

// Statement parameters, in order ($1, $2, ...), as text; NULL when empty.
class Params {
 public:
  Params& add(std::int64_t value);
  Params& add(int value) { return add(static_cast<std::int64_t>(value)); }
  Params& add(bool value);
  Params& add(double value);
  Params& add(std::string_view text);
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  Params& add_null();
  template <class T>
  Params& add(const std::optional<T>& value) {
    return value ? add(*value) : add_null();
  }
  // A one-dimensional array literal ('{1,2,3}'), for = ANY($n) and unnest($n).
  Params& add_array(const std::vector<std::int64_t>& values);
  Params& add_array(const std::vector<std::string>& values);
  Params& add_array(const std::vector<std::optional<std::string>>& values);

  std::size_t size() const { return m_values.size(); }
  const std::vector<std::optional<std::string>>& values() const { return m_values; }

 private:
  std::vector<std::optional<std::string>> m_values;
};

// A notification received on a channel this connection listens on.
struct Notification {
  std::string channel;
  std::string payload;
  int sender_pid = 0;
};

// Called with the duration of each statement (or script), in seconds: the
// db_query_duration_seconds histogram, as on SQLite.
using StatementObserver = std::function<void(double seconds)>;

class Connection {
 public:
  // Connects at once; throws db::Error (unavailable, reason "connection")
  // when the server cannot be reached or refuses us. The message never
  // holds the password.
  explicit Connection(const Settings& settings, StatementObserver observer = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One or more statements without parameters (DDL, a migration script),
  // sent as one simple query: they run in one implicit transaction unless
  // the script says otherwise.
  void exec(std::string_view sql);
  // One statement with parameters.
  Rows query(std::string_view sql, const Params& params = {});
  // The same, prepared once per connection under `name` and reused: for the
  // hot statements, which then skip parsing and planning.
  Rows prepared(const std::string& name, std::string_view sql, const Params& params = {});

  // False once the session is gone (server restart, terminated backend,
  // network cut): the pool drops such a connection instead of reusing it.
  bool healthy() const;
  // Opens the session again with the same settings (libpq's PQreset);
  // throws db::Error (unavailable) while the server cannot be reached. A
  // Transaction does this by itself on a session that is gone.
  void reconnect();
  // The server's process id for this session.
  int backend_pid() const;
  // Whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;
  // Whether a statement failed in the open transaction (only ROLLBACK is
  // accepted until it ends).
  bool transaction_failed() const;

  // LISTEN: wait_for_notification() then returns what arrives on `channel`.
  void listen(std::string_view channel);
  // The next notification, waiting up to `timeout` for one; nothing on
  // timeout. Throws db::Error (unavailable) when the connection is lost.
  std::optional<Notification> wait_for_notification(std::chrono::milliseconds timeout);

  // The url with its password (in the authority or as ?password=) masked:
  // the only form of a database URL that may reach a log line or an error.
  static std::string redact(std::string_view url);
  // Nothing when `url` is a well-formed PostgreSQL URL libpq accepts; what
  // is wrong with it otherwise.
  static std::optional<std::string> check_url(std::string_view url);

 private:
  Rows run(std::string_view sql, const Params& params, const std::string* prepared_name);
  [[noreturn]] void fail(std::string_view what, const void* result) const;
  [[noreturn]] void refuse_connection() const;
  void quiet_notices();

  struct Native;  // the libpq connection, in connection.cpp
  std::unique_ptr<Native> m_native;
  std::unordered_set<std::string> m_prepared;
  // Transactions open on this session: a session that ended inside one is
  // not opened again under it (its later statements and its COMMIT would run
  // outside any transaction on the new session); the transaction fails.
  friend class Transaction;
  int m_open_transactions = 0;
  std::string m_redacted_url;
  std::string m_password;  // kept to mask it in libpq's own messages
  StatementObserver m_observer;
};

// BEGIN now; ROLLBACK on destruction unless committed. On a connection that
// is no longer healthy the rollback is skipped: the server already ended
// the transaction with the session.
class Transaction {
 public:
  explicit Transaction(Connection& connection, std::string_view begin = "BEGIN");
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  void close_scope();

  Connection& m_connection;
  bool m_done = false;
  bool m_open = false;
};

}  // namespace pw::db::postgres
