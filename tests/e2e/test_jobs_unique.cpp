// Black-box: `personaworlds jobs enqueue` with a uniqueness window, as an
// operator would run it (SQLite, or PostgreSQL under PW_TEST_DRIVER=postgres).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/test_database.hpp"

namespace {

const std::string kBinary = PW_BINARY;

struct UniqueScene {
  pw::test::TestDatabase database{false};

  UniqueScene() {
    auto migrated = pw::test::run(kBinary, {"migrate", database.flag()});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  pw::test::RunResult jobs(std::vector<std::string> args) {
    args.insert(args.begin(), "jobs");
    args.push_back(database.flag());
    return pw::test::run(kBinary, args);
  }

  std::int64_t count(const std::string& type) {
    pw::test::DatabaseProbe probe(database.config);
    return probe.scalar("SELECT COUNT(*) FROM jobs WHERE type = ?", {type});
  }
};

}  // namespace

TEST_CASE("jobs (binary): enqueue with a unique key twice makes one job, and a bad window is refused with a clear error") {
  UniqueScene scene;
  const std::vector<std::string> unique = {"enqueue", "--type", "world.simulate", "--payload", R"({"world_id":42})",
                                           "--unique-key", "world:42", "--unique-states", "queued,running",
                                           "--unique-for", "1h", "--json"};
  auto first = scene.jobs(unique);
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  auto first_out = nlohmann::json::parse(first.out);
  CHECK(first_out["enqueued"] == 1);
  auto again = scene.jobs(unique);
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  auto again_out = nlohmann::json::parse(again.out);
  CHECK(again_out["enqueued"] == 0);
  CHECK(again_out["existing_id"] == first_out["first_id"]);
  CHECK(scene.count("world.simulate") == 1);

  // An operator sees which key holds the job: `jobs show`, in text and JSON.
  const std::string first_id = std::to_string(first_out["first_id"].get<std::int64_t>());
  auto shown = scene.jobs({"show", first_id, "--json"});
  REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
  CHECK(nlohmann::json::parse(shown.out)["unique_key"] == "world:42");
  auto shown_text = scene.jobs({"show", first_id});
  REQUIRE(shown_text.exit_code == 0);
  CHECK(shown_text.out.find("unique_key") != std::string::npos);
  CHECK(shown_text.out.find("world:42") != std::string::npos);

  // The text form names the job that holds the key.
  auto text = scene.jobs({"enqueue", "--type", "world.simulate", "--unique-key", "world:42", "--unique-states",
                          "queued"});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("not enqueued: job " + std::to_string(first_out["first_id"].get<std::int64_t>())) == 0);

  // Once the job is canceled the key is free again.
  REQUIRE(scene.jobs({"cancel", std::to_string(first_out["first_id"].get<std::int64_t>())}).exit_code == 0);
  auto freed = scene.jobs(unique);
  REQUIRE(freed.exit_code == 0);
  CHECK(nlohmann::json::parse(freed.out)["enqueued"] == 1);
  CHECK(scene.count("world.simulate") == 2);

  // Refused before anything is written, each naming the flag at fault.
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {{"--unique-key", "k", "--unique-for", "soon"}, "invalid --unique-for: 'soon'"},
      {{"--unique-key", "k", "--unique-for", "0s"}, "invalid --unique-for: '0s'"},
      {{"--unique-key", "k", "--unique-states", "queued,finished"}, "invalid --unique-states: 'finished'"},
      {{"--unique-key", "k"}, "invalid --unique-key: give --unique-for"},
      {{"--unique-key", "", "--unique-for", "1m"}, "invalid --unique-key: must be 1 to 200 bytes"},
      {{"--unique-for", "1m"}, "invalid --unique-for: it needs --unique-key"},
      {{"--unique-key", "k", "--unique-for", "1m", "--count", "2"}, "invalid --count"},
  };
  for (const auto& [args, message] : bad) {
    std::vector<std::string> all = {"enqueue", "--type", "noop"};
    all.insert(all.end(), args.begin(), args.end());
    auto refused = scene.jobs(all);
    INFO(message);
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find(message) != std::string::npos);
  }
  CHECK(scene.count("noop") == 0);
}
