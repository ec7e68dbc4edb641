// Black-box: schedules through the real binary. The API's
// /v1/worlds/{id}/schedules as a client (and an attacker) sees it, the
// operator's `jobs schedule`, and two worker processes firing many
// past-due schedules at once: exactly one job per schedule tick. Runs on
// both drivers (tests/CMakeLists.txt). No test waits for a real cron
// minute: due ticks are set in the past.
#include <doctest/doctest.h>

#include "e2e/reliability_scene.hpp"

using pw::test::HttpResponse;
using pw::test::reliability::Scene;
using pw::test::reliability::is_json_error;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;
// 2026-01-01T00:00:00Z, a tick of `0 0 1 1 *` in the past, and the next one.
constexpr std::int64_t kPastTick = 1767225600000;
constexpr std::int64_t kNextTick = 1798761600000;

std::string code_of(const HttpResponse& response) {
  auto body = json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return {};
  return body["error"].value("code", "");
}

std::string message_of(const HttpResponse& response) {
  auto body = json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return {};
  return body["error"].value("message", "");
}

void refused(const HttpResponse& response, int status, const std::string& code) {
  CHECK_MESSAGE(response.status == status, response.body);
  CHECK(code_of(response) == code);
  CHECK(is_json_error(response));
}

HttpResponse request(Scene& scene, const std::string& method, const std::string& path, const std::string& token) {
  return pw::test::http_request(method, scene.port(), path, {}, {}, {{"Authorization", "Bearer " + token}}, 30s);
}

std::string world_path(Scene& scene, const std::string& token) {
  auto created = scene.post("/v1/worlds", {{"name", "Scheduled"}}, token);
  REQUIRE_MESSAGE(created.status == 201, created.body);
  return "/v1/worlds/" + std::to_string(json::parse(created.body)["id"].get<std::int64_t>());
}

double metric_sum(const std::string& exposition, const std::string& series) {
  return pw::test::metric_value(exposition, series).value_or(0.0);
}

}  // namespace

