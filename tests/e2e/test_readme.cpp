// Black-box: the README's quick start, run as written. Every ```bash block
// under "## Quick start" is taken verbatim from README.md and run in one
// bash (set -euo pipefail) against a real API and worker, twice on the same
// database, as a reader pasting the session twice would. The only changes
// are where things are: `localhost:8080` and `localhost:9091` become this
// test's ports, `build/personaworlds` the binary under test, and the
// database is named by DATABASE_PATH.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace pw::test;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The ```bash blocks of the section titled `title` (up to the next "## ").
std::vector<std::string> shell_blocks(const std::string& markdown, const std::string& title) {
  const auto start = markdown.find("\n## " + title + "\n");
  if (start == std::string::npos) return {};
  const auto end = markdown.find("\n## ", start + 1);
  const std::string section = markdown.substr(start, end == std::string::npos ? std::string::npos : end - start);
  std::vector<std::string> blocks;
  std::size_t at = 0;
  while ((at = section.find("```bash\n", at)) != std::string::npos) {
    at += 8;
    const auto close = section.find("\n```", at);
    if (close == std::string::npos) break;
    blocks.push_back(section.substr(at, close - at + 1));
    at = close + 4;
  }
  return blocks;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("README quick start: the session runs verbatim against a real API and worker, twice on one database") {
  const auto blocks = shell_blocks(read_file(std::string(PW_SOURCE_DIR) + "/README.md"), "Quick start");
  REQUIRE(blocks.size() >= 4);

  TempDir dir;
  const std::string db = dir.file("quickstart.db");
  REQUIRE(run(PW_BINARY, {"migrate", "--db", db}).exit_code == 0);
  Process api(PW_BINARY, {"api", "--db", db, "--host", "127.0.0.1", "--port", "0", "--shutdown-delay-ms", "0"});
  Process worker(PW_BINARY, {"worker", "--db", db, "--observability-host", "127.0.0.1", "--observability-port", "0",
                             "--concurrency", "2", "--poll-interval-ms", "5"});
  auto api_started = api.wait_for_json("api_started", 30s);
  auto worker_started = worker.wait_for_json("worker_started", 30s);
  REQUIRE(api_started);
  REQUIRE(worker_started);
  const std::string api_address = "127.0.0.1:" + std::to_string((*api_started)["port"].get<int>());
  const std::string worker_address = "127.0.0.1:" + std::to_string((*worker_started)["observability_port"].get<int>());

  std::string script = "set -euo pipefail\n";
  for (const auto& block : blocks) script += block;
  script = replace_all(script, "localhost:8080", api_address);
  script = replace_all(script, "localhost:9091", worker_address);
  script = replace_all(script, "build/personaworlds", PW_BINARY);
  INFO(script);

  for (int pass = 1; pass <= 2; ++pass) {
    CAPTURE(pass);
    auto session = run("/bin/bash", {"-c", script}, {{"DATABASE_PATH", db}}, 120s);
    INFO(session.out);
    INFO(session.err);
    REQUIRE(session.exit_code == 0);
    const std::string& out = session.out;
    // Signing up: a token the first time, handle_taken the second.
    CHECK(out.find(pass == 1 ? "\"token\":\"pw_" : "\"code\":\"handle_taken\"") != std::string::npos);
    // Both jobs succeeded, each carrying its request's id as trace_id.
    CHECK(count(out, "\"state\": \"succeeded\"") == 2);
    CHECK(out.find("\"trace_id\": \"quickstart-personas\"") != std::string::npos);
    CHECK(out.find("\"trace_id\": \"quickstart-simulation\"") != std::string::npos);
    CHECK(count(out, "\"traits\":{") == 8);
    // The timeline and the metrics.
    CHECK(std::regex_search(out, std::regex("tick [0-9]+: ")));
    CHECK(out.find("jobs_processed_total{status=\"succeeded\",type=\"world.simulate\"}") != std::string::npos);
    CHECK(out.find("jobs_trace_total{") != std::string::npos);
    // The spare token: revoked (204), then refused.
    CHECK(out.find("\n204\n") != std::string::npos);
    CHECK(out.find("\"code\":\"invalid_token\"") != std::string::npos);
  }
  // The worker's log lines carry the trace the README tells the reader to follow.
  CHECK(worker.wait_for_json("job_succeeded", 5s, [](const nlohmann::json& line) {
    return line.value("trace_id", "") == "quickstart-simulation";
  }));
}
