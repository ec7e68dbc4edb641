// One prepared SQL statement on one Connection: bind, step, read the row.
// Parameters and columns count as SQLite counts them: parameters from 1
// (?1, ?2, ...), columns from 0. Every failure is a db::Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/connection.hpp"

struct sqlite3_stmt;

namespace pw::db {

// Statements are reused: the connection keeps each one prepared after it
// ends (reset and unbound) and hands it to the next Statement with the same
// SQL text, so constructing one is a lookup, not a parse.
class Statement {
 public:
  Statement(Connection& connection, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value);
  // Copies the text: a temporary may be passed.
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  // Binds the text without copying it: it must stay alive and unchanged
  // until reset() or the end of the statement (for large hot values, such as
  // job payloads).
  Statement& bind_unowned(int index, std::string_view text);
  Statement& bind_unowned(int index, const std::string& text) { return bind_unowned(index, std::string_view(text)); }
  Statement& bind_unowned(int index, const char* text) { return bind_unowned(index, std::string_view(text)); }
  Statement& bind_unowned(int index, std::string&& text) = delete;
  Statement& bind_null(int index);
  // NULL when empty.
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  // Runs to the next row: true when one is ready to read, false when done.
  bool step();
  // Runs to the end (for INSERT, UPDATE, DELETE): the rows it changed.
  int exec();
  // Ready to run again; the bindings stay until bound anew or cleared.
  void reset();
  // Unbinds every parameter (NULL), so no binding outlives its text.
  void clear_bindings();

  // The current row (after step() returned true).
  // What a value is stored as (SQLite's storage class, per value).
  enum class Type { integer, real, text, blob, null };
  Type type(int column) const;
  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  int int32(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;
  std::optional<std::string> optional_text(int column) const;

 private:
  Connection& m_connection;
  sqlite3_stmt* m_statement = nullptr;
  bool m_cached = false;  // given back to the connection's cache at the end
};

// Resets a long-lived (cached) statement when the scope ends, so it never
// holds a read snapshot open (which would pin the WAL and block checkpoints)
// and no binding outlives the text it points to.
class InUse {
 public:
  explicit InUse(Statement& statement) : m_statement(statement) {}
  ~InUse() {
    m_statement.reset();
    m_statement.clear_bindings();
  }
  InUse(const InUse&) = delete;
  InUse& operator=(const InUse&) = delete;
  Statement* operator->() { return &m_statement; }
  Statement& operator*() { return m_statement; }

 private:
  Statement& m_statement;
};

}  // namespace pw::db
