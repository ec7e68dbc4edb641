// Black-box: the attacks of an unauthenticated client on the wire, against
// the real `api` and the worker's observability port. Each was seen to take
// the service down (or to hold it hostage) before the server framed
// requests itself: an endless header section, a chunked body past the
// limit, idle connections by the thousand, a header trickle, smuggling
// shapes, pipelining, a many-range request.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "e2e/reliability_scene.hpp"
#include "support/raw_http.hpp"

using namespace pw::test;
using namespace pw::test::reliability;

namespace {

constexpr std::size_t kMiB = 1 << 20;
// The issue's bound: memory stays within this of where it started.
constexpr std::size_t kMemoryBound = 64 * kMiB;
constexpr std::size_t kFloodBytes = 100 * kMiB;

struct FloodResult {
  std::optional<RawResponse> answer;
  std::size_t sent = 0;
};

// Sends `prefix`, then `unit` over and over until 100 MB went out or the
// server stopped taking them, and returns the server's answer.
FloodResult flood(int port, const std::string& prefix, const std::string& unit) {
  RawConnection connection(port);
  std::string block;
  while (block.size() < 64 * 1024) block += unit;
  if (connection.send_all(prefix)) {
    while (connection.sent() < kFloodBytes && connection.send_all(block)) {
    }
  }
  FloodResult result;
  result.sent = connection.sent();
  result.answer = connection.read_response(60s);
  return result;
}

std::string chunked_post(const std::string& path, const std::string& extra_headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra_headers +
         "Transfer-Encoding: chunked\r\n\r\n";
}

std::string chunk(std::size_t size) {
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", size);
  return size_line + std::string(size, 'a') + "\r\n";
}

}  // namespace

TEST_CASE("hostile HTTP (binary): 100 MB of header lines is cut off with 431 and memory stays bounded, on both roles") {
  Scene scene;
  scene.start_api();
  auto [worker, worker_port] = scene.start_worker();
  INFO(scene.output());
  struct Target {
    const char* name;
    int port;
    pid_t pid;
  };
  for (const Target& target : {Target{"api", scene.port(), scene.api().pid()},
                               Target{"worker", worker_port, worker->pid()}}) {
    CAPTURE(target.name);
    const std::size_t before = resident_bytes(target.pid);
    auto result = flood(target.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Flood: 0123456789abcdef\r\n");
    REQUIRE(result.answer);
    CHECK(result.answer->status == 431);
    CHECK(result.answer->header("Connection") == "close");
    CHECK(json::parse(result.answer->body)["error"]["code"] == "request_header_fields_too_large");
    // Cut off long before the flood ended.
    CHECK(result.sent < kFloodBytes);
    CHECK(peak_resident_bytes(target.pid) < before + kMemoryBound);
    CHECK(http_get(target.port, "/healthz").status == 200);
  }
}

TEST_CASE("hostile HTTP (binary): a 100 MB chunked body is refused with 413 and memory stays bounded") {
  Scene scene;
  scene.start_api();
  INFO(scene.output());
  const auto token = scene.sign_up("chunky");
  const std::size_t before = resident_bytes(scene.api().pid());
  for (const auto& prefix : {chunked_post("/v1/users"),
                             chunked_post("/v1/worlds", "Authorization: Bearer " + token + "\r\n")}) {
    CAPTURE(prefix);
    auto result = flood(scene.port(), prefix, chunk(4096));
    REQUIRE(result.answer);
    CHECK(result.answer->status == 413);
    CHECK(json::parse(result.answer->body)["error"]["code"] == "payload_too_large");
    CHECK(result.sent < kFloodBytes);
  }
  CHECK(peak_resident_bytes(scene.api().pid()) < before + kMemoryBound);
  // A chunked body within the limit is served like any other.
  RawConnection small(scene.port());
  const std::string body = R"({"name":"chunked world"})";
  char size_line[16];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", body.size());
  REQUIRE(small.send_all(chunked_post("/v1/worlds", "Authorization: Bearer " + token + "\r\n") + size_line + body +
                         "\r\n0\r\n\r\n"));
  auto created = small.read_response();
  REQUIRE(created);
  CHECK(created->status == 201);
  CHECK(json::parse(created->body)["name"] == "chunked world");
}

TEST_CASE("hostile HTTP (binary): a client that writes a body six times the limit before it reads still gets its 413, every time") {
  Scene scene;
  scene.start_api();
  INFO(scene.output());
  const std::string body = "{\"handle\":\"" + std::string(6 * kMiB, 'a') + "\"}";
  // A client library that writes the whole request first: if the server
  // closed on the unread rest of the body, the write would fail with a reset
  // and the client would never see the answer (status 0).
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    auto response = http_request("POST", scene.port(), "/v1/users", body, "application/json", {}, 30s);
    CHECK_MESSAGE(response.status == 413, response.error);
    auto answer = json::parse(response.body, nullptr, false);
    CHECK((answer.is_object() && answer["error"]["code"] == "payload_too_large"));
  }
  CHECK(http_get(scene.port(), "/healthz").status == 200);
}

