// The delivery client against receivers that misbehave on the wire. Each
// attempt must end by its deadline (bounds asserted with the acceptance
// figure: the timeout + 1 s), read no more than its byte budgets, never
// follow a redirect, and end at once when asked to stop.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "unit/jobs/raw_receiver.hpp"
#include "webhook/client.hpp"
#include "webhook/network_libraries.hpp"

using namespace pw::webhook;
using pw::test::ReceivedConnection;
using pw::test::RawReceiver;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Polls `done` every 5 ms, for at most `limit`.
void wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

pw::config::WebhookConfig loopback_allowed(int timeout_ms) {
  pw::config::WebhookConfig config;
  config.allow_private = true;
  config.timeout_ms = timeout_ms;
  return config;
}

struct Attempt {
  DeliveryResult result;
  Clock::duration took;
};

Attempt attempt(const std::string& url, int timeout_ms, const StopCheck& stop = {},
                const std::string& request_id = "trace-1") {
  const auto start = Clock::now();
  auto result = deliver(Delivery{url, R"({"a":1})", request_id, "delivery-1"}, loopback_allowed(timeout_ms), stop);
  return Attempt{std::move(result), Clock::now() - start};
}

void trickle_forever(ReceivedConnection& c) {
  c.read_request();
  const std::string head = "HTTP/1.1 200 OK\r\nX-Slow: ";
  for (std::size_t i = 0;; ++i) {
    const char byte = i < head.size() ? head[i] : 'a';
    if (!c.send(std::string_view(&byte, 1)) || !c.pause(100ms)) return;
  }
}

}  // namespace

TEST_CASE("Webhook client: a receiver that trickles its status line and headers cannot stretch the attempt") {
  NetworkLibraries libraries;
  RawReceiver receiver(trickle_forever);
  auto ended = attempt(receiver.url(), 1000);
  CHECK(ended.result.outcome == Outcome::retryable);
  CHECK(ended.result.status == 0);
  CHECK(ended.result.detail.find("no complete response: timed out after") == 0);
  CHECK(ended.result.address == "127.0.0.1");
  CHECK(ended.took < 1000ms + 1s);
}

TEST_CASE("Webhook client: endless header lines stop at the header budget") {
  NetworkLibraries libraries;
  RawReceiver receiver([](ReceivedConnection& c) {
    if (!c.read_request() || !c.send("HTTP/1.1 200 OK\r\n")) return;
    std::string lines;
    for (int i = 0; i < 64; ++i) lines += "X-Flood: " + std::string(100, 'a') + "\r\n";
    while (c.send(lines)) {
    }
  });
  auto ended = attempt(receiver.url(), 5000);
  CHECK(ended.result.outcome == Outcome::retryable);
  CHECK(ended.result.detail == "the receiver's header section passed 16384 bytes");
  CHECK(ended.took < 5000ms + 1s);
}

TEST_CASE("Webhook client: endless interim responses stop at the header budget") {
  NetworkLibraries libraries;
  RawReceiver receiver([](ReceivedConnection& c) {
    c.read_request();
    while (c.send("HTTP/1.1 100 Continue\r\n\r\n")) {
    }
  });
  auto ended = attempt(receiver.url(), 5000);
  CHECK(ended.result.outcome == Outcome::retryable);
  CHECK(ended.result.detail == "the receiver's header section passed 16384 bytes");
}

TEST_CASE("Webhook client: an endless body after 200 is dropped at its budget and the webhook is delivered") {
  NetworkLibraries libraries;
  RawReceiver receiver([](ReceivedConnection& c) {
    c.read_request();
    if (!c.send("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")) return;
    const std::string chunk(16 * 1024, 'b');
    while (c.send(chunk)) {
    }
  });
  auto ended = attempt(receiver.url(), 5000);
  CHECK(ended.result.outcome == Outcome::delivered);
  CHECK(ended.result.status == 200);
  CHECK(ended.result.detail == "receiver answered 200 (the rest of its body was dropped after 65536 bytes)");
  CHECK(ended.took < 5000ms + 1s);
}

TEST_CASE("Webhook client: a receiver that never answers times out, retryably") {
  NetworkLibraries libraries;
  RawReceiver receiver([](ReceivedConnection& c) {
    c.read_request();
    c.hold();
  });
  auto ended = attempt(receiver.url(), 800);
  CHECK(ended.result.outcome == Outcome::retryable);
  CHECK(ended.result.detail.find("timed out") != std::string::npos);
  CHECK(ended.took < 800ms + 1s);
}

TEST_CASE("Webhook client: a redirect is never followed") {
  NetworkLibraries libraries;
  RawReceiver elsewhere([](ReceivedConnection& c) {
    c.read_request();
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  const std::string location = elsewhere.url();
  RawReceiver redirecting([&location](ReceivedConnection& c) {
    c.read_request();
    c.send("HTTP/1.1 302 Found\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n");
  });
  auto ended = attempt(redirecting.url(), 5000);
  CHECK(ended.result.outcome == Outcome::permanent);
  CHECK(ended.result.status == 302);
  CHECK(redirecting.accepted() == 1);
  CHECK(elsewhere.accepted() == 0);
}

TEST_CASE("Webhook client: a stop request ends a stuck delivery at once") {
  NetworkLibraries libraries;
  RawReceiver receiver(trickle_forever);
  std::atomic<bool> stop{false};
  Clock::time_point stopped_at{};
  std::jthread stopper([&] {
    wait_until([&] { return receiver.accepted() > 0; }, 10s);
    stopped_at = Clock::now();
    stop = true;
  });
  auto ended = attempt(receiver.url(), 60000, [&] { return stop.load(); });
  const auto returned_at = Clock::now();
  stopper.join();
  CHECK(ended.result.outcome == Outcome::retryable);
  CHECK(ended.result.detail == "delivery abandoned: the worker is stopping");
  CHECK(returned_at - stopped_at < 1s);
}

TEST_CASE("Webhook client: the request carries its headers, and a header value cannot add headers") {
  NetworkLibraries libraries;
  RawReceiver receiver([](ReceivedConnection& c) {
    c.read_request();
    c.send("HTTP/1.1 204 No Content\r\n\r\n");
  });
  auto ok = attempt(receiver.url(), 5000, {}, "trace-7");
  CHECK(ok.result.outcome == Outcome::delivered);
  auto injected = attempt(receiver.url(), 5000, {}, "trace\r\nX-Injected: 1");
  CHECK(injected.result.outcome == Outcome::delivered);
  const std::string requests = receiver.requests();
  CHECK(requests.find("POST /hook HTTP/1.1\r\n") == 0);
  CHECK(requests.find("X-Request-ID: trace-7\r\n") != std::string::npos);
  CHECK(requests.find("X-PersonaWorlds-Delivery: delivery-1\r\n") != std::string::npos);
  CHECK(requests.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(requests.find("{\"a\":1}") != std::string::npos);
  CHECK(requests.find("X-Injected") == std::string::npos);
  CHECK(requests.find("Expect:") == std::string::npos);
}

TEST_CASE("Webhook client: an IPv6 destination is reached at its checked address") {
  NetworkLibraries libraries;
  RawReceiver receiver(
      [](ReceivedConnection& c) {
        c.read_request();
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      },
      RawReceiver::Family::v6);
  auto ended = attempt(receiver.url(), 5000);
  CHECK(ended.result.outcome == Outcome::delivered);
  CHECK(ended.result.address == "::1");
  CHECK(receiver.requests().find("Host: [::1]:" + std::to_string(receiver.port()) + "\r\n") != std::string::npos);
}
