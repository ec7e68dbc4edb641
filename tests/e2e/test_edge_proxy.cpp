// Black-box: what the edge proxy (HAProxy running the shipped
// deploy/haproxy/haproxy.cfg) promises in front of the real API: the
// request-id contract kept, the client's address set by the edge, traffic
// only to a ready API (/readyz), and the API's metrics and the edge's own
// stats kept off the public port. The attacks: test_edge_proxy_attacks.cpp.
#include <doctest/doctest.h>
#include <httplib.h>

#include <signal.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "e2e/edge_checks.hpp"
#include "e2e/edge_scene.hpp"
#include "support/raw_http.hpp"

using namespace pw::test;
using namespace pw::test::edge;
using nlohmann::json;

TEST_CASE("edge proxy: requests reach the API and keep its request-id contract") {
  EdgeScene scene;
  INFO(scene.output());

  auto chosen = http_request("GET", scene.port(), "/healthz", {}, {}, {{"X-Request-ID", "edge-chosen-id"}});
  CHECK(chosen.status == 200);
  CHECK(header_of(chosen, "X-Request-ID") == "edge-chosen-id");
  CHECK(header_of(chosen, "Server").empty());
  CHECK(eventually([&] { return scene.api_saw("edge-chosen-id"); }, 5s));
  auto logged = scene.edge_line("edge-chosen-id");
  REQUIRE(logged);
  CHECK((*logged)["status"] == 200);
  CHECK((*logged)["server"] == "api1");

  // Without one, the API makes the id (the edge adds none), and the edge's
  // log line carries the id the client got.
  auto fresh = http_get(scene.port(), "/readyz");
  const std::string id = header_of(fresh, "X-Request-ID");
  CHECK(fresh.status == 200);
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{32}")));
  CHECK(eventually([&] { return scene.api_saw(id); }, 5s));
  CHECK(scene.edge_line(id));

  // The API takes the trace id of a traceparent when there is no X-Request-ID:
  // only possible when the edge injects none.
  auto traced = http_request("GET", scene.port(), "/healthz", {}, {},
                             {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  CHECK(header_of(traced, "X-Request-ID") == "4bf92f3577b34da6a3ce929d0e0e4736");

  auto user = scene.sign_up_through_edge();
  CHECK_MESSAGE(user.status == 201, user.body);
  CHECK(scene.edge_lines_not_json().empty());
}

TEST_CASE("edge proxy: the API receives the client's address from the edge, never from the client") {
  httplib::Server fake_api;
  std::mutex mutex;
  std::vector<httplib::Headers> seen;
  fake_api.Get("/readyz", [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "application/json"); });
  fake_api.Get("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    seen.push_back(req.headers);
    res.set_content("{}", "application/json");
  });
  const int fake_port = fake_api.bind_to_any_port("127.0.0.1");
  REQUIRE(fake_port > 0);
  std::thread serving([&] { fake_api.listen_after_bind(); });
  struct Stop {
    httplib::Server& server;
    std::thread& thread;
    ~Stop() {
      server.stop();
      thread.join();
    }
  } stop{fake_api, serving};

  EdgeScene scene("127.0.0.1:" + std::to_string(fake_port));
  INFO(scene.output());
  REQUIRE(eventually([&] { return http_get(scene.port(), "/echo", 2s).status == 200; }, 30s));

  RawConnection client(scene.port());
  REQUIRE(client.send_all("GET /echo HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-forwarded\r\n"
                          "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\nX-Real-IP: 203.0.113.9\r\n"
                          "Authorization: Bearer t0k3n\r\n\r\n"));
  REQUIRE(client.wait_until([](const std::string& wire) { return parse_responses(wire).size() == 1; }, 10s));
  CHECK(parse_responses(client.received())[0].status == 200);

  std::lock_guard lock(mutex);
  REQUIRE(!seen.empty());
  const auto& last = seen.back();
  auto all = [&](const std::string& name) {
    std::vector<std::string> values;
    for (auto [it, end] = last.equal_range(name); it != end; ++it) values.push_back(it->second);
    return values;
  };
  CHECK(all("X-Forwarded-For") == std::vector<std::string>{"127.0.0.1"});
  CHECK(all("Forwarded").empty());
  CHECK(all("X-Real-IP").empty());
  CHECK(all("X-Request-ID") == std::vector<std::string>{"edge-forwarded"});
  CHECK(all("Authorization") == std::vector<std::string>{"Bearer t0k3n"});
  // The earlier request had no X-Request-ID: none was added on the way.
  CHECK(seen.front().count("X-Request-ID") == 0);
}


