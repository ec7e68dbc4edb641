// The one database error policy. Every error the database layer raises is a
// db::Error that says what kind of fault it is, so callers decide by kind,
// never by matching message text:
//
//   busy         another writer held the lock past the busy timeout (after
//                WriteTransaction's own retries): try again later
//   unavailable  the database cannot serve: read-only, disk full, I/O error,
//                missing, corrupt or locked-out file. The API answers 503
//                with Retry-After; the worker pauses and tries again
//   constraint   a UNIQUE, CHECK, FOREIGN KEY or NOT NULL rule refused the
//                write: the caller turns it into its own 409 or 422
//   other        anything else, including SQLITE_ERROR (a SQL bug, a missing
//                table): an internal error, 500, logged at error
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pw::db {

enum class Fault { busy, unavailable, constraint, other };

// The kind of fault an SQLite result code (primary or extended) stands for.
Fault classify(int result_code);

class Error : public std::runtime_error {
 public:
  // An SQLite failure, classified by its result code.
  Error(int result_code, std::string message)
      : std::runtime_error(std::move(message)), m_code(result_code), m_fault(classify(result_code)) {}
  // A failure a driver classified itself (PostgreSQL: by SQLSTATE), with the
  // bounded reason unavailable_reason() reports (a string literal, one of
  // observability::Metrics::kUnavailableReasons).
  Error(Fault fault, const char* reason, std::string message)
      : std::runtime_error(std::move(message)), m_code(0), m_fault(fault), m_reason(reason) {}
  // The extended SQLite result code (SQLITE_IOERR_WRITE, SQLITE_CONSTRAINT_UNIQUE, ...);
  // 0 for another driver's error.
  int code() const { return m_code; }
  Fault fault() const { return m_fault; }
  // The driver's own reason, or nullptr (then it follows from code()).
  const char* reason() const { return m_reason; }

 private:
  int m_code;
  Fault m_fault;
  const char* m_reason = nullptr;
};

// The fault `error` reports, or nothing when it is not a database error.
std::optional<Fault> fault_of(const std::exception& error);

// Busy past every retry, or unavailable: the database cannot take this
// request now, and a retry shortly may well succeed (HTTP 503).
bool is_unavailable(const std::exception& error);

// For an error is_unavailable accepts: a bounded cause for metrics and log
// lines, one of observability::Metrics::kUnavailableReasons.
std::string_view unavailable_reason(const std::exception& error);

}  // namespace pw::db
