#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "db/connection.hpp"
#include "db/statement.hpp"
#include "support/temp_dir.hpp"
#include "worker/housekeeping.hpp"

namespace {

// Commits `bytes` of blobs on `writer`, in 1 MiB rows.
void write_bytes(pw::db::Connection& writer, std::int64_t bytes) {
  pw::db::Statement insert(writer, "INSERT INTO filler (data) VALUES (zeroblob(1048576))");
  for (std::int64_t written = 0; written < bytes; written += 1 << 20) {
    insert.exec();
    insert.reset();
  }
}

}  // namespace

TEST_CASE("WalCheckpoints: copies the WAL back each round and empties it past 64 MiB, whatever the page size") {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config;
  config.path = dir.file("w.db");
  pw::db::Connection writer(config);
  writer.set_autocheckpoint(0);  // as the worker's other threads run
  writer.exec("CREATE TABLE filler (data BLOB)");
  REQUIRE(writer.page_size() == pw::db::kPageSize);
  pw::worker::WalCheckpoints checkpoints(std::make_unique<pw::db::Connection>(config));
  const std::string wal = config.path + "-wal";

  // 32 MiB is 32768 frames of 1 KiB: past a threshold counted as 16384
  // frames (64 MiB of 4 KiB pages) but short of 64 MiB.
  write_bytes(writer, std::int64_t{32} << 20);
  checkpoints.run_once();
  CHECK(std::filesystem::file_size(wal) >= (std::uint64_t{32} << 20));

  // Copied back all the same, so the WAL starts over at the next commit and
  // must hold 64 MiB of its own before it is emptied.
  write_bytes(writer, std::int64_t{66} << 20);
  checkpoints.run_once();
  CHECK(std::filesystem::file_size(wal) == 0);
}
