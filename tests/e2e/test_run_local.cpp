// Black-box: `make run` (scripts/run-local.sh) and `make stack`
// (scripts/stack.sh). `make run` serves this machine only: the binary's
// listen addresses default to 0.0.0.0 for containers; the script must bind
// the API and the worker's observability server to 127.0.0.1. Ctrl-C on
// either is a deliberate stop: everything stops, the script says so and
// exits 0.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "e2e/edge_scene.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace pw::test;
using namespace std::chrono_literals;

namespace {

// Local addresses (hex, as in /proc/net/tcp{,6}; 127.0.0.1 is 0100007F) of
// the sockets listening on `port`, space-separated.
std::string listening_addresses(int port) {
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, "%04X", port);
  std::set<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream lines(table);
    std::string line;
    std::getline(lines, line);  // the column titles
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const auto colon = local.rfind(':');
      if (state == "0A" && colon != std::string::npos && local.substr(colon + 1) == port_hex) {
        out.insert(local.substr(0, colon));
      }
    }
  }
  std::string joined;
  for (const auto& address : out) joined += (joined.empty() ? "" : " ") + address;
  return joined;
}

// What a terminal's Ctrl-C does: SIGINT to every process of the foreground
// process group at once. The scripts run under setsid, so the group is the
// script and its children only.
void ctrl_c(const Process& session_leader) { ::kill(-session_leader.pid(), SIGINT); }

bool any_line_has(const Process& process, const std::string& needle) { return process.any_line_contains(needle); }

}  // namespace

TEST_CASE("make run: the API and the worker listen on 127.0.0.1 only") {
  TempDir dir;
  const int api_port = edge::free_port();
  const int worker_port = edge::free_port();
  // The script's own defaults, not the caller's: HOST and
  // WORKER_OBSERVABILITY_HOST are cleared.
  Process run_local("/usr/bin/env",
                    {"-u", "HOST", "-u", "WORKER_OBSERVABILITY_HOST", "bash",
                     std::string(PW_SOURCE_DIR) + "/scripts/run-local.sh", PW_BINARY},
                    {{"DATABASE_PATH", dir.file("local.db")},
                     {"PORT", std::to_string(api_port)},
                     {"WORKER_OBSERVABILITY_PORT", std::to_string(worker_port)}});
  INFO(run_local.output());
  REQUIRE(run_local.wait_for_json("api_started", 60s));
  REQUIRE(run_local.wait_for_json("worker_started", 60s));

  const std::string loopback = "0100007F";
  CHECK(eventually([&] { return !listening_addresses(api_port).empty(); }, 10s));
  CHECK(listening_addresses(api_port) == loopback);
  CHECK(eventually([&] { return !listening_addresses(worker_port).empty(); }, 10s));
  CHECK(listening_addresses(worker_port) == loopback);
  CHECK(http_get(api_port, "/healthz").status == 200);

  run_local.signal(SIGTERM);
  CHECK(run_local.wait_exit(30s) == 0);
}

TEST_CASE("make run: Ctrl-C stops the API and the worker, says so and exits 0") {
  TempDir dir;
  const int api_port = edge::free_port();
  const int worker_port = edge::free_port();
  Process run_local("/usr/bin/setsid",
                    {"bash", std::string(PW_SOURCE_DIR) + "/scripts/run-local.sh", PW_BINARY},
                    {{"DATABASE_PATH", dir.file("local.db")},
                     {"PORT", std::to_string(api_port)},
                     {"WORKER_OBSERVABILITY_PORT", std::to_string(worker_port)}});
  INFO(run_local.output());
  REQUIRE(run_local.wait_for_json("api_started", 60s));
  REQUIRE(run_local.wait_for_json("worker_started", 60s));
  REQUIRE(run_local.wait_for_line([](const std::string& line) { return line.find("Ctrl-C") != std::string::npos; },
                                  10s, Stream::err));

  ctrl_c(run_local);
  CHECK(run_local.wait_exit(30s) == 0);
  CHECK(run_local.wait_for_json("api_stopped", 1s));
  CHECK(run_local.wait_for_json("worker_stopped", 1s));
  CHECK(any_line_has(run_local, "==> stopped"));
  CHECK_FALSE(any_line_has(run_local, "exited with status"));
  CHECK_FALSE(any_line_has(run_local, "failed with status"));
}

TEST_CASE("make run: a process that fails stops the other and its status is the script's") {
  TempDir dir;
  const int api_port = edge::free_port();
  const int worker_port = edge::free_port();
  Process run_local("/usr/bin/setsid",
                    {"bash", std::string(PW_SOURCE_DIR) + "/scripts/run-local.sh", PW_BINARY},
                    {{"DATABASE_PATH", dir.file("local.db")},
                     {"PORT", std::to_string(api_port)},
                     {"WORKER_OBSERVABILITY_PORT", std::to_string(worker_port)}});
  INFO(run_local.output());
  REQUIRE(run_local.wait_for_json("worker_started", 60s));
  REQUIRE(run_local.wait_for_json("api_started", 60s));
  // "==> API on ... (pid A), worker metrics on ... (pid W); Ctrl-C stops both"
  auto banner = run_local.wait_for_line(
      [](const std::string& line) { return line.find("Ctrl-C") != std::string::npos; }, 10s, Stream::err);
  REQUIRE(banner);
  std::smatch pids;
  REQUIRE(std::regex_search(*banner, pids, std::regex(R"(\(pid (\d+)\).*\(pid (\d+)\))")));
  // A crash, not a stop: SIGKILL to the worker alone.
  ::kill(static_cast<pid_t>(std::stol(pids[2].str())), SIGKILL);
  CHECK(run_local.wait_exit(30s) == 137);
  CHECK(any_line_has(run_local, "failed with status 137"));
  CHECK(run_local.wait_for_json("api_stopped", 1s));
}

TEST_CASE("make stack: Ctrl-C stops the API, the worker and Prometheus, says so and exits 0") {
  TempDir dir;
  Process stack("/usr/bin/setsid",
                {"bash", std::string(PW_SOURCE_DIR) + "/scripts/stack.sh", "--bin", PW_BINARY, "--dir",
                 dir.file("stack"), "--api-port", "0", "--worker-port", "0", "--prometheus-port", "0"});
  INFO(stack.output());
  REQUIRE(stack.wait_for_line(
      [](const std::string& line) { return line.find("Ctrl-C stops everything") != std::string::npos; }, 120s,
      Stream::err));

  ctrl_c(stack);
  CHECK(stack.wait_exit(60s) == 0);
  CHECK(any_line_has(stack, "==> stopped"));
  CHECK_FALSE(any_line_has(stack, "exited with status"));
}

TEST_CASE("make run: builds the binary only, none of the test or fuzz targets") {
  TempDir dir;
  // Dry run: the commands make would run, none of them run.
  auto plan = run("/usr/bin/make", {"-n", "-C", PW_SOURCE_DIR, "run", "BUILD_DIR=" + dir.file("build")});
  INFO(plan.out);
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  int builds = 0;
  std::istringstream lines(plan.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("cmake --build") == std::string::npos) continue;
    ++builds;
    CHECK(line.find("--target personaworlds") != std::string::npos);
  }
  CHECK(builds == 1);
  CHECK(plan.out.find("scripts/run-local.sh") != std::string::npos);
}