TEST_CASE("edge proxy: no traffic reaches an API whose /readyz fails, and it flows once the API is ready") {
  EdgeScene scene(EdgeScene::Database::missing);
  INFO(scene.output());

  // Not migrated: the health check takes the API out of rotation (the
  // first requests may still reach it) and the edge answers for it.
  CHECK(eventually(
      [&] { return http_get(scene.port(), "/v1/worlds", 2s).body.find("no API instance is ready") != std::string::npos; },
      30s));
  auto refused = http_request("GET", scene.port(), "/v1/worlds", {}, {}, {{"X-Request-ID", "edge-not-ready"}}, 5s);
  CHECK(refused.status == 503);
  CHECK(header_of(refused, "Retry-After") == "1");
  CHECK(is_json_error(refused.body, "unavailable", "edge-not-ready"));
  auto logged = scene.edge_line("edge-not-ready");
  REQUIRE(logged);
  CHECK((*logged)["server"] == "<NOSRV>");
  CHECK_FALSE(scene.api_saw("edge-not-ready"));

  scene.migrate();
  CHECK(eventually([&] { return scene.sign_up_through_edge().status == 201; }, 30s));
  // The replica going down and up again is reported on stderr, not among
  // the JSON lines.
  CHECK(scene.edge_lines_not_json().empty());
}

TEST_CASE("edge proxy: a stopping API is out of rotation before its listener closes, so no request fails on it") {
  // Compose's SHUTDOWN_DELAY_MS for backend.
  EdgeScene scene(EdgeScene::Database::migrated, {"--shutdown-delay-ms", "3000"});
  INFO(scene.output());

  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<int> statuses;
  auto answered = [&] {
    std::lock_guard lock(mutex);
    return statuses.size();
  };
  std::thread client([&] {
    for (int n = 0; !stop; ++n) {
      auto response = http_request("GET", scene.port(), "/healthz", {}, {},
                                   {{"X-Request-ID", "edge-drain-" + std::to_string(n)}}, 5s);
      {
        std::lock_guard lock(mutex);
        statuses.push_back(response.status);
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  CHECK(eventually([&] { return answered() > 5; }, 10s));
  scene.api().signal(SIGTERM);
  CHECK(scene.api().wait_exit(30s) == 0);
  // A few of the edge's answers once the API is gone, then stop.
  const auto after = answered();
  CHECK(eventually([&] { return answered() > after + 5; }, 10s));
  stop = true;
  client.join();

  // Served by the API until the edge took it out, then the edge's 503
  // ("no API instance is ready"): never an answer the API failed to give.
  CHECK(statuses.front() == 200);
  CHECK(statuses.back() == 503);
  for (int status : statuses) CHECK((status == 200 || status == 503));
  for (const auto& line : scene.edge().json_lines()) {
    if (line.value("status", 0) >= 500) {
      INFO(line.dump());
      CHECK(line.value("server", "") == "<NOSRV>");
      CHECK(line.value("retries", 0) == 0);
    }
  }
}

TEST_CASE("edge proxy: the API's /metrics and the edge's own stats stay off the public port") {
  EdgeScene scene;
  INFO(scene.output());

  for (const char* path : {"/metrics", "/%6Detrics", "/%6d%65trics"}) {
    CAPTURE(path);
    auto metrics = http_request("GET", scene.port(), path, {}, {}, {{"X-Request-ID", "edge-metrics"}});
    CHECK(metrics.status == 404);
    CHECK(is_json_error(metrics.body, "not_found", "edge-metrics"));
  }
  CHECK_FALSE(scene.api_saw("edge-metrics"));
  for (const char* path : {"/stats", "/haproxy?stats", "/stats;csv"}) {
    CAPTURE(path);
    auto stats = http_get(scene.port(), path);
    CHECK(stats.status == 404);
    CHECK(stats.body.find("Statistics Report") == std::string::npos);
  }

  // On the private port: health, stats without the version, metrics.
  CHECK(http_get(scene.admin_port(), "/healthz").status == 200);
  auto stats = http_get(scene.admin_port(), "/stats");
  CHECK(stats.status == 200);
  CHECK(stats.body.find("Statistics Report") != std::string::npos);
  CHECK(stats.body.find("version 2.") == std::string::npos);
  CHECK(http_get(scene.admin_port(), "/metrics").body.find("haproxy_frontend_http_requests_total") != std::string::npos);

  // No banner: the edge's own answers name no software.
  RawConnection client(scene.port());
  REQUIRE(client.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  CHECK(client.wait_closed(10s));
  auto own = parse_responses(client.received());
  REQUIRE(own.size() == 1);
  CHECK(own[0].status == 411);
  CHECK(own[0].header("server").empty());
  CHECK(client.received().find("HAProxy") == std::string::npos);
}
