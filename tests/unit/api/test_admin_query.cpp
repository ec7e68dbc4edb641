// The operator console's request parsing: RFC 3339 times, the job list's
// query parameters and the bulk actions' bodies.
#include <doctest/doctest.h>

#include "api/admin_query.hpp"
#include "api/input.hpp"

using namespace pw;
using pw::api::parse_rfc3339_ms;

namespace {

http::Request query(std::vector<std::pair<std::string, std::string>> params) {
  http::Request request;
  request.method = "GET";
  request.path = "/admin/v1/jobs";
  request.query = std::move(params);
  return request;
}

http::Request body(const std::string& text) {
  http::Request request;
  request.method = "POST";
  request.path = "/admin/v1/jobs:cancel";
  request.body = text;
  request.headers = {{"content-type", "application/json"}};
  return request;
}

std::string refusal_code(const http::Request& request, bool bulk = false) {
  try {
    if (bulk) {
      api::admin_bulk_request(request);
    } else {
      api::admin_job_query(request);
    }
  } catch (const api::Refusal& refusal) {
    return std::to_string(refusal.status()) + " " + refusal.code() + " " + refusal.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("admin query: RFC 3339 times become Unix milliseconds, in any offset") {
  CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339_ms("2023-11-14T22:13:20Z") == 1'700'000'000'000);
  CHECK(parse_rfc3339_ms("2023-11-14t22:13:20.5z") == 1'700'000'000'500);
  CHECK(parse_rfc3339_ms("2023-11-14T23:13:20.123456789+01:00") == 1'700'000'000'123);
  CHECK(parse_rfc3339_ms("2023-11-14T21:13:20-01:00") == 1'700'000'000'000);
  CHECK(parse_rfc3339_ms("2024-02-29T00:00:00Z").has_value());
  REQUIRE(parse_rfc3339_ms("1960-06-01T00:00:00Z").has_value());
  CHECK(*parse_rfc3339_ms("1960-06-01T00:00:00Z") == -302'486'400'000);
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-02-29T00:00:00Z",
                          "2023-13-01T00:00:00Z", "2023-00-10T00:00:00Z", "2023-01-32T00:00:00Z",
                          "2023-01-01T24:00:00Z", "2023-01-01T23:60:00Z", "2023-01-01T23:59:60Z",
                          "2023-01-01T00:00:00.Z", "2023-01-01T00:00:00.1234567890Z", "2023-01-01T00:00:00+24:00",
                          "2023-01-01T00:00:00+0100", "+2023-01-01T00:00:00Z", "2023-01-01T00:00:00Z ",
                          "1700000000", "２０２３-01-01T00:00:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339_ms(bad).has_value());
  }
}

TEST_CASE("admin query: the job list's parameters, each checked and named when refused") {
  auto filter = api::admin_job_query(query({{"state", "dead"},
                                            {"type", "noop"},
                                            {"created_after", "1970-01-01T00:00:01Z"},
                                            {"created_before", "1970-01-01T00:00:02Z"},
                                            {"error", "50% _done_"},
                                            {"trace_id", "t-1"},
                                            {"cursor", "42"},
                                            {"limit", "200"}}));
  CHECK(filter.state == queue::JobState::dead);
  CHECK(filter.type == "noop");
  CHECK(filter.created_from_ms == 1000);
  CHECK(filter.created_before_ms == 2000);
  CHECK(filter.error_contains == "50% _done_");
  CHECK(filter.trace_id == "t-1");
  CHECK(filter.before_id == 42);
  CHECK(filter.limit == 200);

  auto defaults = api::admin_job_query(query({{"state", ""}, {"type", ""}}));
  CHECK_FALSE(defaults.state.has_value());
  CHECK_FALSE(defaults.type.has_value());
  CHECK(defaults.limit == api::default_admin_page_limit);

  CHECK(refusal_code(query({{"order", "id"}})).starts_with("400 invalid_parameter order:"));
  CHECK(refusal_code(query({{"limit", "1"}, {"limit", "2"}})).starts_with("400 invalid_parameter limit:"));
  CHECK(refusal_code(query({{"limit", "0"}})).starts_with("400 invalid_parameter limit:"));
  CHECK(refusal_code(query({{"limit", "201"}})).starts_with("400 invalid_parameter limit:"));
  CHECK(refusal_code(query({{"cursor", "0"}})).starts_with("400 invalid_parameter cursor:"));
  CHECK(refusal_code(query({{"cursor", "9223372036854775808"}})).starts_with("400 invalid_parameter cursor:"));
  CHECK(refusal_code(query({{"cursor", "9223372036854775807"}})) == "accepted");
  CHECK(refusal_code(query({{"state", "Dead"}})).starts_with("400 invalid_parameter state:"));
  CHECK(refusal_code(query({{"type", std::string(101, 't')}})).starts_with("400 invalid_parameter type:"));
  CHECK(refusal_code(query({{"error", std::string(200, 'e')}})) == "accepted");
  // Characters, not bytes: 200 three-byte characters pass, 201 do not.
  std::string checks;
  for (int i = 0; i < 200; ++i) checks += "\xe2\x9c\x93";
  CHECK(refusal_code(query({{"error", checks}})) == "accepted");
  CHECK(refusal_code(query({{"error", checks + "x"}})).starts_with("400 invalid_parameter error:"));
  CHECK(refusal_code(query({{"error", "\xff"}})).starts_with("400 invalid_parameter error:"));
  CHECK(refusal_code(query({{"trace_id", std::string("a\0b", 3)}})).starts_with("400 invalid_parameter trace_id:"));
  CHECK(refusal_code(query({{"created_after", "yesterday"}})).starts_with("400 invalid_parameter created_after:"));
}

TEST_CASE("admin query: a bulk body holds the same filter and max, nothing else") {
  auto bulk = api::admin_bulk_request(body(R"({"state":"dead","type":"noop","error":"x","max":7})"));
  CHECK(bulk.filter.state == queue::JobState::dead);
  CHECK(bulk.filter.type == "noop");
  CHECK(bulk.filter.error_contains == "x");
  CHECK(bulk.max == 7);
  CHECK(api::admin_bulk_request(body("{}")).max == api::max_bulk_jobs);
  CHECK(refusal_code(body(R"({"max":0})"), true).starts_with("400 invalid_request max:"));
  CHECK(refusal_code(body(R"({"max":1001})"), true).starts_with("400 invalid_request max:"));
  CHECK(refusal_code(body(R"({"limit":5})"), true).starts_with("400 invalid_request limit:"));
  CHECK(refusal_code(body(R"({"state":"zombie"})"), true).starts_with("400 invalid_request state:"));
  CHECK(refusal_code(body(R"({"created_before":"2026-13-01T00:00:00Z"})"), true)
            .starts_with("400 invalid_request created_before:"));
  CHECK(refusal_code(body("{\"type\":\"" + std::string(70 * 1024, 'a') + "\"}"), true)
            .starts_with("413 payload_too_large"));
  auto wrong_type = body("{}");
  wrong_type.headers = {{"content-type", "text/plain"}};
  CHECK(refusal_code(wrong_type, true).starts_with("415 "));
}
