#include "db/postgres/rows.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>

#include "db/error.hpp"

namespace pw::db::postgres {

void Rows::Free::operator()(pg_result* result) const { PQclear(result); }

Rows::Rows(pg_result* result) : m_result(result) {}

int Rows::size() const { return m_result ? PQntuples(m_result.get()) : 0; }

std::int64_t Rows::affected() const {
  if (!m_result) return 0;
  const char* tuples = PQcmdTuples(m_result.get());
  std::int64_t count = 0;
  std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), count);
  return count;
}

namespace {

[[noreturn]] void unreadable(std::string_view what, int row, int column) {
  throw Error(Fault::other, "other",
              "PostgreSQL: row " + std::to_string(row) + " column " + std::to_string(column) + " is not " +
                  std::string(what));
}

}  // namespace

bool Rows::is_null(int row, int column) const {
  if (!m_result || row < 0 || row >= size() || column < 0 || column >= PQnfields(m_result.get())) {
    unreadable("there", row, column);
  }
  return PQgetisnull(m_result.get(), row, column) != 0;
}

std::string_view Rows::view(int row, int column) const {
  if (is_null(row, column)) unreadable("set (it is NULL)", row, column);
  return {PQgetvalue(m_result.get(), row, column),
          static_cast<std::size_t>(PQgetlength(m_result.get(), row, column))};
}

std::int64_t Rows::int64(int row, int column) const {
  auto text = view(row, column);
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) unreadable("an integer", row, column);
  return value;
}

int Rows::int32(int row, int column) const {
  auto text = view(row, column);
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) unreadable("a 32-bit integer", row, column);
  return value;
}

double Rows::real(int row, int column) const {
  auto text = view(row, column);
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) unreadable("a number", row, column);
  return value;
}

bool Rows::boolean(int row, int column) const {
  auto text = view(row, column);
  if (text == "t") return true;
  if (text == "f") return false;
  unreadable("a boolean", row, column);
}

std::string Rows::text(int row, int column) const { return std::string(view(row, column)); }

std::optional<std::int64_t> Rows::optional_int64(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return int64(row, column);
}

std::optional<std::string> Rows::optional_text(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return text(row, column);
}

}  // namespace pw::db::postgres