TEST_CASE("schedules (binary): a world's schedules are created, listed and deleted by their owner, and are 404 to others") {
  Scene scene;
  scene.start_api();
  auto alice = scene.sign_up("alice");
  auto mallory = scene.sign_up("mallory");
  const auto world = world_path(scene, alice);
  const auto mallorys_world = world_path(scene, mallory);

  auto created = scene.post(world + "/schedules",
                            {{"cron", "0 9 * * MON-FRI"}, {"ticks", 20}, {"time_zone", "Europe/Paris"}}, alice);
  REQUIRE_MESSAGE(created.status == 201, created.body);
  auto schedule = json::parse(created.body);
  CHECK(schedule["cron"] == "0 9 * * MON-FRI");
  CHECK(schedule["time_zone"] == "Europe/Paris");
  CHECK(schedule["ticks"] == 20);
  // 09:00 in Paris is 07:00 or 08:00 UTC.
  const std::string next = schedule["next_tick_at"];
  CHECK_MESSAGE((next.substr(10) == "T08:00:00.000Z" || next.substr(10) == "T07:00:00.000Z"), next);
  CHECK(schedule["created_at"].is_string());
  const auto id = std::to_string(schedule["id"].get<std::int64_t>());
  auto utc = scene.post(world + "/schedules", {{"cron", "@hourly"}, {"ticks", 1}}, alice);
  REQUIRE_MESSAGE(utc.status == 201, utc.body);
  CHECK(json::parse(utc.body)["time_zone"] == "UTC");
  CHECK(json::parse(utc.body)["next_tick_at"].get<std::string>().substr(13) == ":00:00.000Z");

  auto listed = scene.get(world + "/schedules", alice);
  REQUIRE(listed.status == 200);
  auto items = json::parse(listed.body)["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["id"] == schedule["id"]);

  // Another user: the world and its schedules do not exist for them.
  refused(scene.post(world + "/schedules", {{"cron", "@hourly"}, {"ticks", 1}}, mallory), 404, "not_found");
  refused(scene.get(world + "/schedules", mallory), 404, "not_found");
  refused(request(scene, "DELETE", world + "/schedules/" + id, mallory), 404, "not_found");
  // ... nor through a world of their own.
  refused(request(scene, "DELETE", mallorys_world + "/schedules/" + id, mallory), 404, "not_found");
  CHECK(json::parse(scene.get(mallorys_world + "/schedules", mallory).body)["items"].empty());
  refused(request(scene, "DELETE", world + "/schedules/abc", alice), 404, "not_found");
  refused(request(scene, "DELETE", world + "/schedules/99999", alice), 404, "not_found");

  CHECK(request(scene, "DELETE", world + "/schedules/" + id, alice).status == 204);
  refused(request(scene, "DELETE", world + "/schedules/" + id, alice), 404, "not_found");
  CHECK(json::parse(scene.get(world + "/schedules", alice).body)["items"].size() == 1);
  CHECK(scene.count("SELECT count(*) FROM schedules") == 1);
}

TEST_CASE("schedules (binary): bad or hostile input is 400 with the field named, and the per-user cap is 409") {
  Scene scene;
  scene.start_api({"--max-schedules-per-user", "3"});
  auto alice = scene.sign_up("alice");
  const auto world = world_path(scene, alice);
  const auto path = world + "/schedules";

  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"cron", "61 * * * *"}, {"ticks", 1}}, "cron"},
      {{{"cron", "* * * *"}, {"ticks", 1}}, "cron"},
      {{{"cron", "@every_minute"}, {"ticks", 1}}, "cron"},
      {{{"cron", "0 0 30 2 *"}, {"ticks", 1}}, "cron"},                       // never fires
      {{{"cron", std::string(257, '*')}, {"ticks", 1}}, "cron"},             // over 256 bytes
      {{{"cron", std::string(100000, '1')}, {"ticks", 1}}, "cron"},          // huge
      {{{"cron", "*/0 * * * *"}, {"ticks", 1}}, "cron"},
      {{{"cron", "1-2-3,,5 * * * *"}, {"ticks", 1}}, "cron"},
      {{{"cron", "* * * * *\n"}, {"ticks", 1}}, "cron"},
      {{{"cron", ""}, {"ticks", 1}}, "cron"},
      {{{"cron", 5}, {"ticks", 1}}, "cron"},
      {{{"ticks", 1}}, "cron"},
      {{{"cron", "* * * * *"}, {"ticks", 0}}, "ticks"},
      {{{"cron", "* * * * *"}, {"ticks", 10001}}, "ticks"},
      {{{"cron", "* * * * *"}, {"ticks", "5"}}, "ticks"},
      {{{"cron", "* * * * *"}}, "ticks"},
      {{{"cron", "* * * * *"}, {"ticks", 1}, {"time_zone", "Mars/Olympus"}}, "time_zone"},
      {{{"cron", "* * * * *"}, {"ticks", 1}, {"time_zone", "../../../etc/passwd"}}, "time_zone"},
      {{{"cron", "* * * * *"}, {"ticks", 1}, {"time_zone", "/etc/localtime"}}, "time_zone"},
      {{{"cron", "* * * * *"}, {"ticks", 1}, {"time_zone", ""}}, "time_zone"},
      {{{"cron", "* * * * *"}, {"ticks", 1}, {"every", "minute"}}, "every"},
  };
  for (const auto& item : cases) {
    CAPTURE(item.body.dump().substr(0, 120));
    auto response = scene.post(path, item.body, alice);
    refused(response, 400, "invalid_request");
    CHECK(message_of(response).rfind(item.field, 0) == 0);
  }
  CHECK(scene.count("SELECT count(*) FROM schedules") == 0);

  for (int i = 0; i < 3; ++i) {
    REQUIRE(scene.post(path, {{"cron", "*/5 * * * *"}, {"ticks", 1 + i}}, alice).status == 201);
  }
  auto over = scene.post(path, {{"cron", "*/5 * * * *"}, {"ticks", 4}}, alice);
  refused(over, 409, "too_many_schedules");
  CHECK(message_of(over).find("3 schedules") != std::string::npos);
  // The cap is per user, over all their worlds.
  const auto second = world_path(scene, alice);
  refused(scene.post(second + "/schedules", {{"cron", "@daily"}, {"ticks", 1}}, alice), 409, "too_many_schedules");
  auto bob = scene.sign_up("bob");
  CHECK(scene.post(world_path(scene, bob) + "/schedules", {{"cron", "@daily"}, {"ticks", 1}}, bob).status == 201);
  CHECK(scene.count("SELECT count(*) FROM schedules") == 4);
}

