// PostgreSQL's side of the one database error policy (db/error.hpp): a
// SQLSTATE decides the kind of fault, never the message text.
//
//   busy         40001 serialization failure, 40P01 deadlock, 55P03 lock not
//                available: the transaction lost a race; run it again
//   unavailable  class 08 (connection), 57P01-57P03 (shutdown, restart, not
//                accepting yet), 53 (out of connections, memory, disk), 25006
//                (read-only: a standby, or a primary that stepped down),
//                57014 (statement_timeout), 58 (I/O): 503 with Retry-After
//   constraint   class 23 (unique, foreign key, check, not null)
//   other        everything else (42601 syntax, 42P01 missing table, 22
//                data exceptions...): a bug here, 500
#pragma once

#include <string_view>

#include "db/error.hpp"

namespace pw::db::postgres {

struct Classified {
  Fault fault;
  // One of observability::Metrics::kUnavailableReasons (a literal).
  const char* reason;
};

// An empty SQLSTATE (libpq reports none when the connection itself failed)
// counts as a lost connection.
Classified classify_sqlstate(std::string_view sqlstate);

}  // namespace pw::db::postgres
