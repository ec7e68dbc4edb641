// Black-box: the edge proxy (HAProxy running the shipped
// deploy/haproxy/haproxy.cfg) in front of the real API, attacked through its
// public port the way the hardening issue attacked the API: endless header
// lines, a 100 MB chunked body, smuggling shapes, pipelining, 2,000 idle
// connections, slowloris. After each, both processes are up, their memory
// grew by less than 64 MB and an ordinary request through the edge succeeds.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "e2e/edge_checks.hpp"
#include "e2e/edge_scene.hpp"
#include "support/raw_http.hpp"

using namespace pw::test;
using namespace pw::test::edge;

namespace {

std::string repeat(const std::string& piece, std::size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

}  // namespace

TEST_CASE("edge proxy: an endless stream of header lines after GET /healthz is cut off") {
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  RawConnection attacker(scene.port());
  const std::string lines = repeat("X-Flood: 0123456789abcdef\r\n", 4096);
  std::size_t sent = 0;
  if (attacker.send_all("GET /healthz HTTP/1.1\r\nHost: edge\r\n")) {
    while (sent < kFlood && attacker.send_all(lines)) sent += lines.size();
  }
  MESSAGE("the edge cut the header stream off after ", attacker.sent(), " bytes");
  CHECK(sent < kFlood);
  CHECK(attacker.wait_closed(10s));
  auto answers = parse_responses(attacker.received());
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
  unharmed.check();
}

TEST_CASE("edge proxy: bodies over 1 MiB are refused, a 100 MB chunked one included") {
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  // Chunked: refused at the headers (411), the connection closed.
  RawConnection chunked(scene.port());
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
  std::size_t sent = 0;
  if (chunked.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-chunked\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")) {
    while (sent < kFlood && chunked.send_all(chunk)) sent += 0x10000;
  }
  MESSAGE("the edge cut the chunked body off after ", chunked.sent(), " bytes");
  CHECK(sent < kFlood);
  CHECK(chunked.wait_closed(10s));
  auto refused = parse_responses(chunked.received());
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].status == 411);
  CHECK(refused[0].header("x-request-id") == "edge-chunked");
  CHECK(is_json_error(refused[0].body, "length_required", "edge-chunked"));

  // Content-Length over the API's limit: refused before any of it is sent.
  RawConnection announced(scene.port());
  REQUIRE(announced.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-too-large\r\n"
                             "Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n"));
  CHECK(announced.wait_closed(10s));
  auto too_large = parse_responses(announced.received());
  REQUIRE(too_large.size() == 1);
  CHECK(too_large[0].status == 413);
  CHECK(is_json_error(too_large[0].body, "payload_too_large", "edge-too-large"));

  // Exactly the limit goes through: the edge's limit is the API's.
  std::string padded = R"({"handle":"edge_exact"})";
  padded += std::string((1u << 20) - padded.size(), ' ');
  auto exact = http_request("POST", scene.port(), "/v1/users", padded, "application/json",
                            {{"X-Request-ID", "edge-exact-limit"}}, 30s);
  CHECK_MESSAGE(exact.status == 201, exact.body, exact.error);

  CHECK_FALSE(scene.api_saw("edge-chunked"));
  CHECK_FALSE(scene.api_saw("edge-too-large"));
  unharmed.check();
}

TEST_CASE("edge proxy: conflicting Content-Length and two Authorization headers get 400 and never reach the API") {
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  RawConnection conflicting(scene.port());
  REQUIRE(conflicting.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-two-lengths\r\n"
                               "Content-Type: application/json\r\nContent-Length: 18\r\nContent-Length: 5\r\n\r\n"
                               R"({"handle":"abcde"})"));
  CHECK(conflicting.wait_closed(10s));
  auto answer = parse_responses(conflicting.received());
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].status == 400);

  // Both Transfer-Encoding and Content-Length: the classic smuggling shape.
  RawConnection both(scene.port());
  REQUIRE(both.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-te-and-cl\r\n"
                        "Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "12\r\n{\"handle\":\"abcde\"}\r\n0\r\n\r\n"));
  CHECK(both.wait_closed(10s));
  auto refused = parse_responses(both.received());
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].status >= 400);
  CHECK(refused[0].status < 500);

  RawConnection two_tokens(scene.port());
  REQUIRE(two_tokens.send_all("GET /v1/worlds HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-two-tokens\r\n"
                              "Authorization: Bearer first\r\nAuthorization: Bearer second\r\n\r\n"));
  REQUIRE(two_tokens.wait_until([](const std::string& wire) { return parse_responses(wire).size() == 1; }, 10s));
  auto ambiguous = parse_responses(two_tokens.received())[0];
  CHECK(ambiguous.status == 400);
  CHECK(is_json_error(ambiguous.body, "bad_request", "edge-two-tokens"));

  for (const char* id : {"edge-two-lengths", "edge-te-and-cl", "edge-two-tokens"}) CHECK_FALSE(scene.api_saw(id));
  unharmed.check();
}

