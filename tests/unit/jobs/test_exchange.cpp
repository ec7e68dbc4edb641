#include <doctest/doctest.h>

#include <string>

#include "webhook/exchange.hpp"

using namespace pw::webhook;

namespace {

// Feeds a header section line by line, as curl hands it over.
bool feed(ResponseMeter& meter, const std::string& section) {
  std::size_t at = 0;
  while (at < section.size()) {
    const auto end = section.find('\n', at);
    const auto line = section.substr(at, end == std::string::npos ? std::string::npos : end + 1 - at);
    if (!meter.on_header_line(line)) return false;
    at += line.size();
  }
  return true;
}

}  // namespace

TEST_CASE("Webhook: a receiver's status decides between done, retry and dead") {
  CHECK(outcome_of_status(200) == Outcome::delivered);
  CHECK(outcome_of_status(204) == Outcome::delivered);
  CHECK(outcome_of_status(500) == Outcome::retryable);
  CHECK(outcome_of_status(503) == Outcome::retryable);
  CHECK(outcome_of_status(408) == Outcome::retryable);
  CHECK(outcome_of_status(429) == Outcome::retryable);
  CHECK(outcome_of_status(400) == Outcome::permanent);
  CHECK(outcome_of_status(404) == Outcome::permanent);
  CHECK(outcome_of_status(410) == Outcome::permanent);
  CHECK(outcome_of_status(301) == Outcome::permanent);
}

TEST_CASE("Webhook exchange: the final response's status counts once its header section is complete") {
  ResponseMeter meter;
  CHECK(feed(meter, "HTTP/1.1 100 Continue\r\n\r\n"));
  CHECK(meter.status() == 0);  // an interim response decides nothing
  CHECK(feed(meter, "HTTP/1.1 204 No Content\r\nX-A: b\r\n"));
  CHECK(meter.status() == 0);  // the section is not complete yet
  CHECK(feed(meter, "\r\n"));
  CHECK(meter.status() == 204);
  auto result = judge(meter, Ending::completed, "");
  CHECK(result.outcome == Outcome::delivered);
  CHECK(result.status == 204);
  CHECK(result.detail == "receiver answered 204");

  ResponseMeter redirect;
  CHECK(feed(redirect, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\n\r\n"));
  auto moved = judge(redirect, Ending::completed, "");
  CHECK(moved.outcome == Outcome::permanent);
  CHECK(moved.status == 302);
}

TEST_CASE("Webhook exchange: the header section has a byte budget, interim responses and trailers included") {
  ResponseMeter flood(ResponseLimits{1024, 1024});
  CHECK(flood.on_header_line("HTTP/1.1 200 OK\r\n"));
  bool reading = true;
  int lines = 0;
  while (reading && lines < 10000) {
    reading = flood.on_header_line("X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    ++lines;
  }
  CHECK_FALSE(reading);
  CHECK(lines < 20);  // stopped right past 1 KiB
  CHECK(flood.headers_over_budget());
  auto result = judge(flood, Ending::over_budget, "");
  CHECK(result.outcome == Outcome::retryable);
  CHECK(result.status == 0);
  CHECK(result.detail == "the receiver's header section passed 1024 bytes");

  ResponseMeter interim(ResponseLimits{1024, 1024});
  int sections = 0;
  while (feed(interim, "HTTP/1.1 100 Continue\r\n\r\n") && sections < 10000) ++sections;
  CHECK(sections < 100);
  CHECK(interim.status() == 0);

  ResponseMeter trailers(ResponseLimits{1024, 1024});
  CHECK(feed(trailers, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(trailers.on_body(10));
  while (trailers.on_header_line("X-Trailer: cccccccccccccccccccccccccccccccccccccccccc\r\n")) {
  }
  auto delivered = judge(trailers, Ending::over_budget, "");
  CHECK(delivered.outcome == Outcome::delivered);
  CHECK(delivered.detail.find("trailers passed 1024 bytes") != std::string::npos);
}

TEST_CASE("Webhook exchange: the body is dropped up to its budget and never changes the status's outcome") {
  ResponseMeter ok(ResponseLimits{1024, 4096});
  CHECK(feed(ok, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n"));
  CHECK(ok.on_body(4096));
  CHECK_FALSE(ok.on_body(1));
  CHECK(ok.body_over_budget());
  auto delivered = judge(ok, Ending::over_budget, "");
  CHECK(delivered.outcome == Outcome::delivered);
  CHECK(delivered.status == 200);
  CHECK(delivered.detail == "receiver answered 200 (the rest of its body was dropped after 4096 bytes)");

  ResponseMeter failing(ResponseLimits{1024, 4096});
  CHECK(feed(failing, "HTTP/1.1 503 Service Unavailable\r\n\r\n"));
  while (failing.on_body(1000)) {
  }
  CHECK(judge(failing, Ending::over_budget, "").outcome == Outcome::retryable);

  // A body that trickles past the deadline after a 2xx: the receiver took it.
  ResponseMeter slow_body;
  CHECK(feed(slow_body, "HTTP/1.1 202 Accepted\r\n\r\n"));
  auto late = judge(slow_body, Ending::timed_out, "timed out after 1500 ms");
  CHECK(late.outcome == Outcome::delivered);
  CHECK(late.detail == "receiver answered 202 (its body was cut off: timed out after 1500 ms)");
}

TEST_CASE("Webhook exchange: without a complete header section every ending is retried") {
  ResponseMeter trickled;
  CHECK(trickled.on_header_line("HTTP/1.1 200 OK\r\n"));  // then nothing more by the deadline
  auto timed_out = judge(trickled, Ending::timed_out, "timed out after 1500 ms");
  CHECK(timed_out.outcome == Outcome::retryable);
  CHECK(timed_out.status == 0);
  CHECK(timed_out.detail == "no complete response: timed out after 1500 ms");

  ResponseMeter silent;
  auto stopped = judge(silent, Ending::stopped, "");
  CHECK(stopped.outcome == Outcome::retryable);
  CHECK(stopped.detail == "delivery abandoned: the worker is stopping");
  auto refused = judge(silent, Ending::failed, "Couldn't connect to server");
  CHECK(refused.outcome == Outcome::retryable);
  CHECK(refused.detail == "delivery failed: Couldn't connect to server");
}
