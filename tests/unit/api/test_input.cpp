#include <doctest/doctest.h>

#include <string>

#include "api/auth.hpp"
#include "api/input.hpp"

using namespace pw;
using api::Refusal;

namespace {

http::Request json_request(std::string body, std::string content_type = "application/json") {
  http::Request request;
  request.method = "POST";
  request.body = std::move(body);
  request.headers.emplace_back("content-type", std::move(content_type));
  return request;
}

// The status and message of the refusal `fn` throws; 0 when it throws none.
template <class F>
std::pair<int, std::string> refusal_of(F&& fn) {
  try {
    fn();
  } catch (const Refusal& refusal) {
    return {refusal.status(), refusal.what()};
  }
  return {0, ""};
}

}  // namespace

TEST_CASE("Input: JSON bodies need application/json, with an optional UTF-8 charset") {
  CHECK(api::is_json_content_type("application/json"));
  CHECK(api::is_json_content_type("Application/JSON"));
  CHECK(api::is_json_content_type("application/json; charset=utf-8"));
  CHECK(api::is_json_content_type("application/json;charset=\"UTF-8\""));
  CHECK_FALSE(api::is_json_content_type(""));
  CHECK_FALSE(api::is_json_content_type("text/plain"));
  CHECK_FALSE(api::is_json_content_type("application/jsonp"));
  CHECK_FALSE(api::is_json_content_type("application/x-www-form-urlencoded"));
  CHECK_FALSE(api::is_json_content_type("application/json; charset=latin1"));
  CHECK_FALSE(api::is_json_content_type("application/json; garbage"));
}

TEST_CASE("Input: a body is refused with the status the contract names") {
  struct Row {
    const char* name;
    std::string body;
    std::string content_type;
    int status;
    const char* message_part;
  };
  const std::vector<Row> rows = {
      {"wrong content type", "{}", "text/plain", 415, "Content-Type"},
      {"no content type", "{}", "", 415, "Content-Type"},
      {"empty", "", "application/json", 400, "body"},
      {"malformed", "{\"a\":", "application/json", 400, "not valid JSON"},
      {"trailing garbage", "{} x", "application/json", 400, "not valid JSON"},
      {"invalid UTF-8", "{\"a\":\"\xff\xfe\"}", "application/json", 400, "UTF-8"},
      {"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", "application/json", 400, "UTF-8"},
      {"number beyond a double", "{\"a\":1e400}", "application/json", 400, "not valid JSON"},
      {"array", "[1,2]", "application/json", 400, "an array"},
      {"string", "\"x\"", "application/json", 400, "a string"},
      {"too deep", std::string(40, '[') + std::string(40, ']'), "application/json", 400, "nested deeper"},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.name));
    auto [status, message] = refusal_of([&] { api::parse_json_object(json_request(row.body, row.content_type)); });
    CHECK(status == row.status);
    CHECK(message.find(row.message_part) != std::string::npos);
  }
  CHECK(api::parse_json_object(json_request("{\"a\":1}")).at("a") == 1);
}

TEST_CASE("Input: a member given twice in one object is refused at any depth, naming it") {
  struct Row {
    const char* name;
    std::string body;
    const char* field;
  };
  const std::vector<Row> rows = {
      {"top level", R"({"loyalty":200,"loyalty":2})", "loyalty:"},
      {"same value twice", R"({"name":"a","name":"a"})", "name:"},
      {"nested", R"({"name":"Ana","traits":{"loyalty":200,"loyalty":2}})", "traits.loyalty:"},
      {"deep", R"({"a":{"b":{"c":1,"c":1}}})", "a.b.c:"},
      {"in an array", R"({"list":[{"x":1},{"y":1,"y":2}]})", "list[].y:"},
      {"escaped spelling", R"({"count":1,"co\u0075nt":100})", "count:"},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.name));
    auto [status, message] = refusal_of([&] { api::parse_json_object(json_request(row.body)); });
    CHECK(status == 400);
    CHECK(message.find(row.field) != std::string::npos);
    CHECK(message.find("more than once") != std::string::npos);
  }
  // The same name in sibling or nested objects is not a repeat.
  auto fine = api::parse_json_object(json_request(R"({"a":{"x":1},"b":{"x":2},"x":{"x":{"x":3}},"l":[{"x":1},{"x":2}]})"));
  CHECK(fine["x"]["x"]["x"] == 3);
  CHECK(fine["l"][1]["x"] == 2);
}

