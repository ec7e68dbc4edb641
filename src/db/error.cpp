#include "db/error.hpp"

#include <sqlite3.h>

namespace pw::db {

Fault classify(int result_code) {
  switch (result_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Fault::busy;
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_NOLFS:
    case SQLITE_INTERRUPT:
    // The schema changed under a prepared statement (another process ran a
    // migration): the next attempt prepares it again.
    case SQLITE_SCHEMA:
      return Fault::unavailable;
    case SQLITE_CONSTRAINT:
      return Fault::constraint;
    default:
      // SQLITE_ERROR (bad SQL, missing table or column), MISUSE, RANGE,
      // MISMATCH, TOOBIG: a bug here, not an outage there.
      return Fault::other;
  }
}

std::optional<Fault> fault_of(const std::exception& error) {
  if (const auto* db = dynamic_cast<const Error*>(&error)) return db->fault();
  return std::nullopt;
}

bool is_unavailable(const std::exception& error) {
  auto fault = fault_of(error);
  return fault == Fault::busy || fault == Fault::unavailable;
}

std::string_view unavailable_reason(const std::exception& error) {
  const auto* db = dynamic_cast<const Error*>(&error);
  if (db == nullptr) return "other";
  if (db->reason() != nullptr) return db->reason();
  switch (db->code() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "busy";
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return "readonly";
    case SQLITE_FULL:
      return "full";
    case SQLITE_IOERR:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
      return "io";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "corrupt";
    case SQLITE_CANTOPEN:
      return "missing";
    case SQLITE_SCHEMA:
      return "schema";
    default:
      return "other";
  }
}

}  // namespace pw::db
