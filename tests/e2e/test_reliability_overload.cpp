// Black-box: more keep-alive clients than the API has handler threads. The
// health and metrics endpoints must keep answering quickly (orchestrators
// restart a process whose liveness probe times out, which under load turns
// an overload into an outage), every client must get served in turn, and
// every answer must be a valid one: 200, or 503 with Retry-After.
//
// Then the saturated case: every thread and every place in the backlog
// taken, where new requests are shed but health and metrics still answer.
//
// The wrk run at 256 connections is `make bench-overload`; this is the small,
// bounded version that runs in `make test`.
#include <doctest/doctest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "e2e/reliability_scene.hpp"

using namespace pw::test;
using namespace pw::test::reliability;


TEST_CASE("overload (binary): with every handler thread held by keep-alive clients, /healthz and /metrics answer fast") {
  Scene scene;
  scene.start_api({"--http-threads", "2", "--http-max-queued", "64"});
  INFO(scene.output());
  const auto token = scene.sign_up("crowd");
  const auto world = scene.make_world(token, 0);
  const std::string path = "/v1/worlds/" + std::to_string(world);

  // 12 clients, each on one keep-alive connection, ask as fast as they can
  // for a few seconds: six times as many connections as handler threads.
  constexpr int kClients = 12;
  const auto until = std::chrono::steady_clock::now() + 4s;
  std::vector<int> served(kClients, 0);
  std::vector<int> shed(kClients, 0);
  std::vector<int> other(kClients, 0);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", scene.port());
      client.set_keep_alive(true);
      client.set_read_timeout(10, 0);
      httplib::Headers headers = {{"Authorization", "Bearer " + token}};
      while (std::chrono::steady_clock::now() < until) {
        auto response = client.Get(path.c_str(), headers);
        if (response && response->status == 200) {
          ++served[c];
        } else if (response && response->status == 503 && !response->get_header_value("Retry-After").empty()) {
          ++shed[c];
        } else {
          ++other[c];  // no answer, or an answer outside the contract
        }
      }
    });
  }

  // Meanwhile a prober, as an orchestrator would: fresh connections, a short timeout.
  std::vector<double> health_ms;
  std::vector<int> health_status;
  std::vector<int> metrics_status;
  while (std::chrono::steady_clock::now() < until) {
    const auto sent = std::chrono::steady_clock::now();
    health_status.push_back(http_get(scene.port(), "/healthz", 2s).status);
    health_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
    metrics_status.push_back(http_get(scene.port(), "/metrics", 2s).status);
    std::this_thread::sleep_for(100ms);
  }
  for (auto& client : clients) client.join();

  const double slowest = *std::max_element(health_ms.begin(), health_ms.end());
  int total_served = 0;
  int total_shed = 0;
  for (int c = 0; c < kClients; ++c) {
    total_served += served[c];
    total_shed += shed[c];
  }
  MESSAGE(health_ms.size(), " probes, slowest /healthz ", slowest, " ms; clients: ", total_served, " served, ",
          total_shed, " shed");
  CHECK(std::count(health_status.begin(), health_status.end(), 200) == static_cast<long>(health_status.size()));
  CHECK(std::count(metrics_status.begin(), metrics_status.end(), 200) == static_cast<long>(metrics_status.size()));
  CHECK(slowest < 1000);
  for (int c = 0; c < kClients; ++c) {
    CAPTURE(c);
    CHECK(served[c] > 0);  // nobody starves behind the connections that got a thread first
    CHECK(other[c] == 0);
  }
  CHECK(scene.api().running());
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
}

TEST_CASE("overload (binary): with every thread and the backlog taken, requests get a quick 503 with Retry-After, health and metrics 200") {
  Scene scene;
  // 2 handler threads, room for 2 waiting requests.
  scene.start_api({"--http-threads", "2", "--http-max-queued", "2", "--db-busy-timeout-ms", "120000"});
  INFO(scene.output());
  const auto token = scene.sign_up("hog");
  const auto world = scene.make_world(token, 0);
  const Headers auth = {{"Authorization", "Bearer " + token}};

  // Another process holds the write lock, so writes wait for it: 2 of them
  // take the threads, 2 more fill the backlog. (Idle or slow connections
  // cannot do this: they wait with the reactor and hold no thread.)
  SQLite::Database writer(scene.db(), SQLite::OPEN_READWRITE);
  writer.exec("BEGIN IMMEDIATE");
  std::vector<std::thread> writers;
  std::atomic<int> writes_done{0};
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] {
      scene.post("/v1/worlds", {{"name", "held " + std::to_string(i)}}, token, {}, 60s);
      ++writes_done;
    });
    std::this_thread::sleep_for(100ms);  // in line one after the other
  }
  // Saturated once a read is shed (nothing shows earlier: held requests log
  // nothing until they finish).
  REQUIRE(eventually([&] {
    return http_request("GET", scene.port(), "/v1/worlds/" + std::to_string(world), {}, {}, auth, 2s).status == 503;
  }, 10s));

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    auto started = std::chrono::steady_clock::now();
    auto shed = http_request("GET", scene.port(), "/v1/worlds/" + std::to_string(world), {}, {}, auth, 2s);
    auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(shed.status == 503);
    CHECK(header_of(shed, "Retry-After") == "1");
    CHECK(json::parse(shed.body)["error"]["code"] == "overloaded");
    CHECK(elapsed < 1s);
    CHECK(http_get(scene.port(), "/healthz", 2s).status == 200);
    auto metrics = http_get(scene.port(), "/metrics", 2s);
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("http_requests_total{") != std::string::npos);
  }
  CHECK(writes_done == 0);

  // Once the lock goes, the held writes complete and service is normal again.
  writer.exec("ROLLBACK");
  for (auto& thread : writers) thread.join();
  CHECK(writes_done == 4);
  CHECK(scene.count("SELECT count(*) FROM worlds WHERE name LIKE 'held %'") == 4);
  REQUIRE_MESSAGE(eventually([&] {
                    return http_request("GET", scene.port(), "/v1/worlds/" + std::to_string(world), {}, {}, auth, 2s)
                               .status == 200;
                  }, 30s),
                  scene.output());
  CHECK(scene.api().running());
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
}
