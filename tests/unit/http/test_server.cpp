#include <doctest/doctest.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "http/server.hpp"

using namespace pw;

namespace {

struct Fixture {
  std::vector<std::string> lines;
  std::mutex mutex;
  observability::Logger logger{"api", observability::LogLevel::debug, config::LogFormat::json,
                               [this](std::string_view line) {
                                 std::lock_guard lock(mutex);
                                 lines.emplace_back(line);
                               }};
  observability::Metrics metrics{"api", {}};
  config::HttpConfig http_config = [] {
    config::HttpConfig c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.threads = 4;
    c.max_body_bytes = 1024;
    return c;
  }();
  http::Server server{http_config, logger, metrics};
  std::unique_ptr<httplib::Client> client;

  void start() {
    int port = server.start();
    client = std::make_unique<httplib::Client>("127.0.0.1", port);
  }

  std::vector<nlohmann::json> logged() {
    // The access line is written after the response; give it a moment.
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mutex);
        if (!lines.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard lock(mutex);
    std::vector<nlohmann::json> out;
    for (const auto& line : lines) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

}  // namespace

TEST_CASE("http server: routes by template and logs one access line with the template") {
  Fixture f;
  f.server.route("GET", "/v1/worlds/{id}", [](const http::Request& request) {
    request.user_id = 9;
    return http::Response::json(200, {{"id", request.path_params.at("id")}});
  });
  f.start();
  auto res = f.client->Get("/v1/worlds/17", {{"X-Request-ID", "req-1"}});
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("X-Request-ID") == "req-1");
  CHECK(nlohmann::json::parse(res->body)["id"] == "17");
  f.server.stop();
  auto lines = f.logged();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["msg"] == "http_request");
  CHECK(lines[0]["route"] == "/v1/worlds/{id}");
  CHECK(lines[0]["method"] == "GET");
  CHECK(lines[0]["status"] == 200);
  CHECK(lines[0]["request_id"] == "req-1");
  CHECK(lines[0]["user_id"] == 9);
  CHECK(lines[0]["latency_ms"].is_number());
}

TEST_CASE("http server: a client that accepts br and gzip gets gzip, and one that accepts only br gets no encoding") {
  Fixture f;
  f.http_config.max_body_bytes = 1 << 20;
  const std::string text(20000, 'x');
  f.server.route("GET", "/page", [&](const http::Request&) { return http::Response::json(200, {{"text", text}}); });
  f.start();
  f.client->set_decompress(false);
  auto both = f.client->Get("/page", {{"Accept-Encoding", "gzip, deflate, br"}});
  REQUIRE(both);
  CHECK(both->status == 200);
  CHECK(both->get_header_value("Content-Encoding") == "gzip");
  CHECK(both->body.size() < text.size() / 10);
  for (const char* only_brotli : {"br", "BR;q=1.0", "identity, br"}) {
    CAPTURE(only_brotli);
    auto plain = f.client->Get("/page", {{"Accept-Encoding", only_brotli}});
    REQUIRE(plain);
    CHECK(plain->status == 200);
    CHECK(!plain->has_header("Content-Encoding"));
    CHECK(nlohmann::json::parse(plain->body)["text"] == text);
  }
  f.server.stop();
}

TEST_CASE("http server: unknown routes are a JSON 404, wrong methods a JSON 405 with Allow") {
  Fixture f;
  f.server.route("GET", "/things", [](const http::Request&) { return http::Response::json(200, {}); });
  f.start();
  auto missing = f.client->Get("/nothing/here");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto body = nlohmann::json::parse(missing->body);
  CHECK(body["error"]["code"] == "not_found");
  CHECK(body["error"]["request_id"] == missing->get_header_value("X-Request-ID"));
  auto wrong = f.client->Delete("/things");
  REQUIRE(wrong);
  CHECK(wrong->status == 405);
  CHECK(wrong->get_header_value("Allow") == "GET");
  CHECK(nlohmann::json::parse(wrong->body)["error"]["code"] == "method_not_allowed");
  f.server.stop();
  for (const auto& line : f.logged()) {
    if (line["status"] == 404) CHECK(line["route"] == "unmatched");
  }
  auto text = f.metrics.scrape();
  CHECK(text.find("/nothing/here") == std::string::npos);
}

