// Black-box: `make run` (scripts/run-local.sh) serves this machine only. The
// binary's listen addresses default to 0.0.0.0 for containers; the script
// must bind the API and the worker's observability server to 127.0.0.1.
#include <doctest/doctest.h>

#include <signal.h>

#include <cstdio>
#include <fstream>
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
