#include "db/postgres/error.hpp"

namespace pw::db::postgres {

namespace {

bool in_class(std::string_view sqlstate, std::string_view cls) { return sqlstate.substr(0, 2) == cls; }

}  // namespace

Classified classify_sqlstate(std::string_view sqlstate) {
  if (sqlstate.empty() || in_class(sqlstate, "08")) return {Fault::unavailable, "connection"};
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return {Fault::busy, "busy"};
  // admin_shutdown, crash_shutdown, cannot_connect_now (starting up or in recovery)
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") return {Fault::unavailable, "connection"};
  // 53100 disk_full; the rest of class 53: too many connections, out of memory
  if (sqlstate == "53100") return {Fault::unavailable, "full"};
  if (in_class(sqlstate, "53")) return {Fault::unavailable, "overloaded"};
  if (sqlstate == "25006") return {Fault::unavailable, "readonly"};
  // query_canceled: statement_timeout, or an operator's pg_cancel_backend
  if (sqlstate == "57014") return {Fault::unavailable, "busy"};
  if (in_class(sqlstate, "58")) return {Fault::unavailable, "io"};
  if (in_class(sqlstate, "23")) return {Fault::constraint, "other"};
  return {Fault::other, "other"};
}

}  // namespace pw::db::postgres
