#include <doctest/doctest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/request_id.hpp"

using namespace pw::http;

TEST_CASE("request id: a valid X-Request-ID is kept") {
  CHECK(choose_request_id("abc-123_x.y", "") == "abc-123_x.y");
  CHECK(choose_request_id(std::string(128, 'a'), "") == std::string(128, 'a'));
}

TEST_CASE("request id: invalid X-Request-IDs fall back to traceparent, then a fresh id") {
  std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK(choose_request_id("has space", traceparent) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(choose_request_id(std::string(129, 'a'), traceparent) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(choose_request_id("", traceparent) == "4bf92f3577b34da6a3ce929d0e0e4736");
  auto fresh = choose_request_id("a\"b", "");
  CHECK(fresh.size() == 32);
  CHECK(fresh.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(choose_request_id("", "") != choose_request_id("", ""));
}

TEST_CASE("request id: traceparent must be a well-formed version 00 header") {
  CHECK(trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
  CHECK_FALSE(trace_id_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  CHECK_FALSE(trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  CHECK_FALSE(trace_id_from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(trace_id_from_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
  CHECK_FALSE(trace_id_from_traceparent(""));
}

TEST_CASE("request id: fresh ids are unique across threads, 32 lower-case hex digits, never all zero") {
  constexpr int kThreads = 8;
  constexpr int kEach = 5000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) drawn[static_cast<std::size_t>(t)].push_back(generate_request_id());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& ids : drawn) {
    for (const auto& id : ids) {
      CHECK(id.size() == 32);
      CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
      CHECK(id.find_first_not_of('0') != std::string::npos);
      all.insert(id);
    }
  }
  CHECK(all.size() == static_cast<std::size_t>(kThreads * kEach));
}
