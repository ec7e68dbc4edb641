#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "db/connection.hpp"
#include "db/statement.hpp"
#include "db/wal_care.hpp"
#include "support/temp_dir.hpp"

using pw::db::WalCare;

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
  WalCare checkpoints{std::make_unique<pw::db::Connection>(config)};
  std::string wal = config.path + "-wal";

  WalScene() {
    writer.set_autocheckpoint(0);  // as the worker's threads and the API's sessions run
    writer.exec("CREATE TABLE filler (data BLOB)");
  }
  std::uintmax_t wal_size() const { return std::filesystem::file_size(wal); }
};

constexpr std::int64_t kThreshold = WalCare::kResetAboveBytes;

}  // namespace

// The WAL's length in frames now (a PASSIVE checkpoint reports it).
int wal_frames(pw::db::Connection& connection) {
  return connection.try_checkpoint(pw::db::Connection::Checkpoint::passive).wal_frames;
}

TEST_CASE("WalCare: past its threshold the WAL starts over, and a file grown past its bound is emptied too") {
  WalScene scene;
  REQUIRE(scene.writer.page_size() == pw::db::kPageSize);
  constexpr std::int64_t kShrink = static_cast<std::int64_t>(WalCare::kShrinkAboveBytes);

  // Past the threshold, short of the bound: started over, the file kept.
  write_bytes(scene.writer, kThreshold + (1 << 20));
  scene.checkpoints.run_once();
  write_bytes(scene.writer, 1 << 20);
  CHECK(wal_frames(scene.writer) < (2 << 20) / pw::db::kPageSize);
  CHECK(scene.wal_size() > static_cast<std::uintmax_t>(kThreshold));

  // A file past the bound (restarts held off while it grew) is emptied.
  pw::db::Connection reader(scene.config);
  reader.exec("BEGIN");
  pw::db::Statement count(reader, "SELECT count(*) FROM filler");
  REQUIRE(count.step());
  count.reset();
  write_bytes(scene.writer, kShrink + (1 << 20));
  reader.exec("COMMIT");
  for (int round = 0; round <= WalCare::kMostRoundsSkipped && scene.wal_size() > 0; ++round) {
    scene.checkpoints.run_once();
  }
  CHECK(scene.wal_size() == 0);
}

TEST_CASE("WalCare: a reader of an old snapshot holds off the restart only while it reads") {
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
  CHECK(wal_frames(scene.writer) > kThreshold / pw::db::kPageSize);
  REQUIRE(count.step());
  CHECK(count.int64(0) == 1);  // the reader still sees its snapshot
  count.reset();

  reader.exec("COMMIT");
  // After the rounds it skips (at most kMostRoundsSkipped), it starts the WAL over.
  for (int round = 0; round <= WalCare::kMostRoundsSkipped; ++round) scene.checkpoints.run_once();
  write_bytes(scene.writer, 1 << 20);
  CHECK(wal_frames(scene.writer) < (2 << 20) / pw::db::kPageSize);
  pw::db::Statement after(scene.writer, "SELECT count(*) FROM filler");
  REQUIRE(after.step());
  CHECK(after.int64(0) == 3 + kThreshold / (1 << 20));
}
