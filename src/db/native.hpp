// Inside src/db/ only: turns SQLite's and SQLiteCpp's failures into db::Error.
// No header outside this folder includes this one.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <utility>

#include "db/connection.hpp"
#include "db/error.hpp"

namespace pw::db {

// Once per process, before SQLite's first use: no memory statistics. With
// them on (Debian's default), every allocation and free inside SQLite takes
// one process-wide mutex, and the threads of a process (a worker's claimer,
// completer and handlers, the API's request threads) each allocate on every
// statement. Nothing here reads those statistics.
inline void configure_sqlite_once() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize() == SQLITE_OK;
  }();
  (void)configured;
}

struct Connection::Native {
  explicit Native(const config::DatabaseConfig& config)
      : configured((configure_sqlite_once(), true)),
        db(config.path,
           config.read_only ? SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX
                            : SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX |
                                  (config.create_if_missing ? SQLite::OPEN_CREATE : 0),
           config.busy_timeout_ms) {}
  bool configured;
  SQLite::Database db;
};

}  // namespace pw::db

namespace pw::db::native {

[[noreturn]] inline void raise(sqlite3* handle, int result_code) {
  int code = handle != nullptr ? sqlite3_extended_errcode(handle) : result_code;
  // The handle's last error may belong to another call when `result_code`
  // came from somewhere else (a checkpoint, say): trust the code we were given.
  if ((code & 0xff) != (result_code & 0xff)) code = result_code;
  throw Error(code, handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(result_code));
}

// Runs `work`, rethrowing an SQLiteCpp exception as the db::Error it stands for.
template <class Work>
decltype(auto) translate(Work&& work) {
  try {
    return std::forward<Work>(work)();
  } catch (const SQLite::Exception& e) {
    int code = e.getExtendedErrorCode();
    if (code <= 0) code = e.getErrorCode();
    throw Error(code, e.what());
  }
}

}  // namespace pw::db::native
