// Black-box: job types are data (an operator can enqueue any text), and they
// become the `type` label of Prometheus series. Types that are not UTF-8 and
// hundreds of made-up ones must neither break `promtool check metrics` nor
// add series, on either role.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "e2e/reliability_scene.hpp"

using pw::test::reliability::Scene;
using pw::test::reliability::kBinary;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::set<std::string> kLabels = {"noop",           "sleep",           "persona.generate",
                                       "world.simulate", "webhook.deliver", "world.purge",
                                       "unknown"};

std::string scrape(int port) {
  auto response = pw::test::http_get(port, "/metrics", 10s);
  REQUIRE_MESSAGE(response.status == 200, response.error);
  return response.body;
}

// The exposition's sample lines (comments left out).
std::vector<std::string> samples(const std::string& exposition) {
  std::vector<std::string> out;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

// Every value the `type` label takes.
std::set<std::string> type_labels(const std::string& exposition) {
  std::set<std::string> out;
  for (const auto& line : samples(exposition)) {
    auto at = line.find("type=\"");
    if (at == std::string::npos) continue;
    at += 6;
    out.insert(line.substr(at, line.find('"', at) - at));
  }
  return out;
}

// promtool's verdict: empty when the exposition parses and lints clean.
std::string promtool_problems(const pw::test::TempDir& dir, const std::string& exposition, const std::string& name) {
  const auto file = dir.file(name + ".metrics");
  {
    std::ofstream out(file, std::ios::binary);
    out << exposition;
  }
  auto checked = pw::test::run("/bin/sh", {"-c", "promtool check metrics < '" + file + "' 2>&1"});
  if (checked.exit_code != 0 || !checked.out.empty()) {
    return "exit " + std::to_string(checked.exit_code) + ": " + checked.out;
  }
  return {};
}

bool valid_utf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

TEST_CASE("metric labels (binary): types that are not UTF-8 and 200 made-up ones leave /metrics valid and bounded") {
  Scene scene;
  pw::test::TempDir dir;
  // PostgreSQL stores text only as valid UTF-8: there a type that is not
  // is refused at enqueue (exit 1, naming the encoding), never stored.
  auto enqueue = [&](const std::string& type, const std::string& payload = "{}", int priority = 0) {
    auto result = pw::test::run(kBinary, {"jobs", "enqueue", scene.flag(), "--type", type, "--payload", payload,
                                          "--priority", std::to_string(priority)});
    if (scene.postgres() && !valid_utf8(type)) {
      CHECK_MESSAGE(result.exit_code == 1, type << ": " << result.out);
      CHECK_MESSAGE(result.err.find("UTF8") != std::string::npos, result.err);
      return false;
    }
    REQUIRE_MESSAGE(result.exit_code == 0, type << ": " << result.err);
    return true;
  };
  // One handler slot, taken first by a job that holds it, so the others wait
  // ready in the queue while both roles are scraped.
  enqueue("sleep", R"({"ms":8000})", -1);
  std::vector<std::string> hostile = {"bad\xff\xfe", "\xc3\x28", "x\"} 1\n# HELP", "type with spaces", "\xe2\x82",
                                      std::string("nul\0byte", 8)};
  std::mt19937_64 random(20261201);
  for (int i = 0; i < 200; ++i) hostile.push_back("made-up-" + std::to_string(random()));
  // A NUL cannot pass through argv: that one is enqueued cut short.
  std::int64_t unknown_jobs = 0;
  for (const auto& type : hostile) unknown_jobs += enqueue(type) ? 1 : 0;

  scene.start_api();
  auto [worker, worker_port] = scene.start_worker({"--concurrency", "1"});
  REQUIRE(pw::test::eventually([&] {
    return scene.count("SELECT count(*) FROM jobs WHERE type = 'sleep' AND state = 'running'") == 1;
  }, 60s));
  REQUIRE(scene.count("SELECT count(*) FROM jobs WHERE state = 'queued'") == unknown_jobs);

  // A first scrape of each role, so the second already counts its own route.
  scrape(worker_port);
  scrape(scene.port());
  const auto worker_waiting = scrape(worker_port);
  const auto api_waiting = scrape(scene.port());
  CHECK(promtool_problems(dir, worker_waiting, "worker-waiting") == "");
  CHECK(promtool_problems(dir, api_waiting, "api-waiting") == "");
  CHECK(type_labels(worker_waiting) == kLabels);
  CHECK(pw::test::metric_value(worker_waiting, R"(queue_depth{type="unknown"})") ==
        std::optional<double>(static_cast<double>(unknown_jobs)));

  // Once the worker has run them all (each goes dead: no handler), the
  // series are the same ones, counted under `unknown`.
  REQUIRE(pw::test::eventually([&] {
    return pw::test::metric_value(scrape(worker_port), R"(jobs_dead_total{type="unknown"})") ==
           std::optional<double>(static_cast<double>(unknown_jobs));
  }, 120s));
  const auto worker_done = scrape(worker_port);
  const auto api_done = scrape(scene.port());
  CHECK(promtool_problems(dir, worker_done, "worker-done") == "");
  CHECK(promtool_problems(dir, api_done, "api-done") == "");
  CHECK(type_labels(worker_done) == kLabels);
  CHECK(samples(worker_done).size() == samples(worker_waiting).size());
  CHECK(pw::test::metric_value(worker_done, R"(queue_depth{type="unknown"})") == std::optional<double>(0));
  CHECK(worker_done.find("made-up-") == std::string::npos);
  CHECK(api_done.find("made-up-") == std::string::npos);
}
