#include "migrations/copy.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include "db/statement.hpp"
#include "migrations/migration.hpp"
#include "migrations/migrator.hpp"
#include "migrations/postgres_migrator.hpp"

namespace pw::migrations {

namespace {

constexpr const char* kMarker = "migrate_copy";

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

std::string joined(const std::vector<std::string>& names, const std::string& prefix = {}) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += prefix + quoted(names[i]);
  }
  return out;
}

// A column as the target declares it: whether its values are integers, and
// the array type its batch travels as.
struct TargetColumn {
  bool integer = false;
  std::string array_type;
};

// One table as both sides have it: the source's columns in order, the
// target's type of each, where the primary key sits among them.
struct Layout {
  const CopyTable* table = nullptr;
  std::vector<std::string> columns;
  std::vector<TargetColumn> target;
  std::vector<int> key_at;
};

using Key = std::vector<std::int64_t>;

Key key_of(const Layout& layout, const CopyRow& row) {
  Key key;
  for (int at : layout.key_at) key.push_back(std::get<std::int64_t>(row[at]));
  return key;
}

// `(k1, k2) > (?, ?)` in the dialect's placeholders, or nothing on the first page.
std::string after(const Layout& layout, bool postgres) {
  std::string left, right;
  for (std::size_t i = 0; i < layout.table->key.size(); ++i) {
    if (i > 0) {
      left += ", ";
      right += ", ";
    }
    left += quoted(layout.table->key[i]);
    right += postgres ? "$" + std::to_string(i + 1) : "?" + std::to_string(i + 1);
  }
  return layout.table->key.size() == 1 ? left + " > " + right : "(" + left + ") > (" + right + ")";
}

std::string page_sql(const Layout& layout, bool postgres, bool first_page, int limit) {
  std::string sql = "SELECT " + joined(layout.columns) + " FROM " + quoted(layout.table->name);
  if (!first_page) sql += " WHERE " + after(layout, postgres);
  sql += " ORDER BY " + joined(layout.table->key) + " LIMIT " + std::to_string(limit);
  return sql;
}

std::string describe(const Key& key) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) out += (i > 0 ? "," : "") + std::to_string(key[i]);
  return out;
}