TEST_CASE("Input: path ids are positive canonical integers, anything else is 404") {
  auto with_id = [](std::string id) {
    http::Request request;
    request.path_params["id"] = std::move(id);
    return request;
  };
  CHECK(api::path_id(with_id("1"), "id", "world") == 1);
  CHECK(api::path_id(with_id("9223372036854775807"), "id", "world") == INT64_MAX);
  for (const char* bad : {"0", "-1", "+1", "01", "1.0", "1e3", "abc", "..", "9223372036854775808",
                          "99999999999999999999", "1 ", " 1", "0x10", "%2e%2e"}) {
    CAPTURE(std::string(bad));
    CHECK(refusal_of([&] { api::path_id(with_id(bad), "id", "world"); }).first == 404);
  }
}

TEST_CASE("Input: limit is 1..100 and defaults to 20, cursors are non-negative ids") {
  auto with_query = [](std::string name, std::string value) {
    http::Request request;
    request.query.emplace_back(std::move(name), std::move(value));
    return request;
  };
  CHECK(api::page_limit(http::Request{}) == 20);
  CHECK(api::page_limit(with_query("limit", "1")) == 1);
  CHECK(api::page_limit(with_query("limit", "100")) == 100);
  for (const char* bad : {"0", "101", "-1", "abc", "", "1.5", "99999999999999999999"}) {
    CAPTURE(std::string(bad));
    CHECK(refusal_of([&] { api::page_limit(with_query("limit", bad)); }).first == 400);
  }
  CHECK(api::query_id(http::Request{}, "cursor") == 0);
  CHECK(api::query_id(with_query("cursor", "42"), "cursor") == 42);
  CHECK(refusal_of([&] { api::query_id(with_query("cursor", "x'; --"), "cursor"); }).first == 400);
}

TEST_CASE("Input: an Idempotency-Key is 1..255 printable ASCII characters") {
  auto with_key = [](std::string key) {
    http::Request request;
    request.headers.emplace_back("idempotency-key", std::move(key));
    return request;
  };
  CHECK_FALSE(api::idempotency_key(http::Request{}));
  CHECK(api::idempotency_key(with_key("abc-123_~!")) == std::optional<std::string>("abc-123_~!"));
  CHECK(api::idempotency_key(with_key(std::string(255, 'k'))));
  for (const std::string& bad : {std::string(), std::string(256, 'k'), std::string("a b"), std::string("a\tb"),
                                 std::string("\xc3\xa9")}) {
    CHECK(refusal_of([&] { api::idempotency_key(with_key(bad)); }).first == 400);
  }
}

TEST_CASE("Input: handles are 3..32 of a-z, 0-9 and _") {
  CHECK(api::is_valid_handle("abc"));
  CHECK(api::is_valid_handle("alice_99"));
  CHECK(api::is_valid_handle(std::string(32, 'a')));
  CHECK_FALSE(api::is_valid_handle("ab"));
  CHECK_FALSE(api::is_valid_handle(std::string(33, 'a')));
  CHECK_FALSE(api::is_valid_handle("Alice"));
  CHECK_FALSE(api::is_valid_handle("al ice"));
  CHECK_FALSE(api::is_valid_handle("al-ice"));
  CHECK_FALSE(api::is_valid_handle("al'ice"));
}

