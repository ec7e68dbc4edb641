// Black-box: the database file taken away, made read-only, or its disk
// filled, under a running API. Writes answer 503 with a JSON error (never a
// crash, never a 500), /readyz reports not ready, /healthz stays 200, and
// service comes back by itself once the file is back. Nothing acknowledged is
// lost and the file passes PRAGMA integrity_check afterwards.
//
// Read-only uses the ext4 immutable flag (root ignores file modes) and the
// full disk a size-limited tmpfs; where the machine does not allow either, the
// test says why it skipped ("SKIPPED:" in its output).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "e2e/reliability_scene.hpp"

using namespace pw::test;
using namespace pw::test::reliability;

namespace {

// Sets or clears the immutable flag of a file; the error text when it cannot.
std::string set_immutable(const std::string& path, bool on) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path + ": " + std::strerror(errno);
  int flags = 0;
  std::string error;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    error = std::string("FS_IOC_GETFLAGS: ") + std::strerror(errno);
  } else {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) error = std::string("FS_IOC_SETFLAGS: ") + std::strerror(errno);
  }
  ::close(fd);
  return error;
}

// The immutable flag on a set of files, cleared again at scope exit (or the
// temporary folder could not be removed).
class Immutable {
 public:
  explicit Immutable(std::vector<std::string> paths) : m_paths(std::move(paths)) {}
  ~Immutable() { release(); }
  std::string apply() {
    for (const auto& path : m_paths) {
      if (auto error = set_immutable(path, true); !error.empty()) return error;
      m_applied.push_back(path);
    }
    return {};
  }
  void release() {
    for (const auto& path : m_applied) set_immutable(path, false);
    m_applied.clear();
  }

 private:
  std::vector<std::string> m_paths;
  std::vector<std::string> m_applied;
};

// A size-limited tmpfs, unmounted at scope exit.
class SmallDisk {
 public:
  explicit SmallDisk(std::filesystem::path where, const std::string& size) : m_where(std::move(where)) {
    std::filesystem::create_directories(m_where);
    if (::mount("tmpfs", m_where.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size).c_str()) != 0) {
      m_error = std::string("cannot mount a tmpfs (") + std::strerror(errno) + ")";
    }
  }
  ~SmallDisk() {
    if (m_error.empty()) ::umount2(m_where.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return m_error; }
  bool resize(const std::string& size) {
    return ::mount("tmpfs", m_where.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, ("size=" + size).c_str()) == 0;
  }
  std::string path() const { return m_where.string(); }

 private:
  std::filesystem::path m_where;
  std::string m_error;
};

std::string world_path(std::int64_t id) { return "/v1/worlds/" + std::to_string(id); }

// A write refused because of the database: 503, JSON error "unavailable", Retry-After.
void check_unavailable(const HttpResponse& response) {
  CAPTURE(response.body);
  CHECK(response.status == 503);
  CHECK(is_json_error(response));
  CHECK(json::parse(response.body, nullptr, false)["error"]["code"] == "unavailable");
  CHECK_FALSE(header_of(response, "Retry-After").empty());
}

void check_not_ready(const Scene& scene) {
  auto ready = http_get(scene.port(), "/readyz");
  CAPTURE(ready.body);
  CHECK(ready.status == 503);
  auto body = json::parse(ready.body, nullptr, false);
  CHECK(body["status"] == "unavailable");
  CHECK(http_get(scene.port(), "/healthz").status == 200);
}

// Waits for the API to serve writes again on its own.
void require_recovery(Scene& scene, const std::string& token, const char* name) {
  REQUIRE_MESSAGE(eventually([&] { return http_get(scene.port(), "/readyz").status == 200; }, 30s), scene.output());
  HttpResponse created;
  REQUIRE_MESSAGE(eventually(
                      [&] {
                        created = scene.post("/v1/worlds", {{"name", name}}, token);
                        return created.status == 201;
                      },
                      30s),
                  created.status << " " << created.body);
}

}  // namespace