TEST_CASE("edge proxy: pipelined requests are answered in order, or the connection is closed") {
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  const std::string signup = R"({"handle":"edge_piped"})";
  RawConnection client(scene.port());
  REQUIRE(client.send_all("GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Request-ID: piped-1\r\n\r\n"
                          "GET /readyz HTTP/1.1\r\nHost: edge\r\nX-Request-ID: piped-2\r\n\r\n"
                          "POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: piped-3\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                          std::to_string(signup.size()) + "\r\n\r\n" + signup));
  // No client is left waiting: three answers, or fewer and a closed connection.
  CHECK(client.wait_until([](const std::string& wire) { return parse_responses(wire).size() == 3; }, 10s));
  auto answers = parse_responses(client.received());
  if (answers.size() < 3) {
    CHECK(client.wait_closed(1s));
    if (!answers.empty()) CHECK(answers.back().header("connection") == "close");
  }
  const std::vector<int> expected_status = {200, 200, 201};
  for (std::size_t i = 0; i < answers.size(); ++i) {
    CHECK(answers[i].header("x-request-id") == "piped-" + std::to_string(i + 1));
    CHECK(answers[i].status == expected_status[i]);
  }
  MESSAGE(answers.size(), " of 3 pipelined requests answered");
  unharmed.check();
}

TEST_CASE("edge proxy: /healthz answers within 1 s while 2,000 idle connections are held open") {
  constexpr int kIdle = 2000;
  raise_fd_limit(3 * kIdle);
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < kIdle; ++i) idle.push_back(std::make_unique<RawConnection>(scene.port()));
  // The edge holds them all (its own metrics, on the private port).
  auto current = [&] {
    auto metrics = http_get(scene.admin_port(), "/metrics", 2s).body;
    return metric_value(metrics, R"(haproxy_frontend_current_sessions{proxy="api"})").value_or(-1);
  };
  double held = 0;
  CHECK(eventually([&] { return (held = current()) >= kIdle; }, 5s));
  MESSAGE("connections held by the edge: ", held);

  const auto start = std::chrono::steady_clock::now();
  auto health = http_get(scene.port(), "/healthz", 5s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  MESSAGE("/healthz through the edge with ", kIdle, " idle connections: ", took.count(), " ms");
  CHECK(health.status == 200);
  CHECK(took < 1000ms);
  auto user = scene.sign_up_through_edge();
  CHECK_MESSAGE(user.status == 201, user.body);

  idle.clear();
  unharmed.check();
}

TEST_CASE("edge proxy: headers or a body trickled a byte at a time are cut off at the request timeout") {
  EdgeScene scene;
  INFO(scene.output());
  Unharmed unharmed(scene);

  // Each would take about 35 s at one byte per 100 ms; the shipped
  // `timeout http-request` is 10 s.
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-slow-head\r\nX-Slow: " +
                           std::string(300, 'a') + "\r\n\r\n";
  const std::string body = std::string(R"({"handle":"edge_slow"})") + std::string(330, ' ');
  RawConnection slow_head(scene.port());
  RawConnection slow_body(scene.port());
  REQUIRE(slow_body.send_all("POST /v1/users HTTP/1.1\r\nHost: edge\r\nX-Request-ID: edge-slow-body\r\n"
                             "Content-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();
  auto since_start = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  };
  std::chrono::milliseconds head_cut{0}, body_cut{0};
  bool served_meanwhile = false;
  for (std::size_t i = 0; i < std::max(head.size(), body.size()) && !(slow_head.closed() && slow_body.closed()); ++i) {
    if (i < head.size() && !slow_head.closed() && !slow_head.send_all(head.substr(i, 1))) head_cut = since_start();
    if (i < body.size() && !slow_body.closed() && !slow_body.send_all(body.substr(i, 1))) body_cut = since_start();
    slow_head.wait_closed(50ms);
    slow_body.wait_closed(50ms);
    if (slow_head.closed() && head_cut == 0ms) head_cut = since_start();
    if (slow_body.closed() && body_cut == 0ms) body_cut = since_start();
    // Meanwhile everybody else is served.
    if (i == 30) served_meanwhile = scene.sign_up_through_edge().status == 201;
  }
  MESSAGE("cut off after ", head_cut.count(), " ms (headers) and ", body_cut.count(), " ms (body)");
  CHECK(served_meanwhile);
  CHECK(slow_head.closed());
  CHECK(slow_body.closed());
  CHECK(slow_head.sent() < head.size());
  CHECK(slow_body.sent() < body.size() + 200);
  // Not before the timeout: it is the timeout that cut them off.
  CHECK(head_cut >= 9500ms);
  CHECK(body_cut >= 9500ms);
  auto head_answer = parse_responses(slow_head.received());
  if (!head_answer.empty()) CHECK(head_answer[0].status == 408);
  auto body_answer = parse_responses(slow_body.received());
  REQUIRE(body_answer.size() == 1);
  CHECK(body_answer[0].status == 408);
  CHECK(is_json_error(body_answer[0].body, "request_timeout", "edge-slow-body"));
  CHECK_FALSE(scene.api_saw("edge-slow-head"));
  CHECK_FALSE(scene.api_saw("edge-slow-body"));
  unharmed.check();
}
