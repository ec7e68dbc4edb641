// `personaworlds migrate copy`: every row of an SQLite database into a
// migrated PostgreSQL one, in batches, then verified table by table.
//
// How it stays safe:
// - The source is opened read-only and read in one snapshot (one read
//   transaction), so a copy and its verification see the same rows.
// - Each batch is its own PostgreSQL transaction, inserted with ON CONFLICT
//   DO NOTHING: a batch is in the target whole or not at all, and sending
//   rows again never duplicates them.
// - A marker table (`migrate_copy`) in the target names the source while a
//   copy is under way. A run that finds its own source's marker resumes
//   after the rows already there (each table is copied in primary key order,
//   so what is there is a prefix); any other non-empty target is refused
//   unless allow_non_empty. The marker is dropped once every table verifies.
// - Jobs arrive with their leases cleared: a job that was running is queued
//   again (lease owner and expiry NULL, attempts kept: the interrupted
//   attempt counts, as a lapsed lease does).
//
// Verification renders each row the same way from either database (render_row)
// and hashes the rows in primary key order (TableDigest): equal counts and
// equal digests mean equal tables.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "crypto/digest.hpp"
#include "db/connection.hpp"
#include "db/postgres/connection.hpp"

namespace pw::migrations {

// A value as both databases hold ours: NULL, an integer or text.
using CopyValue = std::variant<std::monostate, std::int64_t, std::string>;
using CopyRow = std::vector<CopyValue>;

// Appends the canonical text of a row: per value `N;` (NULL), `I<decimal>;`
// or `T<byte length>:<bytes>;`, so no two different rows render alike.
void render_row(const CopyRow& row, std::string& out);

// Count and SHA-256 of the rendered rows, fed in primary key order.
class TableDigest {
 public:
  void add(const CopyRow& row);
  std::int64_t rows() const { return m_rows; }
  // Lowercase hex; call once, at the end.
  std::string hex() { return m_sha.hex(); }

 private:
  crypto::Sha256 m_sha;
  std::string m_buffer;
  std::int64_t m_rows = 0;
};

// A table the copy carries, in an order that satisfies the foreign keys
// (parents first), with its primary key.
struct CopyTable {
  std::string name;
  std::vector<std::string> key;
};
const std::vector<CopyTable>& copied_tables();

// What a row becomes on its way over: for `jobs`, a running job is queued
// again with no lease (attempts kept). `columns` names the row's values.
void clear_lease(const std::vector<std::string>& columns, CopyRow& row);

// "copy: events 120000/450000 (26%)"
std::string progress_line(const std::string& table, std::int64_t done, std::int64_t total);

// A refusal before anything was written (non-empty target, unmigrated
// source, another copy running): exit code 2.
class CopyRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CopyOptions {
  // Rows per SELECT and per PostgreSQL transaction.
  int batch_size = 1000;
  // Copy into a target that already holds rows (kept; a row whose key is
  // taken is not copied, and verification then reports the table).
  bool allow_non_empty = false;
  // Names the source in the target's marker (its absolute path).
  std::string source_name;
  // The target as a progress line may show it (password masked).
  std::string target_name;
  // Progress lines go here at most this often (and at the end of each table).
  std::ostream* progress = nullptr;
  int progress_interval_ms = 1000;
  // Called after each committed batch (tests stop a copy midway with it).
  std::function<void(const std::string& table, std::int64_t done)> after_batch;
};

struct TableReport {
  std::string table;
  std::int64_t source_rows = 0;
  std::int64_t copied_rows = 0;  // inserted by this run
  std::int64_t target_rows = 0;
  std::string source_checksum;
  std::string target_checksum;
  bool matches() const { return source_rows == target_rows && source_checksum == target_checksum; }
};

struct SequenceReport {
  std::string sequence;
  std::int64_t value = 0;  // the last value handed out; the next is value + 1
};

struct CopyReport {
  bool resumed = false;  // found this source's marker and carried on
  std::vector<TableReport> tables;
  std::vector<SequenceReport> sequences;
  bool ok() const;
};

// Copies every table of `source` (an SQLite database with every migration
// of this binary applied) into `target` (PostgreSQL, migrated likewise),
// advances the target's sequences past the copied ids, and verifies.
// Throws CopyRefused before writing anything when it must not start, and
// db::Error on a database failure midway (run it again to carry on).
CopyReport copy_database(db::Connection& source, db::postgres::Connection& target, const CopyOptions& options);

// Before the target is migrated: refuses (CopyRefused) a database that
// holds tables but no PersonaWorlds schema (another application's, by
// mistake), unless allow_non_empty.
void check_target_before_migrating(db::postgres::Connection& target, bool allow_non_empty);

// The summary: one line per table (counts, checksums, ok or MISMATCH).
void print_report(const CopyReport& report, std::ostream& out);

// The advisory lock a copy holds on the target for its whole run.
inline constexpr std::int64_t kCopyLockKey = 0x7077636f7079;  // "pwcopy"

}  // namespace pw::migrations