TEST_CASE("database faults (binary): the file removed under a running API: 503s, not ready, alive, back by itself") {
  Scene scene;
  scene.start_api({"--http-threads", "4"});
  INFO(scene.output());
  const auto token = scene.sign_up("faults");
  const auto world = scene.make_world(token, 1);
  const auto worlds_before = scene.count("SELECT count(*) FROM worlds");

  // The operator moves the database (and its WAL and shared memory) away.
  const std::string away = scene.dir().file("moved-away");
  std::filesystem::create_directories(away);
  std::vector<std::string> names;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const auto from = scene.db() + suffix;
    if (!std::filesystem::exists(from)) continue;
    names.push_back(suffix);
    std::filesystem::rename(from, away + "/db" + suffix);
  }
  for (int i = 0; i < 10; ++i) {
    check_unavailable(scene.post("/v1/worlds", {{"name", "Lost " + std::to_string(i)}}, token,
                                 {{"Idempotency-Key", "while-away-" + std::to_string(i)}}));
    check_unavailable(scene.get(world_path(world), token));
  }
  check_not_ready(scene);
  CHECK(scene.api().running());
  CHECK_FALSE(std::filesystem::exists(scene.db()));  // nothing recreated an empty database

  // It comes back: the API serves again without a restart.
  for (const auto& suffix : names) std::filesystem::rename(away + "/db" + suffix, scene.db() + suffix);
  require_recovery(scene, token, "After");
  // The refused writes left nothing; their keys are free to retry.
  CHECK(scene.count("SELECT count(*) FROM worlds") == worlds_before + 1);
  auto retried = scene.post("/v1/worlds", {{"name", "Lost 0"}}, token, {{"Idempotency-Key", "while-away-0"}});
  CHECK(retried.status == 201);
  CHECK(header_of(retried, "Idempotent-Replayed").empty());
  CHECK(scene.get(world_path(world), token).status == 200);
  CHECK(scene.integrity() == "ok");
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
  CHECK_FALSE(scene.api().any_line_contains("handler_failed"));
}

TEST_CASE("database faults (binary): the file made read-only under a running API: writes 503, reads served, back by itself") {
  Scene scene;
  scene.start_api({"--http-threads", "4"});
  INFO(scene.output());
  const auto token = scene.sign_up("readonly");
  const auto world = scene.make_world(token, 1);
  const auto worlds_before = scene.count("SELECT count(*) FROM worlds");

  // chmod 444 does not stop root; the immutable flag does (ext4 and most
  // local filesystems). The shared-memory file stays writable, as it does on
  // a database whose directory is read-only.
  Immutable frozen({scene.db(), scene.db() + "-wal"});
  if (auto error = frozen.apply(); !error.empty()) {
    MESSAGE("SKIPPED: cannot make the database read-only here: ", error);
    return;
  }
  for (int i = 0; i < 10; ++i) {
    check_unavailable(scene.post("/v1/worlds", {{"name", "Frozen " + std::to_string(i)}}, token));
    CHECK(scene.get(world_path(world), token).status == 200);  // reads still work
  }
  check_not_ready(scene);
  CHECK(scene.api().running());

  frozen.release();
  require_recovery(scene, token, "Thawed");
  CHECK(scene.count("SELECT count(*) FROM worlds") == worlds_before + 1);
  CHECK(scene.integrity() == "ok");
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
  CHECK_FALSE(scene.api().any_line_contains("handler_failed"));
}

TEST_CASE("database faults (binary): a full disk gives 503s, not corruption, and writes resume when there is room") {
  TempDir mount_dir;
  SmallDisk disk(mount_dir.path() / "disk", "2m");
  if (!disk.error().empty()) {
    MESSAGE("SKIPPED: full-disk test needs a tmpfs mount (root): ", disk.error());
    return;
  }
  Scene scene(disk.path());
  // No cap on worlds: the disk, not the per-user limit, must be what stops them.
  scene.start_api({"--http-threads", "4", "--max-worlds-per-user", "100000"});
  INFO(scene.output());
  const auto token = scene.sign_up("diskfull");

  // Worlds with long descriptions until the disk is full.
  const std::string filler(2000, 'x');
  std::vector<std::int64_t> acknowledged;
  int refused = 0;
  for (int i = 0; i < 5000 && refused < 20; ++i) {
    auto response = scene.post("/v1/worlds", {{"name", "Fill " + std::to_string(i)}, {"description", filler}}, token,
                               {{"Idempotency-Key", "fill-" + std::to_string(i)}});
    if (response.status == 201) {
      acknowledged.push_back(json::parse(response.body)["id"].get<std::int64_t>());
      continue;
    }
    ++refused;
    CAPTURE(i);
    CAPTURE(response.body);
    CHECK((response.status == 503 || response.status == 507));
    CHECK(is_json_error(response));
  }
  MESSAGE(acknowledged.size(), " worlds written before the disk filled");
  REQUIRE_MESSAGE(refused > 0, "the disk never filled");
  CHECK(acknowledged.size() > 10);
  CHECK(scene.api().running());
  CHECK(http_get(scene.port(), "/healthz").status == 200);
  for (auto id : {acknowledged.front(), acknowledged.back()}) {
    CHECK(scene.get(world_path(id), token).status == 200);  // reads still served
  }

  // Errors, not corruption: the file is sound and holds every acknowledged write.
  CHECK(scene.integrity() == "ok");
  CHECK(scene.count("SELECT count(*) FROM worlds") == static_cast<std::int64_t>(acknowledged.size()));

  // Room again: writes resume without a restart.
  REQUIRE(disk.resize("16m"));
  require_recovery(scene, token, "Roomy");
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
  CHECK(scene.integrity() == "ok");
  CHECK(scene.count("SELECT count(*) FROM worlds") == static_cast<std::int64_t>(acknowledged.size()) + 1);
  CHECK_FALSE(scene.api().any_line_contains("handler_failed"));
}
