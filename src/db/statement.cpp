#include "db/statement.hpp"

#include <chrono>
#include <optional>
#include <string_view>

#include "db/native.hpp"

namespace pw::db {

Statement::Statement(Connection& connection, std::string_view sql) : m_connection(connection) {
  m_statement = m_connection.m_statements.take(sql);
  if (m_statement != nullptr) {
    m_cached = true;
    return;
  }
  int rc = sqlite3_prepare_v2(m_connection.m_native->db.getHandle(), sql.data(), static_cast<int>(sql.size()), &m_statement,
                              nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(m_statement);
    m_statement = nullptr;
    native::raise(m_connection.m_native->db.getHandle(), rc);
  }
  // Kept for reuse only when SQLite holds exactly this text for it (a
  // second statement or trailing text after the first would make the two
  // differ), so the next lookup by the same text finds it.
  const char* kept = m_statement != nullptr ? sqlite3_sql(m_statement) : nullptr;
  m_cached = kept != nullptr && std::string_view(kept) == sql;
}

Statement::~Statement() {
  if (m_statement == nullptr) return;
  if (m_cached) {
    m_connection.m_statements.give_back(m_statement);
  } else {
    sqlite3_finalize(m_statement);
  }
}

namespace {

void check_bind(sqlite3* handle, int rc) {
  if (rc != SQLITE_OK) native::raise(handle, rc);
}

}  // namespace

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(m_connection.m_native->db.getHandle(), sqlite3_bind_int64(m_statement, index, value));
  return *this;
}

Statement& Statement::bind(int index, int value) {
  check_bind(m_connection.m_native->db.getHandle(), sqlite3_bind_int(m_statement, index, value));
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  // By pointer and length: embedded NULs and any bytes are kept exactly.
  check_bind(m_connection.m_native->db.getHandle(),
             sqlite3_bind_text(m_statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind_unowned(int index, std::string_view text) {
  check_bind(m_connection.m_native->db.getHandle(),
             sqlite3_bind_text(m_statement, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
  return *this;
}

Statement& Statement::bind_null(int index) {
  check_bind(m_connection.m_native->db.getHandle(), sqlite3_bind_null(m_statement, index));
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(m_statement);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  native::raise(m_connection.m_native->db.getHandle(), rc);
}

int Statement::exec() {
  sqlite3* handle = m_connection.m_native->db.getHandle();
  // A write outside a transaction takes and holds the write lock for its
  // own length, as a write transaction does (see HoldObserver). Not BEGIN
  // IMMEDIATE, which SQLite counts as a write: WriteTransaction reports the
  // whole of its wait and of the transaction.
  struct Reported {
    explicit Reported(const Connection& connection) : connection(connection) {}
    ~Reported() { connection.report_hold(start); }
    Reported(const Reported&) = delete;
    Reported& operator=(const Reported&) = delete;
    const Connection& connection;
    const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  std::optional<Reported> reported;
  if (m_connection.observes_holds() && sqlite3_get_autocommit(handle) != 0 && sqlite3_stmt_readonly(m_statement) == 0 &&
      !std::string_view(sqlite3_sql(m_statement)).starts_with("BEGIN")) {
    reported.emplace(m_connection);
  }
  while (step()) {
  }
  return sqlite3_changes(handle);
}

// Neither fails in a way that matters here: sqlite3_reset only repeats the
// last step's error, which step() already threw.
void Statement::reset() { sqlite3_reset(m_statement); }

void Statement::clear_bindings() { sqlite3_clear_bindings(m_statement); }

Statement::Type Statement::type(int column) const {
  switch (sqlite3_column_type(m_statement, column)) {
    case SQLITE_INTEGER: return Type::integer;
    case SQLITE_FLOAT: return Type::real;
    case SQLITE_TEXT: return Type::text;
    case SQLITE_BLOB: return Type::blob;
    default: return Type::null;
  }
}

bool Statement::is_null(int column) const { return sqlite3_column_type(m_statement, column) == SQLITE_NULL; }

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(m_statement, column); }

int Statement::int32(int column) const { return sqlite3_column_int(m_statement, column); }

double Statement::real(int column) const { return sqlite3_column_double(m_statement, column); }

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(m_statement, column));
  if (data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(m_statement, column)));
}

std::optional<std::int64_t> Statement::optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

}  // namespace pw::db