// The next page of the source after `last` (everything from the start when
// nothing), leases cleared.
std::vector<CopyRow> source_page(db::Connection& source, const Layout& layout, const std::optional<Key>& last,
                                 int limit) {
  db::Statement select(source, page_sql(layout, false, !last, limit));
  if (last) {
    for (std::size_t i = 0; i < last->size(); ++i) select.bind(static_cast<int>(i) + 1, (*last)[i]);
  }
  std::vector<CopyRow> rows;
  while (select.step()) {
    CopyRow row(layout.columns.size());
    for (std::size_t c = 0; c < layout.columns.size(); ++c) {
      const int column = static_cast<int>(c);
      switch (select.type(column)) {
        case db::Statement::Type::null: break;
        case db::Statement::Type::integer: row[c] = select.int64(column); break;
        case db::Statement::Type::text: row[c] = select.text(column); break;
        default:
          throw std::runtime_error("source table " + layout.table->name + ", column " + layout.columns[c] +
                                   ": a value that is neither an integer nor text (after key " +
                                   (rows.empty() ? std::string("start") : describe(key_of(layout, rows.back()))) +
                                   ")");
      }
    }
    if (layout.table->name == "jobs") clear_lease(layout.columns, row);
    for (int at : layout.key_at) {
      if (!std::holds_alternative<std::int64_t>(row[at])) {
        throw std::runtime_error("source table " + layout.table->name + ": a primary key that is not an integer");
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<CopyRow> target_page(db::postgres::Connection& target, const Layout& layout,
                                 const std::optional<Key>& last, int limit) {
  db::postgres::Params params;
  if (last) {
    for (std::int64_t value : *last) params.add(value);
  }
  auto result = target.query(page_sql(layout, true, !last, limit), params);
  std::vector<CopyRow> rows;
  rows.reserve(result.size());
  for (int r = 0; r < result.size(); ++r) {
    CopyRow row(layout.columns.size());
    for (std::size_t c = 0; c < layout.columns.size(); ++c) {
      const int column = static_cast<int>(c);
      if (result.is_null(r, column)) continue;
      if (layout.target[c].integer) {
        row[c] = result.int64(r, column);
      } else {
        row[c] = result.text(r, column);
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// The integer and text types ours use; any other is refused up front.
std::optional<TargetColumn> target_column(const std::string& data_type) {
  if (data_type == "bigint") return TargetColumn{true, "bigint[]"};
  if (data_type == "integer") return TargetColumn{true, "integer[]"};
  if (data_type == "smallint") return TargetColumn{true, "smallint[]"};
  if (data_type == "text") return TargetColumn{false, "text[]"};
  return std::nullopt;
}

Layout layout_of(db::Connection& source, db::postgres::Connection& target, const CopyTable& table) {
  Layout layout;
  layout.table = &table;
  {
    db::Statement info(source, "SELECT name FROM pragma_table_info(?1) ORDER BY cid");
    info.bind(1, table.name);
    while (info.step()) layout.columns.push_back(info.text(0));
  }
  if (layout.columns.empty()) throw CopyRefused("the source has no table " + table.name);
  auto described = target.query(
      "SELECT column_name, data_type FROM information_schema.columns "
      "WHERE table_schema = current_schema() AND table_name = $1",
      db::postgres::Params().add(table.name));
  std::map<std::string, std::string> types;
  for (int r = 0; r < described.size(); ++r) types[described.text(r, 0)] = described.text(r, 1);
  if (types.size() != layout.columns.size()) {
    throw CopyRefused("table " + table.name + " has " + std::to_string(layout.columns.size()) +
                      " columns in the source but " + std::to_string(types.size()) +
                      " in the target: are both migrated by this binary?");
  }
  for (const auto& column : layout.columns) {
    auto found = types.find(column);
    if (found == types.end()) throw CopyRefused("the target's table " + table.name + " has no column " + column);
    auto type = target_column(found->second);
    if (!type) {
      throw CopyRefused("the target's column " + table.name + "." + column + " is " + found->second +
                        ", which copy does not carry");
    }
    layout.target.push_back(*type);
  }
  for (const auto& key : table.key) {
    auto at = std::find(layout.columns.begin(), layout.columns.end(), key);
    if (at == layout.columns.end()) throw CopyRefused("table " + table.name + " has no key column " + key);
    layout.key_at.push_back(static_cast<int>(at - layout.columns.begin()));
    if (!layout.target[layout.key_at.back()].integer) {
      throw CopyRefused("table " + table.name + ": key column " + key + " is not an integer");
    }
  }
  return layout;
}

void require_source_migrated(db::Connection& source) {
  if (!source.table_exists("schema_migrations")) {
    throw CopyRefused("the source is not a PersonaWorlds database (no schema_migrations table)");
  }
  std::vector<AppliedMigration> applied;
  db::Statement select(source, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version");
  while (select.step()) applied.push_back({select.int32(0), select.text(1), select.text(2), select.int64(3)});
  Status status = compare(std::move(applied), embedded(Dialect::sqlite));
  if (!status.problems.empty()) throw CopyRefused("the source's schema: " + status.problems.front());
  if (!status.pending.empty()) {
    throw CopyRefused("the source lacks migration " + status.pending.front().name +
                      ": run `personaworlds migrate --db PATH` on it first");
  }
  // Every table the migrations made must be one the copy knows, so a table
  // added later is never left behind unnoticed.
  std::set<std::string> known;
  for (const auto& table : copied_tables()) known.insert(table.name);
  db::Statement tables(source,
                       "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                       "AND name <> 'schema_migrations' ORDER BY name");
  while (tables.step()) {
    if (!known.contains(tables.text(0))) {
      throw CopyRefused("the source has a table copy does not know: " + tables.text(0));
    }
  }
}

// The SQLite AUTOINCREMENT counters: ids handed out before, rows pruned since
// included, so the target never hands one out again.
std::map<std::string, std::int64_t> source_sequences(db::Connection& source) {
  std::map<std::string, std::int64_t> sequences;
  if (!source.table_exists("sqlite_sequence")) return sequences;
  db::Statement select(source, "SELECT name, seq FROM sqlite_sequence");
  while (select.step()) sequences[select.text(0)] = select.int64(1);
  return sequences;
}

// BEGIN ... ROLLBACK: one snapshot of the source for the whole run.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(db::Connection& connection) : m_connection(connection) {
    m_connection.exec("BEGIN");
    // A deferred transaction takes its snapshot at the first read: now.
    m_connection.exec("SELECT count(*) FROM sqlite_master");
  }
  ~ReadSnapshot() {
    try {
      m_connection.exec("ROLLBACK");
    } catch (...) {
    }
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  db::Connection& m_connection;
};

class Progress {
 public:
  explicit Progress(const CopyOptions& options) : m_options(options) {}
  void report(const std::string& table, std::int64_t done, std::int64_t total, bool final) {
    if (m_options.progress == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - m_last < std::chrono::milliseconds(m_options.progress_interval_ms)) return;
    m_last = now;
    std::string line = progress_line(table, done, total);
    if (line == m_line) return;  // an empty table's start is also its end
    *m_options.progress << line << std::endl;
    m_line = std::move(line);
  }

 private:
  const CopyOptions& m_options;
  std::string m_line;
  std::chrono::steady_clock::time_point m_last{};
};

struct Marker {
  std::string source;
  bool from_empty = false;
};

std::optional<Marker> read_marker(db::postgres::Connection& target) {
  auto exists = target.query("SELECT to_regclass($1) IS NOT NULL", db::postgres::Params().add(kMarker));
  if (!exists.boolean(0, 0)) return std::nullopt;
  auto row = target.query(std::string("SELECT source, from_empty FROM ") + kMarker + " LIMIT 1");
  if (row.empty()) return std::nullopt;
  return Marker{row.text(0, 0), row.boolean(0, 1)};
}

std::int64_t count_rows(db::postgres::Connection& target, const std::string& table) {
  return target.query("SELECT count(*) FROM " + quoted(table)).int64(0, 0);
}

std::int64_t count_rows(db::Connection& source, const std::string& table) {
  db::Statement count(source, "SELECT count(*) FROM " + quoted(table));
  count.step();
  return count.int64(0);
}

// Decides whether the copy may start, and leaves the marker behind: all in
// one transaction, under the run's advisory lock.
bool start_or_resume(db::postgres::Connection& target, const std::vector<Layout>& layouts,
                     const CopyOptions& options) {
  db::postgres::Transaction transaction(target);
  std::optional<Marker> marker = read_marker(target);
  std::string holding;
  for (const auto& layout : layouts) {
    if (!target.query("SELECT 1 FROM " + quoted(layout.table->name) + " LIMIT 1").empty()) {
      holding = layout.table->name;
      break;
    }
  }
  const bool ours = marker && marker->source == options.source_name;
  if (marker && !ours && !options.allow_non_empty) {
    throw CopyRefused("the target holds an unfinished copy of another source (" + marker->source +
                      "); give that source, or --allow-non-empty to copy into it anyway");
  }
  if (!holding.empty() && !ours && !options.allow_non_empty) {
    throw CopyRefused("the target is not empty (table " + holding +
                      " has rows); copy into a freshly migrated database, or give --allow-non-empty");
  }
  const bool resume = ours && marker->from_empty;
  if (!marker || !ours) {
    target.exec(std::string("CREATE TABLE IF NOT EXISTS ") + kMarker +
                " (source text NOT NULL, from_empty boolean NOT NULL, started_at timestamptz NOT NULL DEFAULT now())");
    target.exec(std::string("DELETE FROM ") + kMarker);
    target.query(std::string("INSERT INTO ") + kMarker + " (source, from_empty) VALUES ($1, $2)",
                 db::postgres::Params().add(options.source_name).add(holding.empty()));
  }
  transaction.commit();
  return resume;
}

std::int64_t copy_table(db::Connection& source, db::postgres::Connection& target, const Layout& layout,
                        bool resume, const CopyOptions& options, Progress& progress, TableReport& report) {
  const std::string& name = layout.table->name;
  report.source_rows = count_rows(source, name);
  std::optional<Key> last;
  std::int64_t done = 0;
  if (resume) {
    // What an interrupted run committed is a prefix in key order: go on after it.
    auto tail = target.query("SELECT " + joined(layout.table->key) + " FROM " + quoted(name) + " ORDER BY " +
                             [&] {
                               std::string order;
                               for (std::size_t i = 0; i < layout.table->key.size(); ++i) {
                                 order += (i > 0 ? ", " : "") + quoted(layout.table->key[i]) + " DESC";
                               }
                               return order;
                             }() +
                             " LIMIT 1");
    if (!tail.empty()) {
      Key key;
      for (std::size_t i = 0; i < layout.table->key.size(); ++i) key.push_back(tail.int64(0, static_cast<int>(i)));
      last = key;
      done = count_rows(target, name);
    }
  }
  std::string insert = "INSERT INTO " + quoted(name) + " (" + joined(layout.columns) + ") SELECT * FROM unnest(";
  for (std::size_t c = 0; c < layout.columns.size(); ++c) {
    insert += (c > 0 ? ", $" : "$") + std::to_string(c + 1) + "::" + layout.target[c].array_type;
  }
  insert += ") ON CONFLICT DO NOTHING";
  progress.report(name, done, report.source_rows, true);
  for (;;) {
    auto rows = source_page(source, layout, last, options.batch_size);
    if (rows.empty()) break;
    db::postgres::Params params;
    std::vector<std::optional<std::string>> values(rows.size());
    for (std::size_t c = 0; c < layout.columns.size(); ++c) {
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const CopyValue& value = rows[r][c];
        if (std::holds_alternative<std::monostate>(value)) {
          values[r].reset();
        } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
          values[r] = std::to_string(*integer);
        } else {
          values[r] = std::get<std::string>(value);
        }
      }
      params.add_array(values);
    }
    db::postgres::Transaction transaction(target);
    const std::int64_t inserted = target.query(insert, params).affected();
    transaction.commit();
    report.copied_rows += inserted;
    done += static_cast<std::int64_t>(rows.size());
    last = key_of(layout, rows.back());
    progress.report(name, std::min(done, report.source_rows), report.source_rows, false);
    if (options.after_batch) options.after_batch(name, done);
    if (static_cast<int>(rows.size()) < options.batch_size) break;
  }
  progress.report(name, std::min(done, report.source_rows), report.source_rows, true);
  return done;
}

void advance_sequences(db::postgres::Connection& target, const std::vector<Layout>& layouts,
                       const std::map<std::string, std::int64_t>& counters, CopyReport& report) {
  for (const auto& layout : layouts) {
    if (layout.table->key.size() != 1) continue;
    const std::string& name = layout.table->name;
    const std::string& column = layout.table->key.front();
    auto sequence = target.query("SELECT pg_get_serial_sequence($1, $2)",
                                 db::postgres::Params().add(quoted(name)).add(column));
    if (sequence.is_null(0, 0)) continue;
    auto counter = counters.find(name);
    const std::int64_t handed_out = counter == counters.end() ? 0 : counter->second;
    // Never lower it: the largest of the source's counter, the ids now in
    // the table and what the sequence already handed out.
    auto value = target.query("SELECT GREATEST($2::bigint, COALESCE((SELECT max(" + quoted(column) + ") FROM " +
                                  quoted(name) + "), 0), COALESCE(pg_sequence_last_value($1::regclass), 0))",
                              db::postgres::Params().add(sequence.text(0, 0)).add(handed_out))
                     .int64(0, 0);
    if (value < 1) continue;
    target.query("SELECT setval($1::regclass, $2, true)", db::postgres::Params().add(sequence.text(0, 0)).add(value));
    report.sequences.push_back({sequence.text(0, 0), value});
  }
}

void verify(db::Connection& source, db::postgres::Connection& target, const Layout& layout,
            const CopyOptions& options, TableReport& report) {
  TableDigest from, to;
  std::optional<Key> last;
  for (;;) {
    auto rows = source_page(source, layout, last, options.batch_size);
    for (const auto& row : rows) from.add(row);
    if (static_cast<int>(rows.size()) < options.batch_size) break;
    last = key_of(layout, rows.back());
  }
  last.reset();
  for (;;) {
    auto rows = target_page(target, layout, last, options.batch_size);
    for (const auto& row : rows) to.add(row);
    if (static_cast<int>(rows.size()) < options.batch_size) break;
    last = key_of(layout, rows.back());
  }
  report.source_rows = from.rows();
  report.target_rows = to.rows();
  report.source_checksum = from.hex();
  report.target_checksum = to.hex();
}

}  // namespace

void render_row(const CopyRow& row, std::string& out) {
  for (const CopyValue& value : row) {
    if (std::holds_alternative<std::monostate>(value)) {
      out += "N;";
    } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
      out += 'I';
      out += std::to_string(*integer);
      out += ';';
    } else {
      const auto& text = std::get<std::string>(value);
      out += 'T';
      out += std::to_string(text.size());
      out += ':';
      out += text;
      out += ';';
    }
  }
  out += '\n';
}

void TableDigest::add(const CopyRow& row) {
  m_buffer.clear();
  render_row(row, m_buffer);
  m_sha.update(m_buffer);
  ++m_rows;
}

const std::vector<CopyTable>& copied_tables() {
  static const std::vector<CopyTable> tables{
      {"users", {"id"}},
      {"tokens", {"id"}},
      {"admin_tokens", {"id"}},
      {"worlds", {"id"}},
      {"schedules", {"id"}},
      {"personas", {"id"}},
      {"persona_generations", {"world_id", "number"}},
      {"simulations", {"id"}},
      {"events", {"id"}},
      {"idempotency_keys", {"id"}},
      {"jobs", {"id"}},
      {"job_type_controls", {"id"}},
  };
  return tables;
}

void clear_lease(const std::vector<std::string>& columns, CopyRow& row) {
  auto at = [&](const char* name) -> CopyValue* {
    auto found = std::find(columns.begin(), columns.end(), name);
    return found == columns.end() ? nullptr : &row[found - columns.begin()];
  };
  CopyValue* state = at("state");
  if (state == nullptr) return;
  const auto* text = std::get_if<std::string>(state);
  if (text == nullptr || *text != "running") return;
  *state = std::string("queued");
  if (auto* owner = at("lease_owner")) *owner = std::monostate{};
  if (auto* expiry = at("lease_expires_at")) *expiry = std::monostate{};
}

std::string progress_line(const std::string& table, std::int64_t done, std::int64_t total) {
  const std::int64_t percent = total > 0 ? done * 100 / total : 100;
  return "copy: " + table + " " + std::to_string(done) + "/" + std::to_string(total) + " (" +
         std::to_string(percent) + "%)";
}

bool CopyReport::ok() const {
  return std::all_of(tables.begin(), tables.end(), [](const TableReport& table) { return table.matches(); });
}

CopyReport copy_database(db::Connection& source, db::postgres::Connection& target, const CopyOptions& options) {
  if (options.batch_size < 1) throw std::invalid_argument("batch size must be at least 1");
  auto locked = target.query("SELECT pg_try_advisory_lock($1)", db::postgres::Params().add(kCopyLockKey));
  if (!locked.boolean(0, 0)) throw CopyRefused("another migrate copy is running into this database");
  struct Unlock {
    db::postgres::Connection& target;
    ~Unlock() {
      try {
        target.query("SELECT pg_advisory_unlock($1)", db::postgres::Params().add(kCopyLockKey));
      } catch (...) {
      }
    }
  } unlock{target};

  PostgresMigrator(target, embedded(Dialect::postgres)).require_up_to_date();
  ReadSnapshot snapshot(source);
  require_source_migrated(source);
  std::vector<Layout> layouts;
  for (const auto& table : copied_tables()) layouts.push_back(layout_of(source, target, table));

  CopyReport report;
  report.resumed = start_or_resume(target, layouts, options);
  if (options.progress != nullptr) {
    *options.progress << "copy: " << (report.resumed ? "resuming the copy of " : "copying ") << options.source_name
                      << " into " << options.target_name << std::endl;
  }
  Progress progress(options);
  for (const auto& layout : layouts) {
    TableReport table;
    table.table = layout.table->name;
    copy_table(source, target, layout, report.resumed, options, progress, table);
    report.tables.push_back(std::move(table));
  }
  advance_sequences(target, layouts, source_sequences(source), report);
  for (std::size_t i = 0; i < layouts.size(); ++i) {
    // Reading every row twice takes a while on a large table: say so.
    if (options.progress != nullptr) *options.progress << "copy: verifying " << layouts[i].table->name << std::endl;
    verify(source, target, layouts[i], options, report.tables[i]);
  }
  if (report.ok()) target.exec(std::string("DROP TABLE IF EXISTS ") + kMarker);
  return report;
}

void check_target_before_migrating(db::postgres::Connection& target, bool allow_non_empty) {
  if (allow_non_empty) return;
  auto found = target.query(
      "SELECT to_regclass('schema_migrations') IS NOT NULL, "
      "(SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema())");
  if (!found.boolean(0, 0) && found.int64(0, 1) > 0) {
    throw CopyRefused("the target holds " + std::to_string(found.int64(0, 1)) +
                      " tables but no PersonaWorlds schema: is it the right database? (--allow-non-empty to use it)");
  }
}

void print_report(const CopyReport& report, std::ostream& out) {
  out << std::left << std::setw(20) << "table" << std::right << std::setw(10) << "source" << std::setw(10)
      << "target" << std::setw(10) << "copied" << "  " << std::left << std::setw(18) << "checksum" << "result\n";
  std::int64_t rows = 0;
  std::vector<std::string> mismatched;
  for (const auto& table : report.tables) {
    rows += table.source_rows;
    out << std::left << std::setw(20) << table.table << std::right << std::setw(10) << table.source_rows
        << std::setw(10) << table.target_rows << std::setw(10) << table.copied_rows << "  " << std::left
        << std::setw(18) << table.source_checksum.substr(0, 16) << (table.matches() ? "ok" : "MISMATCH") << "\n";
    if (!table.matches()) {
      out << "  target checksum " << table.target_checksum << "\n  source checksum " << table.source_checksum << "\n";
      mismatched.push_back(table.table);
    }
  }
  out << std::right;
  for (const auto& sequence : report.sequences) {
    out << "sequence " << sequence.sequence << " at " << sequence.value << "\n";
  }
  if (mismatched.empty()) {
    out << "copy verified: " << report.tables.size() << " tables, " << rows
        << " rows, every count and checksum matches" << (report.resumed ? " (resumed)" : "") << "\n";
  } else {
    std::string list;
    for (const auto& name : mismatched) list += (list.empty() ? "" : ", ") + name;
    out << "copy NOT verified: " << list << " differ\n";
  }
}

}  // namespace pw::migrations
