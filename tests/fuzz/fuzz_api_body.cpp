// Every JSON body a POST route reads, through the real handlers and their
// error boundary, over a real migrated database in a temporary folder.
//
// The input picks a route and a Content-Type, may carry an Idempotency-Key,
// and the rest is the body. An oracle written from docs/openapi.yaml (not
// from src/api/) says what the answer must be: 415, 400, 409, 422, 429 (the
// per-user limits at their defaults) or success; the
// handler must agree, never throw, and a success must echo what was sent. A
// keyed success is sent again and must replay byte for byte, creating nothing.
//
// Input: byte 0 = route, byte 1 = flags (bits 0-1 content type, bit 2 key,
// bit 3 replay), then "<key>\n" when bit 2 is set, then the body.
//
// No network: a callback_url whose host is a name rather than an address
// literal would be resolved, so such inputs are skipped.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/routes.hpp"
#include "db/statement.hpp"
#include "jobs/contract.hpp"
#include "db/connection.hpp"
#include "http/server.hpp"
#include "migrations/migrator.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "webhook/destination.hpp"

namespace {

using nlohmann::json;
using namespace pw;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "fuzz_api_body: " << why << "\n";
  std::abort();
}

// A database, the routes, one user with one world; wiped of what the inputs
// create every few hundred runs so a long run stays small.
struct Harness {
  std::filesystem::path dir;
  config::ApiConfig config;
  observability::Logger logger{"api", observability::LogLevel::error, config::LogFormat::json,
                               [](std::string_view) {}};
  observability::Metrics metrics{"api", jobs::job_kinds()};
  queue::ManualClock clock;
  std::unique_ptr<storage::Storage> storage;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<db::Connection> inspector;
  std::string token;
  std::int64_t user_id = 0;
  std::int64_t world_id = 0;
  long runs = 0;
  long inputs = 0;

  Harness() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/pw-fuzz-api-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) fail("mkdtemp failed");
    dir = pattern;
    config.db.path = (dir / "fuzz.db").string();
    config.webhook.allow_private = false;
    inspector = std::make_unique<db::Connection>(config.db);
    migrations::Migrator(*inspector, migrations::embedded()).apply_pending();
    storage = storage::open_storage(config.db, 1, {clock, config.retry, {}});
    server = std::make_unique<http::Server>(config.http, logger, metrics);
    api::register_routes(*server, api::Dependencies{config, *storage, clock, logger, metrics});

    auto user = call("POST", "/v1/users", R"({"handle":"fuzzer"})", {{"content-type", "application/json"}});
    if (user.status != 201) fail("setup: sign-up answered " + std::to_string(user.status));
    auto user_body = json::parse(user.body);
    token = user_body["token"];
    user_id = user_body["user"]["id"];
    auto world = call("POST", "/v1/worlds", R"({"name":"w","seed":1})",
                      {{"content-type", "application/json"}, {"authorization", "Bearer " + token}});
    if (world.status != 201) fail("setup: world answered " + std::to_string(world.status));
    world_id = json::parse(world.body)["id"];
  }

  ~Harness() {
    server.reset();
    storage.reset();
    inspector.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  http::Response call(const std::string& method, const std::string& path, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers) {
    http::Request request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.request_id = "fuzz-" + std::to_string(++runs);
    request.headers = std::move(headers);
    auto match = server->router().match(method, path);
    if (match.route == nullptr) fail("no route for " + path);
    request.route = match.route->pattern;
    request.path_params = match.params;
    // An exception escaping here would be a 500: the fuzzer reports it.
    return match.route->handler(request);
  }

  std::int64_t scalar(const std::string& sql, std::optional<std::string> text = {},
                      std::optional<std::int64_t> number = {}) {
    pw::db::Statement query(*inspector, sql);
    if (text) query.bind(1, *text);
    if (number) query.bind(1, *number);
    query.step();
    return query.int64(0);
  }

  std::int64_t rows() {
    return scalar(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM worlds) + (SELECT count(*) FROM personas) + "
        "(SELECT count(*) FROM simulations) + (SELECT count(*) FROM jobs) + "
        "(SELECT count(*) FROM idempotency_keys)");
  }

  void tidy() {
    if (++inputs % 512 != 0) return;
    const std::string keep_world = std::to_string(world_id);
    const std::string keep_user = std::to_string(user_id);
    // The world's simulation counter goes back to 0 with its simulations,
    // so the per-world limit is reached again rather than for good.
    inspector->exec("DELETE FROM personas; DELETE FROM simulations; DELETE FROM jobs; "
                          "DELETE FROM persona_generations; UPDATE worlds SET simulations = 0; "
                          "DELETE FROM idempotency_keys; DELETE FROM worlds WHERE id <> " + keep_world +
                          "; DELETE FROM users WHERE id <> " + keep_user);
  }
};