TEST_CASE("Input: fields are read by rule and unknown fields are refused, naming the field") {
  auto body = nlohmann::json::parse(R"({"name":"Eden","count":5,"big":18446744073709551615,
                                        "frac":1.5,"huge":1e400,"neg":-3,"zero":0,"nested":{"x":1},"str":"5"})",
                                    nullptr, false);
  // 1e400 does not fit a double: nlohmann refuses it, so use a smaller stand-in.
  if (body.is_discarded()) {
    body = nlohmann::json::parse(R"({"name":"Eden","count":5,"big":18446744073709551615,
                                    "frac":1.5,"huge":1e300,"neg":-3,"zero":0,"nested":{"x":1},"str":"5"})");
  }
  api::TextRule rule{1, 10, true, true};
  auto refused = [&](auto&& fn) { return refusal_of(fn); };

  api::ObjectReader reader(body);
  CHECK(reader.required_text("name", rule) == "Eden");
  CHECK(reader.required_integer("count", 1, 10) == 5);
  auto big = refused([&] { reader.optional_integer("big", 0, 100); });
  CHECK(big.first == 400);
  CHECK(big.second.find("big") != std::string::npos);
  CHECK(refused([&] { reader.optional_integer("frac", 0, 100); }).first == 400);
  CHECK(refused([&] { reader.optional_integer("huge", 0, 100); }).first == 400);
  CHECK(refused([&] { reader.optional_integer("neg", 0, 100); }).first == 400);
  CHECK(refused([&] { reader.optional_integer("zero", 1, 100); }).first == 400);
  CHECK(reader.optional_integer("zero", 0, 100) == std::optional<std::int64_t>(0));
  CHECK(refused([&] { reader.optional_integer("str", 0, 100); }).first == 400);
  CHECK(refused([&] { reader.optional_text("count", rule); }).first == 400);
  CHECK(refused([&] { reader.required_text("missing", rule); }).second.find("missing: is required") == 0);
  CHECK(reader.optional_object("nested") != nullptr);

  api::ObjectReader partial(body);
  partial.required_text("name", rule);
  auto unknown = refused([&] { partial.refuse_unknown_fields(); });
  CHECK(unknown.first == 400);
  CHECK(unknown.second.find("is not a known field") != std::string::npos);
}

TEST_CASE("Input: text rules bound bytes and refuse control characters and blanks") {
  api::TextRule single{1, 5, true, true};
  api::TextRule multi{0, 20, false, false};
  CHECK(refusal_of([&] { api::check_text("f", "hello", single); }).first == 0);
  CHECK(refusal_of([&] { api::check_text("f", "", single); }).first == 400);
  CHECK(refusal_of([&] { api::check_text("f", "toolong", single); }).first == 400);
  CHECK(refusal_of([&] { api::check_text("f", "   ", single); }).first == 400);
  CHECK(refusal_of([&] { api::check_text("f", "a\nb", single); }).first == 400);
  CHECK(refusal_of([&] { api::check_text("f", std::string("a\0b", 3), single); }).first == 400);
  CHECK(refusal_of([&] { api::check_text("f", "a\nb\tc", multi); }).first == 0);
  CHECK(refusal_of([&] { api::check_text("f", "", multi); }).first == 0);
  CHECK(refusal_of([&] { api::check_text("f", "a\x01", multi); }).first == 400);
  // Bytes, not characters: two 2-byte characters and a third do not fit in 5.
  CHECK(refusal_of([&] { api::check_text("f", "\xc3\xa9\xc3\xa9\xc3\xa9", single); }).first == 400);
}

TEST_CASE("Auth: tokens are pw_ and 64 hex digits, read from a Bearer header") {
  auto token = api::new_token();
  CHECK(api::is_well_formed_token(token));
  CHECK(token != api::new_token());
  CHECK(api::token_hash(token).size() == 64);
  CHECK(api::token_hash(token) != token);
  CHECK_FALSE(api::is_well_formed_token("pw_"));
  CHECK_FALSE(api::is_well_formed_token("pw_" + std::string(64, 'G')));
  CHECK_FALSE(api::is_well_formed_token("xx_" + std::string(64, 'a')));
  CHECK(api::bearer_token("Bearer abc") == std::optional<std::string>("abc"));
  CHECK(api::bearer_token("bearer   abc ") == std::optional<std::string>("abc"));
  CHECK_FALSE(api::bearer_token("Basic abc"));
  CHECK_FALSE(api::bearer_token("Bearer"));
  CHECK_FALSE(api::bearer_token("Bearer "));
  CHECK_FALSE(api::bearer_token("Bearerabc"));
  CHECK_FALSE(api::bearer_token(""));
}