TEST_CASE("schedules (binary): two workers fire 40 past-due schedules at once, exactly one job per schedule tick") {
  Scene scene;
  scene.start_api();
  // Operator schedules, from the command line.
  constexpr int operator_schedules = 35;
  for (int i = 0; i < operator_schedules; ++i) {
    auto added = pw::test::run(kBinary, {"jobs", "schedule", "add", scene.flag(), "--name", "op" + std::to_string(i),
                                         "--cron", "0 0 1 1 *", "--type", "noop", "--payload", R"({"n":1})"});
    REQUIRE_MESSAGE(added.exit_code == 0, added.err);
  }
  auto listed = pw::test::run(kBinary, {"jobs", "schedule", "list", scene.flag(), "--json"});
  REQUIRE(listed.exit_code == 0);
  CHECK(json::parse(listed.out).size() == operator_schedules);
  // World schedules, from the API (within the default pending-simulation limit).
  constexpr int world_schedules = 5;
  auto alice = scene.sign_up("alice");
  const auto world = world_path(scene, alice);
  for (int i = 0; i < world_schedules; ++i) {
    REQUIRE(scene.post(world + "/schedules", {{"cron", "0 0 1 1 *"}, {"ticks", 3}}, alice).status == 201);
  }
  constexpr int total = operator_schedules + world_schedules;

  auto [first, first_port] = scene.start_worker();
  auto [second, second_port] = scene.start_worker();
  // Every schedule due at once, for both workers: the tick of 2026-01-01.
  scene.probe().exec("UPDATE schedules SET next_tick_at = " + std::to_string(kPastTick));

  const std::string enqueued_operator = R"(schedule_ticks_total{schedule_kind="operator",status="enqueued"})";
  const std::string enqueued_world = R"(schedule_ticks_total{schedule_kind="world",status="enqueued"})";
  double fired = 0;
  CHECK_MESSAGE(pw::test::eventually(
                    [&] {
                      fired = 0;
                      for (int port : {first_port, second_port}) {
                        auto metrics = pw::test::http_get(port, "/metrics").body;
                        fired += metric_sum(metrics, enqueued_operator) + metric_sum(metrics, enqueued_world);
                      }
                      return fired >= total;
                    },
                    30s),
                fired);
  CHECK(scene.count("SELECT count(*) FROM schedules WHERE next_tick_at = " + std::to_string(kNextTick)) == total);
  // A few more rounds of both loops: nothing more fires.
  std::this_thread::sleep_for(1500ms);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE idempotency_key LIKE 'schedule:%'") == total);
  CHECK(scene.count("SELECT count(DISTINCT idempotency_key) FROM jobs WHERE idempotency_key LIKE 'schedule:%'") ==
        total);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE idempotency_key LIKE 'schedule:%:" + std::to_string(kPastTick) +
                    "'") == total);
  CHECK(scene.count("SELECT count(*) FROM jobs WHERE type = 'noop' AND idempotency_key LIKE 'schedule:%'") ==
        operator_schedules);
  CHECK(scene.count("SELECT count(*) FROM simulations") == world_schedules);
  double counted = 0;
  for (int port : {first_port, second_port}) {
    auto metrics = pw::test::http_get(port, "/metrics").body;
    counted += metric_sum(metrics, enqueued_operator) + metric_sum(metrics, enqueued_world);
    CHECK(metric_sum(metrics, R"(schedule_ticks_total{schedule_kind="operator",status="failed"})") == 0);
  }
  CHECK(counted == total);
  // One log line per tick, whichever worker fired it.
  int logged = 0;
  for (auto* worker : {first.get(), second.get()}) {
    for (const auto& line : worker->json_lines()) {
      if (line.value("msg", "") == "schedule_tick" && line.value("status", "") == "enqueued") ++logged;
    }
  }
  CHECK(logged == total);

  // The scheduled simulations run like any other.
  CHECK(pw::test::eventually(
      [&] { return scene.count("SELECT count(*) FROM simulations WHERE completed_at IS NOT NULL") == world_schedules; },
      60s));
  auto removed = pw::test::run(kBinary, {"jobs", "schedule", "remove", "op0", scene.flag()});
  CHECK_MESSAGE(removed.exit_code == 0, removed.err);
  CHECK(scene.count("SELECT count(*) FROM schedules") == total - 1);
  for (auto* worker : {first.get(), second.get()}) {
    worker->signal(SIGTERM);
    CHECK(worker->wait_exit() == 0);
  }
}