Harness& harness() {
  static Harness instance;
  return instance;
}

enum class Route { user, world, persona, generate, simulation };
constexpr int kRouteCount = 5;

// ---- the oracle: the contract of docs/openapi.yaml, written out again ----

bool has_control(std::string_view text, bool allow_line_breaks) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (allow_line_breaks && (c == '\t' || c == '\n' || c == '\r')) continue;
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

bool is_blank(std::string_view text) { return text.find_first_not_of(' ') == std::string_view::npos; }

// 1 to 100 bytes, not blank, no control characters.
bool good_name(const json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return !text.empty() && text.size() <= 100 && !has_control(text, false) && !is_blank(text);
}

std::optional<std::int64_t> integer_in(const json& value, std::int64_t min, std::int64_t max) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(max)) return std::nullopt;
    if (static_cast<std::int64_t>(v) < min) return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < min || v > max) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

bool only_fields(const json& object, std::initializer_list<const char*> allowed) {
  std::set<std::string> names(allowed.begin(), allowed.end());
  for (const auto& [name, value] : object.items()) {
    if (!names.contains(name)) return false;
  }
  return true;
}

bool good_handle(const json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() < 3 || text.size() > 32) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool good_traits(const json& object) {
  if (!object.is_object()) return false;
  static const std::set<std::string> names = {"sociability", "generosity", "aggression", "curiosity", "loyalty"};
  for (const auto& [name, value] : object.items()) {
    if (!names.contains(name) || !integer_in(value, 0, 100)) return false;
  }
  return true;
}

enum class Expect { unsupported, invalid, conflict, too_large, too_many, accepted, skip };

// The per-user limits at their documented defaults (README, openapi.yaml).
constexpr std::int64_t kWorldsPerUser = 100;
constexpr std::int64_t kSimulationsPerWorld = 100;
constexpr std::int64_t kEventsPerWorld = 1'000'000;
constexpr std::int64_t kSimulationWork = 10'000'000;
constexpr std::int64_t kPendingSimulations = 10;
constexpr std::int64_t kWorldPersonas = 1000;

// Personas a world has plus those its generate requests will still create
// (no worker runs here: a request is pending while its job is queued).
std::int64_t personas_and_pending(Harness& h) {
  return h.scalar("SELECT count(*) FROM personas WHERE world_id = ?", std::nullopt, h.world_id) +
         h.scalar("SELECT coalesce(sum(g.count), 0) FROM persona_generations g JOIN jobs j ON j.id = g.job_id "
                  "WHERE g.world_id = ? AND g.finished_at IS NULL AND j.state IN ('queued', 'running')",
                  std::nullopt, h.world_id);
}

