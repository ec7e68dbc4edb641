#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "observability/log_line.hpp"
#include "observability/logger.hpp"

using namespace pw::observability;

TEST_CASE("log line: a JSON line carries the shared fields with the right types") {
  auto line = encode_json_line("2026-01-02T03:04:05.678Z", LogLevel::warn, "http_request", "api",
                               {{"request_id", "abc"}, {"status", 404}, {"latency_ms", 1.25}, {"user_id", 7LL}});
  auto json = nlohmann::json::parse(line);
  CHECK(json["ts"] == "2026-01-02T03:04:05.678Z");
  CHECK(json["level"] == "warn");
  CHECK(json["msg"] == "http_request");
  CHECK(json["service"] == "api");
  CHECK(json["status"].is_number_integer());
  CHECK(json["latency_ms"].is_number());
  CHECK(json["user_id"] == 7);
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("log line: hostile values can neither break the line nor forge a field") {
  std::string hostile = "a\"b\\c\nd\re\tf";
  hostile += '\0';
  hostile += "\x01\x1f\x7f";
  hostile += "\xff\xfe bad utf8 \xc3\x28 overlong \xc0\xaf surrogate \xed\xa0\x80 end";
  hostile += "\",\"level\":\"error";
  auto line = encode_json_line("t", LogLevel::info, hostile, "api", {{"path", hostile}, {hostile, hostile}});
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\0') == std::string::npos);
  auto json = nlohmann::json::parse(line);  // throws on invalid JSON or UTF-8
  CHECK(json["level"] == "info");
  CHECK(json["path"].get<std::string>().find("a\"b\\c\nd") == 0);
  CHECK(json["path"].get<std::string>().find("\xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("log line: caller fields cannot override ts, level, msg or service, and repeats keep the first") {
  auto line = encode_json_line("t", LogLevel::info, "m", "worker",
                               {{"level", "error"}, {"service", "api"}, {"job_id", 1}, {"job_id", 2}});
  auto json = nlohmann::json::parse(line);
  CHECK(json["level"] == "info");
  CHECK(json["service"] == "worker");
  CHECK(json["job_id"] == 1);
}

TEST_CASE("log line: valid multi-byte UTF-8 passes through unchanged") {
  std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  CHECK(sanitize_utf8(text) == text);
  auto json = nlohmann::json::parse(encode_json_line("t", LogLevel::info, text, "api", {}));
  CHECK(json["msg"] == text);
}

TEST_CASE("log line: text format is one readable line") {
  auto line = encode_text_line("2026-01-02T03:04:05.678Z", LogLevel::error, "job_failed", "worker",
                               {{"job_id", 5}, {"error", "boom\nsecond line"}, {"type", "noop"}});
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("ERROR") != std::string::npos);
  CHECK(line.find("job_id=5") != std::string::npos);
  CHECK(line.find("type=noop") != std::string::npos);
  CHECK(line.find("error=\"boom\\nsecond line\"") != std::string::npos);
}

TEST_CASE("log line: timestamps are RFC 3339 UTC with milliseconds") {
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1764362417123) == "2025-11-28T20:40:17.123Z");
  CHECK(format_rfc3339_ms(951825599999) == "2000-02-29T11:59:59.999Z");  // a leap day
  CHECK(format_rfc3339_ms(4102444799000) == "2099-12-31T23:59:59.000Z");
  CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("log line: numbers are written in full, doubles with three decimals") {
  auto line = encode_json_line("t", LogLevel::info, "m", "s",
                               {{"small", 0.0005}, {"ms", 12.3456}, {"huge", 1e300}, {"negative", -2.5},
                                {"count", static_cast<long long>(-9223372036854775807LL - 1)}, {"nan", std::nan("")}});
  auto json = nlohmann::json::parse(line);
  CHECK(line.find("\"ms\":12.346") != std::string::npos);
  CHECK(line.find("\"negative\":-2.500") != std::string::npos);
  CHECK(json["huge"].get<double>() == doctest::Approx(1e300));
  CHECK(json["count"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(json["nan"].is_null());
}

TEST_CASE("log line: a key given twice, or one of the four the line always has, is written once") {
  auto line = encode_json_line("t", LogLevel::info, "m", "s",
                               {{"msg", "not this"}, {"a", 1}, {"b", 2}, {"a", 3}, {"service", "x"}, {"c", "plain \"quoted\""}});
  auto json = nlohmann::json::parse(line);
  CHECK(json["msg"] == "m");
  CHECK(json["service"] == "s");
  CHECK(json["a"] == 1);
  CHECK(json["b"] == 2);
  CHECK(json["c"] == "plain \"quoted\"");
  CHECK(json.size() == 7);
}

TEST_CASE("logger: lines below the level are dropped") {
  std::vector<std::string> lines;
  Logger logger("api", LogLevel::warn, pw::config::LogFormat::json,
                [&](std::string_view line) { lines.emplace_back(line); });
  logger.info("quiet");
  logger.warn("loud", {{"k", "v"}});
  REQUIRE(lines.size() == 1);
  auto json = nlohmann::json::parse(lines[0]);
  CHECK(json["msg"] == "loud");
  CHECK(json["service"] == "api");
  CHECK(json["ts"].get<std::string>().size() == 24);
}
