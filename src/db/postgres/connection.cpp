#include "db/postgres/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <algorithm>

#include "db/postgres/error.hpp"

namespace pw::db::postgres {

// ---- Params ------------------------------------------------------------------

Params& Params::add(std::int64_t value) {
  m_values.emplace_back(std::to_string(value));
  return *this;
}

Params& Params::add(bool value) {
  m_values.emplace_back(value ? "true" : "false");
  return *this;
}

Params& Params::add(double value) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  m_values.emplace_back(std::string(buffer, end));
  return *this;
}

Params& Params::add(std::string_view text) {
  m_values.emplace_back(std::string(text));
  return *this;
}

Params& Params::add_null() {
  m_values.emplace_back(std::nullopt);
  return *this;
}

Params& Params::add_array(const std::vector<std::int64_t>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += std::to_string(values[i]);
  }
  literal += '}';
  m_values.emplace_back(std::move(literal));
  return *this;
}

namespace {

// An element of an array literal: always quoted, so no text (empty, NULL,
// braces, commas, spaces) is read as anything but itself.
void append_quoted(std::string& literal, std::string_view text) {
  literal += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

}  // namespace

Params& Params::add_array(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    append_quoted(literal, values[i]);
  }
  literal += '}';
  m_values.emplace_back(std::move(literal));
  return *this;
}

Params& Params::add_array(const std::vector<std::optional<std::string>>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    if (values[i]) {
      append_quoted(literal, *values[i]);
    } else {
      literal += "NULL";
    }
  }
  literal += '}';
  m_values.emplace_back(std::move(literal));
  return *this;
}

// ---- Connection ----------------------------------------------------------------

struct Connection::Native {
  PGconn* connection = nullptr;
  ~Native() {
    if (connection != nullptr) PQfinish(connection);
  }
};

namespace {

// libpq ends its messages with a newline (sometimes several lines).
std::string tidy(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

// Replaces every occurrence of `secret` in `text` (a message that might
// quote the connection string back) with ***.
std::string without(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// The password libpq would use from `url`, if it names one.
std::string password_in(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return {};
  std::string password;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr && std::strcmp(option->keyword, "password") == 0) password = option->val;
  }
  PQconninfoFree(options);
  return password;
}

}  // namespace

Connection::Connection(const Settings& settings, StatementObserver observer)
    : m_native(std::make_unique<Native>()), m_observer(std::move(observer)) {
  std::string timeout = std::to_string(settings.connect_timeout_s);
  std::string options;
  if (settings.statement_timeout_ms > 0) {
    options += "-c statement_timeout=" + std::to_string(settings.statement_timeout_ms);
  }
  if (settings.idle_in_transaction_timeout_ms > 0) {
    if (!options.empty()) options += ' ';
    options += "-c idle_in_transaction_session_timeout=" + std::to_string(settings.idle_in_transaction_timeout_ms);
  }
  // The URL first: with expand_dbname its parts stand in for `dbname`, and
  // the entries after it override or complete them.
  const char* keywords[] = {"dbname", "connect_timeout", "fallback_application_name", "options", nullptr};
  const char* values[] = {settings.url.c_str(), timeout.c_str(), settings.application_name.c_str(),
                          options.empty() ? nullptr : options.c_str(), nullptr};
  m_native->connection = PQconnectdbParams(keywords, values, 1);
  if (m_native->connection == nullptr) throw Error(Fault::unavailable, "connection", "PostgreSQL: out of memory");
  m_redacted_url = redact(settings.url);
  m_password = password_in(settings.url);
  if (PQstatus(m_native->connection) != CONNECTION_OK) refuse_connection();
  quiet_notices();
}

void Connection::quiet_notices() {
  // The server's notices (NOTICE: relation already exists, skipping; the
  // FATAL of a shutdown) would otherwise go to stderr as bare text lines,
  // between the process's JSON log lines. Errors reach the caller anyway.
  PQsetNoticeProcessor(m_native->connection, [](void*, const char*) {}, nullptr);
}

void Connection::refuse_connection() const {
  std::string message = without(tidy(PQerrorMessage(m_native->connection)), m_password);
  // libpq gives a failed connection no SQLSTATE, only the server's text:
  // a server out of connection slots (53300) says so in these words (in an
  // English lc_messages; any other wording counts as "connection").
  const bool full = message.find("too many connections") != std::string::npos ||
                    message.find("connection slots are reserved") != std::string::npos;
  throw Error(Fault::unavailable, full ? "overloaded" : "connection",
              "cannot connect to PostgreSQL at " + m_redacted_url + ": " + message);
}