// The deepest parser event of a JSON text, counted as the handler's parser
// counts it (a container's start at its parent's depth, its members one
// deeper); without building the value.
struct DepthProbe : nlohmann::json_sax<json> {
  int level = 0;
  int deepest = 0;
  // The member names of each open object (arrays push an empty set); a name
  // seen twice in one object is a repeated member, which the contract refuses.
  std::vector<std::set<std::string>> members;
  bool repeated = false;
  void at(int depth) { deepest = std::max(deepest, depth); }
  bool null() override { at(level); return true; }
  bool boolean(bool) override { at(level); return true; }
  bool number_integer(number_integer_t) override { at(level); return true; }
  bool number_unsigned(number_unsigned_t) override { at(level); return true; }
  bool number_float(number_float_t, const string_t&) override { at(level); return true; }
  bool string(string_t&) override { at(level); return true; }
  bool binary(binary_t&) override { at(level); return true; }
  bool start_object(std::size_t) override { at(level); ++level; members.emplace_back(); return deepest <= 64; }
  bool key(string_t& name) override {
    at(level);
    if (!members.back().insert(name).second) repeated = true;
    return true;
  }
  bool end_object() override { --level; members.pop_back(); return true; }
  bool start_array(std::size_t) override { at(level); ++level; members.emplace_back(); return deepest <= 64; }
  bool end_array() override { --level; members.pop_back(); return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

std::optional<json> parse_body(const std::string& body) {
  if (body.empty()) return std::nullopt;
  DepthProbe probe;
  if (!json::sax_parse(body, &probe, json::input_format_t::json, true, false)) return std::nullopt;
  if (probe.deepest > 32 || probe.repeated) return std::nullopt;
  auto value = json::parse(body, nullptr, false, false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

Expect judge_body(Route route, const json& body, Harness& h) {
  switch (route) {
    case Route::user: {
      if (!only_fields(body, {"handle"}) || !body.contains("handle") || !good_handle(body["handle"])) {
        return Expect::invalid;
      }
      return h.scalar("SELECT count(*) FROM users WHERE handle = ?", body["handle"].get<std::string>()) > 0
                 ? Expect::conflict
                 : Expect::accepted;
    }
    case Route::world: {
      if (!only_fields(body, {"name", "description", "seed"}) || !body.contains("name") || !good_name(body["name"])) {
        return Expect::invalid;
      }
      if (body.contains("description")) {
        const auto& d = body["description"];
        if (!d.is_string() || d.get_ref<const std::string&>().size() > 2000 ||
            has_control(d.get_ref<const std::string&>(), true)) {
          return Expect::invalid;
        }
      }
      if (body.contains("seed") && !integer_in(body["seed"], 0, (std::int64_t{1} << 53) - 1)) return Expect::invalid;
      return h.scalar("SELECT count(*) FROM worlds WHERE user_id = ? AND deleted_at IS NULL", std::nullopt,
                      h.user_id) >= kWorldsPerUser
                 ? Expect::conflict
                 : Expect::accepted;
    }
    case Route::persona: {
      if (!only_fields(body, {"name", "traits"}) || !body.contains("name") || !good_name(body["name"])) {
        return Expect::invalid;
      }
      if (body.contains("traits") && !good_traits(body["traits"])) return Expect::invalid;
      return personas_and_pending(h) + 1 > kWorldPersonas ? Expect::conflict : Expect::accepted;
    }
    case Route::generate: {
      if (!only_fields(body, {"count"}) || !body.contains("count")) return Expect::invalid;
      auto count = integer_in(body["count"], 1, 100);
      if (!count) return Expect::invalid;
      return personas_and_pending(h) + *count > kWorldPersonas ? Expect::conflict : Expect::accepted;
    }
    case Route::simulation: {
      if (!only_fields(body, {"ticks", "callback_url"}) || !body.contains("ticks") ||
          !integer_in(body["ticks"], 1, 10000)) {
        return Expect::invalid;
      }
      if (body.contains("callback_url")) {
        const auto& value = body["callback_url"];
        if (!value.is_string()) return Expect::invalid;
        const auto& text = value.get_ref<const std::string&>();
        if (text.empty() || text.size() > 2048 || has_control(text, false) || is_blank(text)) return Expect::invalid;
        auto parsed = webhook::parse_url(text);
        if (!parsed.url) return Expect::invalid;
        auto literal = webhook::IpAddress::parse(parsed.url->host);
        if (!literal) return Expect::skip;  // a name: resolving it would leave this machine
        if (webhook::classify(*literal)) return Expect::invalid;
      }
      // The limits, in the documented order: work, simulations, events, pending.
      const std::int64_t ticks = *integer_in(body["ticks"], 1, 10000);
      const std::int64_t personas = h.scalar("SELECT count(*) FROM personas WHERE world_id = ?", std::nullopt, h.world_id);
      if (ticks * personas > kSimulationWork) return Expect::too_large;
      const char* pending =
          " FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE s.completed_at IS NULL"
          " AND j.state IN ('queued', 'running')";
      if (h.scalar("SELECT simulations FROM worlds WHERE id = ?", std::nullopt, h.world_id) >= kSimulationsPerWorld) {
        return Expect::conflict;
      }
      // Each simulation may write up to 16 events a tick, and at most one
      // event per two personas a tick.
      const std::int64_t reserved = h.scalar(
          std::string("SELECT coalesce(sum(s.ticks * min(16, (SELECT count(*) FROM personas p WHERE "
                      "p.world_id = s.world_id AND p.id <= s.persona_bound) / 2)), 0)") +
              pending + " AND s.world_id = ?",
          std::nullopt, h.world_id);
      const std::int64_t written =
          h.scalar("SELECT count(*) FROM events WHERE world_id = ?", std::nullopt, h.world_id);
      if (written + reserved + ticks * std::min<std::int64_t>(16, personas / 2) > kEventsPerWorld) {
        return Expect::conflict;
      }
      if (h.scalar(std::string("SELECT count(*)") + pending + " AND s.user_id = ?", std::nullopt, h.user_id) >=
          kPendingSimulations) {
        return Expect::too_many;
      }
      return Expect::accepted;
    }
  }
  return Expect::invalid;
}

bool good_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7e) return false;
  }
  return true;
}

std::string header_of(const http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

// What a success must say about what was sent.
void check_echo(Route route, const json& sent, const json& answer) {
  auto require = [&](bool ok, const char* what) {
    if (!ok) fail(std::string("success does not echo the request: ") + what + "\nsent " + sent.dump() + "\ngot " +
                  answer.dump());
  };
  switch (route) {
    case Route::user: {
      require(answer["user"]["handle"] == sent["handle"], "handle");
      const auto& token = answer["token"];
      require(token.is_string() && token.get_ref<const std::string&>().size() == 67 &&
                  token.get_ref<const std::string&>().rfind("pw_", 0) == 0,
              "token");
      break;
    }
    case Route::world:
      require(answer["name"] == sent["name"], "name");
      require(answer["description"] == sent.value("description", std::string()), "description");
      if (sent.contains("seed")) require(answer["seed"] == sent["seed"], "seed");
      require(answer["seed"].is_number_integer() && answer["seed"].get<std::int64_t>() >= 0 &&
                  answer["seed"].get<std::int64_t>() <= (std::int64_t{1} << 53) - 1,
              "seed range");
      break;
    case Route::persona: {
      require(answer["name"] == sent["name"], "name");
      for (const char* trait : {"sociability", "generosity", "aggression", "curiosity", "loyalty"}) {
        json expected = 50;
        if (sent.contains("traits") && sent["traits"].contains(trait)) expected = sent["traits"][trait];
        require(answer["traits"][trait] == expected, trait);
      }
      require(answer["source"] == "manual", "source");
      break;
    }
    case Route::generate:
      require(answer["job"]["type"] == "persona.generate" && answer["job"]["state"] == "queued", "job");
      break;
    case Route::simulation:
      require(answer["simulation"]["ticks"] == sent["ticks"], "ticks");
      require(answer["simulation"]["callback_url"] == (sent.contains("callback_url") ? sent["callback_url"] : json()),
              "callback_url");
      require(answer["job"]["type"] == "world.simulate" && answer["job"]["state"] == "queued", "job");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  auto& h = harness();
  h.tidy();
  const auto route = static_cast<Route>(data[0] % kRouteCount);
  const std::uint8_t flags = data[1];
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::optional<std::string> key;
  if (flags & 0x04) {
    const auto newline = rest.find('\n');
    key = std::string(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
  }
  const std::string body(rest);
  static const char* const content_types[] = {"application/json", "application/json; charset=utf-8",
                                              "Application/JSON;charset=\"UTF-8\"", "text/plain"};
  const int content_type = flags & 0x03;

  std::string path;
  int success = 201;
  const std::string world = "/v1/worlds/" + std::to_string(h.world_id);
  switch (route) {
    case Route::user: path = "/v1/users"; break;
    case Route::world: path = "/v1/worlds"; break;
    case Route::persona: path = world + "/personas"; break;
    case Route::generate: path = world + "/personas:generate"; success = 202; break;
    case Route::simulation: path = world + "/simulations"; success = 202; break;
  }

  // What the contract says.
  Expect expect;
  auto parsed = parse_body(body);
  if (content_type == 3) {
    expect = Expect::unsupported;
  } else if (!parsed) {
    expect = Expect::invalid;
  } else {
    expect = judge_body(route, *parsed, h);
  }
  if (expect == Expect::skip) return 0;
  if (expect != Expect::unsupported && expect != Expect::invalid && key && !good_key(*key)) expect = Expect::invalid;
  // A fresh key every time: what a reused key does is the replay below.
  if (key) h.inspector->exec("DELETE FROM idempotency_keys");

  std::vector<std::pair<std::string, std::string>> headers = {{"content-type", content_types[content_type]}};
  if (route != Route::user) headers.emplace_back("authorization", "Bearer " + h.token);
  if (key) headers.emplace_back("idempotency-key", *key);

  auto response = h.call("POST", path, body, headers);
  const int expected_status = expect == Expect::unsupported ? 415
                              : expect == Expect::invalid   ? 400
                              : expect == Expect::conflict  ? 409
                              : expect == Expect::too_large ? 422
                              : expect == Expect::too_many  ? 429
                                                            : success;
  if (response.status != expected_status) {
    fail("route " + path + " answered " + std::to_string(response.status) + ", the contract says " +
         std::to_string(expected_status) + "\nbody: " + json(body).dump(-1, ' ', false, json::error_handler_t::replace) +
         "\nanswer: " + response.body + (response.error ? " " + response.error->first + ": " + response.error->second : ""));
  }
  if (response.status >= 400) {
    if (!response.error || response.error->first.empty() || response.error->second.empty()) {
      fail("an error without code and message");
    }
    auto rendered = json::parse(http::render_error(response.error->first, response.error->second, "r"), nullptr, false);
    if (!rendered.is_object() || !rendered["error"]["message"].is_string()) fail("an error body that is not JSON");
    return 0;
  }

  auto answer = json::parse(response.body, nullptr, false);
  if (!answer.is_object()) fail("a success body that is not a JSON object: " + response.body);
  check_echo(route, *parsed, answer);

  if (key && (flags & 0x08)) {
    const auto before = h.rows();
    auto again = h.call("POST", path, body, headers);
    if (again.status != response.status) fail("a replay answered " + std::to_string(again.status));
    if (header_of(again, "Idempotent-Replayed") != "true") fail("a replay without Idempotent-Replayed");
    json expected = answer;
    if (route == Route::user) expected["token"] = nullptr;  // shown once, never stored
    if (json::parse(again.body, nullptr, false) != expected) {
      fail("a replay answered another body:\n" + again.body + "\nfirst: " + response.body);
    }
    if (h.rows() != before) fail("a replay created rows");
  }
  return 0;
}
