// The rows a PostgreSQL statement returned (libpq's result, owned). Rows
// and columns count from 0. Values arrive as text and are converted here;
// a value that does not convert is a db::Error (other): a bug in our SQL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct pg_result;

namespace pw::db::postgres {

class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);

  int size() const;
  bool empty() const { return size() == 0; }
  // Rows an INSERT, UPDATE or DELETE changed (without RETURNING, too).
  std::int64_t affected() const;

  bool is_null(int row, int column) const;
  std::int64_t int64(int row, int column) const;
  int int32(int row, int column) const;
  double real(int row, int column) const;
  // PostgreSQL's boolean text: t or f.
  bool boolean(int row, int column) const;
  std::string text(int row, int column) const;
  // The value without copying it: valid while this Rows lives.
  std::string_view view(int row, int column) const;
  std::optional<std::int64_t> optional_int64(int row, int column) const;
  std::optional<std::string> optional_text(int row, int column) const;

 private:
  struct Free {
    void operator()(pg_result* result) const;
  };
  std::unique_ptr<pg_result, Free> m_result;
};

}  // namespace pw::db::postgres