void Connection::reconnect() {
  if (m_open_transactions > 0) {
    throw Error(Fault::unavailable, "connection",
                "the PostgreSQL session at " + m_redacted_url + " ended inside a transaction");
  }
  PQreset(m_native->connection);
  // The new session has none of the old one's prepared statements.
  m_prepared.clear();
  if (PQstatus(m_native->connection) != CONNECTION_OK) refuse_connection();
}

Connection::~Connection() = default;

void Connection::fail(std::string_view what, const void* result) const {
  const auto* pg = static_cast<const PGresult*>(result);
  const char* sqlstate = pg != nullptr ? PQresultErrorField(pg, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = tidy(pg != nullptr ? PQresultErrorMessage(pg) : PQerrorMessage(m_native->connection));
  if (message.empty()) message = tidy(PQerrorMessage(m_native->connection));
  // With no SQLSTATE, the failure was the connection's, not the statement's.
  auto classified = classify_sqlstate(sqlstate != nullptr ? sqlstate : "");
  std::string text = "PostgreSQL";
  if (sqlstate != nullptr) text += std::string(" ") + sqlstate;
  text += " in " + std::string(what) + ": " + message;
  throw Error(classified.fault, classified.reason, std::move(text));
}

namespace {

struct ResultGuard {
  PGresult* result;
  ~ResultGuard() {
    if (result != nullptr) PQclear(result);
  }
  PGresult* release() { return std::exchange(result, nullptr); }
};

// Reports the time from construction to the end of the scope, failures included.
class StatementTimer {
 public:
  explicit StatementTimer(const StatementObserver& observer)
      : m_observer(observer), m_start(std::chrono::steady_clock::now()) {}
  ~StatementTimer() {
    if (m_observer) m_observer(std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count());
  }
  StatementTimer(const StatementTimer&) = delete;
  StatementTimer& operator=(const StatementTimer&) = delete;

 private:
  const StatementObserver& m_observer;
  std::chrono::steady_clock::time_point m_start;
};

bool succeeded(const PGresult* result) {
  if (result == nullptr) return false;
  auto status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY;
}

// The first words of a statement, for error messages (never its values:
// they travel as parameters).
std::string_view head_of(std::string_view sql) {
  auto start = sql.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  sql.remove_prefix(start);
  return sql.substr(0, std::min<std::size_t>(sql.size(), 60));
}

}  // namespace

void Connection::exec(std::string_view sql) {
  StatementTimer timer(m_observer);
  std::string text(sql);
  ResultGuard result{PQexec(m_native->connection, text.c_str())};
  if (!succeeded(result.result)) fail(head_of(sql), result.result);
}

Rows Connection::query(std::string_view sql, const Params& params) { return run(sql, params, nullptr); }

Rows Connection::prepared(const std::string& name, std::string_view sql, const Params& params) {
  if (!m_prepared.contains(name)) {
    std::string text(sql);
    ResultGuard result{
        PQprepare(m_native->connection, name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr)};
    if (!succeeded(result.result)) fail(head_of(sql), result.result);
    m_prepared.insert(name);
  }
  return run(sql, params, &name);
}

Rows Connection::run(std::string_view sql, const Params& params, const std::string* prepared_name) {
  StatementTimer timer(m_observer);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& value : params.values()) values.push_back(value ? value->c_str() : nullptr);
  int count = static_cast<int>(values.size());
  PGresult* raw = nullptr;
  if (prepared_name != nullptr) {
    raw = PQexecPrepared(m_native->connection, prepared_name->c_str(), count, values.data(), nullptr, nullptr, 0);
  } else {
    std::string text(sql);
    raw = PQexecParams(m_native->connection, text.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0);
  }
  ResultGuard result{raw};
  if (!succeeded(result.result)) fail(head_of(sql), result.result);
  return Rows(result.release());
}

bool Connection::healthy() const { return PQstatus(m_native->connection) == CONNECTION_OK; }

int Connection::backend_pid() const { return PQbackendPID(m_native->connection); }