TEST_CASE("hostile HTTP (binary): while 2,000 idle connections are held open, /healthz answers within 1 s on both roles") {
  REQUIRE(raise_open_file_limit_for_test() > 4200);
  Scene scene;
  // Idle connections are kept far longer than the test runs.
  scene.start_api({"--idle-timeout", "60"});
  auto [worker, worker_port] = scene.start_worker();
  INFO(scene.output());
  for (int port : {scene.port(), worker_port}) {
    CAPTURE(port);
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 2000; ++i) idle.push_back(std::make_unique<RawConnection>(port));
    // A few that started a request and stopped (slowloris) are in the mix.
    for (int i = 0; i < 50; ++i) idle[static_cast<std::size_t>(i)]->send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int probe = 0; probe < 5; ++probe) {
      const auto started = std::chrono::steady_clock::now();
      auto health = http_get(port, "/healthz", 1s);
      const auto elapsed = std::chrono::steady_clock::now() - started;
      CHECK(health.status == 200);
      CHECK(elapsed < 1s);
    }
    // Every one of them is still open and can still be served.
    REQUIRE(idle.back()->send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto late = idle.back()->read_response();
    REQUIRE(late);
    CHECK(late->status == 200);
  }
}

TEST_CASE("hostile HTTP (binary): a header section trickled a byte at a time is cut off after the read timeout") {
  Scene scene;
  scene.start_api({"--read-timeout", "2"});
  INFO(scene.output());
  RawConnection slow(scene.port());
  REQUIRE(slow.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  const auto started = std::chrono::steady_clock::now();
  std::optional<RawResponse> answer;
  // One byte every 100 ms never completes a line: the deadline counts from
  // the request's first byte, not from the last byte seen.
  while (std::chrono::steady_clock::now() - started < 10s) {
    if (!slow.send_all("a")) break;
    answer = slow.read_response(100ms);
    if (answer) break;
  }
  REQUIRE(answer);
  CHECK(answer->status == 408);
  CHECK(std::chrono::steady_clock::now() - started < 4s);
  CHECK(slow.wait_closed(5s));
  CHECK(http_get(scene.port(), "/healthz").status == 200);
}

TEST_CASE("hostile HTTP (binary): conflicting Content-Lengths and two Authorization headers are refused with 400") {
  Scene scene;
  scene.start_api();
  INFO(scene.output());
  const auto token = scene.sign_up("smuggler");
  const auto other = scene.sign_up("victim");
  const std::string body = R"({"handle":"sneaky"})";
  for (const std::string& request : std::vector<std::string>{
           "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nContent-Length: 5\r\n\r\n" + body,
        "GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nAuthorization: Bearer " + other +
            "\r\n\r\n",
        "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}) {
    CAPTURE(request);
    RawConnection connection(scene.port());
    REQUIRE(connection.send_all(request));
    auto answer = connection.read_response();
    REQUIRE(answer);
    CHECK(answer->status == 400);
    CHECK(answer->header("Connection") == "close");
    CHECK(json::parse(answer->body)["error"]["code"] == "bad_request");
    CHECK(connection.wait_closed(5s));
  }
  // Nothing was created by the refused sign-up.
  CHECK(scene.count("SELECT count(*) FROM users WHERE handle = 'sneaky'") == 0);
}

TEST_CASE("hostile HTTP (binary): pipelined requests are all answered, in order") {
  Scene scene;
  scene.start_api();
  INFO(scene.output());
  const auto token = scene.sign_up("piper");
  RawConnection connection(scene.port());
  std::string batch;
  const std::string world = R"({"name":"piped"})";
  for (int i = 0; i < 5; ++i) {
    batch += "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-" + std::to_string(i) + "\r\n\r\n";
    batch += "POST /v1/worlds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
             "\r\nContent-Type: application/json\r\nX-Request-ID: pipe-post-" + std::to_string(i) +
             "\r\nContent-Length: " + std::to_string(world.size()) + "\r\n\r\n" + world;
  }
  REQUIRE(connection.send_all(batch));
  for (int i = 0; i < 5; ++i) {
    auto health = connection.read_response();
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->header("X-Request-ID") == "pipe-" + std::to_string(i));
    auto created = connection.read_response();
    REQUIRE(created);
    CHECK(created->status == 201);
    CHECK(created->header("X-Request-ID") == "pipe-post-" + std::to_string(i));
  }
  CHECK(scene.count("SELECT count(*) FROM worlds WHERE name = 'piped'") == 5);
  // The connection is still good for more.
  REQUIRE(connection.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto after = connection.read_response();
  REQUIRE(after);
  CHECK(after->status == 200);
}

TEST_CASE("hostile HTTP (binary): 100-continue is answered, and a many-range request gets the plain body once") {
  Scene scene;
  scene.start_api();
  INFO(scene.output());
  RawConnection connection(scene.port());
  const std::string body = R"({"handle":"patient"})";
  REQUIRE(connection.send_all("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Expect: 100-continue\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = connection.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(connection.send_all(body));
  auto created = connection.read_response();
  REQUIRE(created);
  CHECK(created->status == 201);

  // Announced too large: refused at once, before the client sends it.
  RawConnection big(scene.port());
  REQUIRE(big.send_all("POST /v1/users HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 104857600\r\n\r\n"));
  auto refused = big.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 413);

  RawConnection ranges(scene.port());
  std::string many = "bytes=0-";
  for (int i = 0; i < 500; ++i) many += ",0-";
  REQUIRE(ranges.send_all("GET /metrics HTTP/1.1\r\nHost: x\r\nRange: " + many + "\r\n\r\n"));
  auto metrics = ranges.read_response(10s);
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("http_requests_total") != std::string::npos);
  CHECK(metrics->body.size() < 1 * kMiB);
}