TEST_CASE("http server: a throwing handler is a JSON 500 that leaks nothing, logged once") {
  Fixture f;
  f.server.route("GET", "/boom", [](const http::Request&) -> http::Response {
    throw std::runtime_error("secret internal detail");
  });
  f.start();
  auto res = f.client->Get("/boom");
  REQUIRE(res);
  CHECK(res->status == 500);
  CHECK(res->body.find("secret") == std::string::npos);
  for (const auto& header : res->headers) CHECK(header.second.find("secret") == std::string::npos);
  CHECK(nlohmann::json::parse(res->body)["error"]["code"] == "internal");
  f.server.stop();
  int failures = 0;
  for (const auto& line : f.logged()) {
    if (line["msg"] == "handler_failed") {
      ++failures;
      CHECK(line["error"] == "secret internal detail");
    }
  }
  CHECK(failures == 1);
}

TEST_CASE("http server: a body over the limit is a JSON 413") {
  Fixture f;
  f.server.route("POST", "/echo", [](const http::Request& r) { return http::Response::json(200, {{"n", r.body.size()}}); });
  f.start();
  auto ok = f.client->Post("/echo", std::string(100, 'x'), "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  auto big = f.client->Post("/echo", std::string(4096, 'x'), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(nlohmann::json::parse(big->body)["error"]["code"] == "payload_too_large");
  CHECK_FALSE(big->get_header_value("X-Request-ID").empty());
}

TEST_CASE("http server: an invalid X-Request-ID is replaced, and hostile paths keep log lines valid") {
  Fixture f;
  f.start();
  auto res = f.client->Get("/a%22b%0Ac%00d%FF", {{"X-Request-ID", "bad id\"with quote"}});
  REQUIRE(res);
  CHECK(res->status == 404);
  auto id = res->get_header_value("X-Request-ID");
  CHECK(id.size() == 32);
  f.server.stop();
  auto lines = f.logged();  // parse() throws if any line is not valid JSON
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back()["request_id"] == id);
}

TEST_CASE("http server: stop() lets an in-flight request finish") {
  Fixture f;
  std::atomic<bool> entered{false};
  f.server.route("GET", "/slow", [&](const http::Request&) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return http::Response::json(200, {{"done", true}});
  });
  f.start();
  std::optional<int> status;
  std::thread caller([&] {
    auto res = f.client->Get("/slow");
    if (res) status = res->status;
  });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  f.server.stop();
  caller.join();
  REQUIRE(status.has_value());
  CHECK(*status == 200);
}

TEST_CASE("http server: the kernel's accept queue is deep enough for a burst of connections") {
  Fixture f;
  f.start();
  // ss reports a listening socket's accept-queue size in its Send-Q column.
  const std::string command = "ss -ltnH 'sport = :" + std::to_string(f.server.port()) + "' 2>/dev/null";
  std::string listing;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) listing += buffer;
    ::pclose(pipe);
  }
  if (listing.empty()) {
    MESSAGE("SKIPPED: cannot list listening sockets with ss (iproute2)");
    return;
  }
  std::istringstream fields(listing);
  std::string state;
  long queued = 0;
  long queue_size = 0;
  fields >> state >> queued >> queue_size;
  CHECK(state == "LISTEN");
  long somaxconn = 4096;
  std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;
  // httplib alone listens with 5: a reconnect storm then waits out SYN retries.
  CHECK(queue_size == std::min(1024L, somaxconn));
}

TEST_CASE("http server: requests that arrive while stop() runs are served or closed, never refused as overloaded") {
  // Keep-alive clients keep requests coming while the server stops; a
  // request the server has read whole before its listener closes is one it
  // took, so it is answered. Nothing is 503: the pool has room for all.
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    Fixture f;
    f.http_config.threads = 2;
    f.server.route("GET", "/quick", [](const http::Request&) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return http::Response::json(200, {{"ok", true}});
    });
    const int port = f.server.start();
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::mutex statuses_mutex;
    std::map<int, int> statuses;
    std::vector<std::thread> clients;
    for (int c = 0; c < 6; ++c) {
      clients.emplace_back([&] {
        while (!stop) {
          httplib::Client client("127.0.0.1", port);
          client.set_keep_alive(true);
          client.set_connection_timeout(1);
          client.set_read_timeout(5);
          while (!stop) {
            auto res = client.Get("/quick");
            if (!res) break;  // closed by the stop: not an answer
            ++answered;
            std::lock_guard lock(statuses_mutex);
            ++statuses[res->status];
          }
        }
      });
    }
    while (answered < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    f.server.stop();
    stop = true;
    for (auto& client : clients) client.join();
    std::lock_guard lock(statuses_mutex);
    CHECK_MESSAGE(statuses.count(503) == 0, statuses[503], " requests refused with 503");
    CHECK(statuses[200] >= 50);
  }
}