bool Connection::in_transaction() const {
  auto status = PQtransactionStatus(m_native->connection);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

bool Connection::transaction_failed() const {
  return PQtransactionStatus(m_native->connection) == PQTRANS_INERROR;
}

void Connection::listen(std::string_view channel) {
  char* quoted = PQescapeIdentifier(m_native->connection, channel.data(), channel.size());
  if (quoted == nullptr) fail("LISTEN", nullptr);
  std::string sql = std::string("LISTEN ") + quoted;
  PQfreemem(quoted);
  exec(sql);
}

std::optional<Notification> Connection::wait_for_notification(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (PQconsumeInput(m_native->connection) == 0) fail("waiting for a notification", nullptr);
    if (PGnotify* notify = PQnotifies(m_native->connection)) {
      Notification notification{notify->relname, notify->extra != nullptr ? notify->extra : "", notify->be_pid};
      PQfreemem(notify);
      return notification;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd descriptor{PQsocket(m_native->connection), POLLIN, 0};
    if (descriptor.fd < 0) fail("waiting for a notification", nullptr);
    int ready = ::poll(&descriptor, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      throw Error(Fault::unavailable, "connection", std::string("poll failed: ") + std::strerror(errno));
    }
  }
}

std::optional<std::string> Connection::check_url(std::string_view url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return "a PostgreSQL URL starts with postgresql:// or postgres://";
  }
  std::string text(url);
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? without(tidy(error), password_in(text)) : "not a connection URL";
    if (error != nullptr) PQfreemem(error);
    return message;
  }
  // libpq checks the port only when it connects; a typo there would then
  // look like an unreachable server and be waited for.
  std::optional<std::string> problem;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || std::strcmp(option->keyword, "port") != 0) continue;
    std::string_view ports(option->val);
    while (!problem) {
      auto comma = ports.find(',');
      std::string_view port = ports.substr(0, comma);
      int value = 0;
      auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (!port.empty() && (error != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)) {
        problem = "port '" + std::string(port) + "' is not a number from 1 to 65535";
      }
      if (comma == std::string_view::npos) break;
      ports.remove_prefix(comma + 1);
    }
  }
  PQconninfoFree(options);
  return problem;
}

std::string Connection::redact(std::string_view url) {
  std::string text(url);
  // user:password@ in the authority
  auto scheme_end = text.find("://");
  if (scheme_end != std::string::npos) {
    auto authority = scheme_end + 3;
    auto authority_end = text.find_first_of("/?#", authority);
    if (authority_end == std::string::npos) authority_end = text.size();
    auto at = text.rfind('@', authority_end);
    if (at != std::string::npos && at >= authority) {
      auto colon = text.find(':', authority);
      if (colon != std::string::npos && colon < at) text.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... among the query parameters
  for (auto at = text.find("password=", 0); at != std::string::npos; at = text.find("password=", at + 1)) {
    bool starts_parameter = at > 0 && (text[at - 1] == '?' || text[at - 1] == '&');
    if (!starts_parameter) continue;
    auto value = at + std::strlen("password=");
    auto end = text.find('&', value);
    if (end == std::string::npos) end = text.size();
    text.replace(value, end - value, "***");
  }
  return text;
}

// ---- Transaction -----------------------------------------------------------------

Transaction::Transaction(Connection& connection, std::string_view begin) : m_connection(connection) {
  // A session the server ended (a restart, a terminated backend) is opened
  // again here, where nothing is in flight: a long-lived connection (a
  // worker thread's) outlives server restarts by itself.
  if (!m_connection.healthy()) m_connection.reconnect();
  m_connection.exec(begin);
  m_open = true;
  ++m_connection.m_open_transactions;
}

void Transaction::close_scope() {
  if (!m_open) return;
  m_open = false;
  --m_connection.m_open_transactions;
}

Transaction::~Transaction() {
  close_scope();
  if (m_done || !m_connection.healthy()) return;
  try {
    m_connection.exec("ROLLBACK");
  } catch (...) {
    // The session is going anyway; the pool drops a connection that is not healthy.
  }
}

void Transaction::commit() {
  // COMMIT of a transaction a statement already failed in would answer
  // ROLLBACK without an error: the caller must hear that nothing was kept.
  if (m_connection.transaction_failed()) {
    throw Error(Fault::other, "other", "commit of a PostgreSQL transaction in which a statement failed");
  }
  m_done = true;
  close_scope();
  m_connection.exec("COMMIT");
}

}  // namespace pw::db::postgres
