#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "db/connection.hpp"
#include "db/statement.hpp"
#include "support/temp_dir.hpp"
#include "worker/housekeeping.hpp"

using pw::worker::WalCheckpoints;

namespace {

// Commits `bytes` of blobs on `writer`, in 1 MiB rows.
void write_bytes(pw::db::Connection& writer, std::int64_t bytes) {
  pw::db::Statement insert(writer, "INSERT INTO filler (data) VALUES (zeroblob(1048576))");
  for (std::int64_t written = 0; written < bytes; written += 1 << 20) {
    insert.exec();
    insert.reset();
  }
}

struct WalScene {
  pw::test::TempDir dir;
  pw::config::DatabaseConfig config = [this] {
    pw::config::DatabaseConfig c;
    c.path = dir.file("w.db");
    return c;
  }();
  pw::db::Connection writer{config};
  WalCheckpoints checkpoints{std::make_unique<pw::db::Connection>(config)};
  std::string wal = config.path + "-wal";

  WalScene() {
    writer.set_autocheckpoint(0);  // as the worker's other threads run
    writer.exec("CREATE TABLE filler (data BLOB)");
  }
  std::uintmax_t wal_size() const { return std::filesystem::file_size(wal); }
};

constexpr std::int64_t kThreshold = WalCheckpoints::kResetAboveBytes;

}  // namespace

TEST_CASE("WalCheckpoints: copies the WAL back each round and empties it past its threshold, whatever the page size") {
  WalScene scene;
  REQUIRE(scene.writer.page_size() == pw::db::kPageSize);
  REQUIRE(pw::db::kPageSize < 4096);

  // Half the threshold in bytes, but more frames of 1 KiB than the
  // threshold holds 4 KiB pages: counted in bytes, it stays.
  write_bytes(scene.writer, kThreshold / 2 + (1 << 20));
  REQUIRE((kThreshold / 2) / pw::db::kPageSize > kThreshold / 4096);
  scene.checkpoints.run_once();
  CHECK(scene.wal_size() >= static_cast<std::uintmax_t>(kThreshold / 2));

  // Copied back all the same, so the WAL starts over at the next commit and
  // must hold the threshold's bytes of its own before it is emptied.
  write_bytes(scene.writer, kThreshold + (1 << 20));
  scene.checkpoints.run_once();
  CHECK(scene.wal_size() == 0);
}

TEST_CASE("WalCheckpoints: a reader of an old snapshot holds off the emptying only while it reads") {
  WalScene scene;
  write_bytes(scene.writer, 1 << 20);
  pw::db::Connection reader(scene.config);
  reader.exec("BEGIN");
  pw::db::Statement count(reader, "SELECT count(*) FROM filler");
  REQUIRE(count.step());
  CHECK(count.int64(0) == 1);
  count.reset();

  write_bytes(scene.writer, kThreshold + (1 << 20));
  // Each round gives up after a short wait (the connection's busy timeout
  // is 10 s: a round that waited it out would stall writers that long).
  for (int round = 0; round < 3; ++round) scene.checkpoints.run_once();
  CHECK(scene.wal_size() > static_cast<std::uintmax_t>(kThreshold));
  REQUIRE(count.step());
  CHECK(count.int64(0) == 1);  // the reader still sees its snapshot
  count.reset();

  reader.exec("COMMIT");
  // After the rounds it skips (at most kMostRoundsSkipped), it empties the WAL.
  for (int round = 0; round <= WalCheckpoints::kMostRoundsSkipped && scene.wal_size() > 0; ++round) {
    scene.checkpoints.run_once();
  }
  CHECK(scene.wal_size() == 0);
  pw::db::Statement after(scene.writer, "SELECT count(*) FROM filler");
  REQUIRE(after.step());
  CHECK(after.int64(0) == 2 + kThreshold / (1 << 20));
}
