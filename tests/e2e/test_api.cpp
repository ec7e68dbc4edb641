// Black-box: the real `api` and `worker` processes on 127.0.0.1 over one
// database (SQLite, or PostgreSQL under PW_TEST_DRIVER=postgres), driven as
// a client would drive them. Conditions are awaited
// with generous deadlines; nothing here asserts speed.
#include <doctest/doctest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "support/process.hpp"
#include "support/test_database.hpp"

using pw::test::HttpResponse;
using pw::test::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;

using Headers = std::multimap<std::string, std::string>;

// A migrated database, an api process and (optionally) a worker process.
class Stack {
 public:
  explicit Stack(bool allow_private, bool with_worker = true) {
    auto migrated = pw::test::run(kBinary, {"migrate", m_database.flag()});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
    pw::test::Environment env{{"ALLOW_PRIVATE_WEBHOOKS", allow_private ? "true" : "false"}};
    m_api = std::make_unique<Process>(
        kBinary, std::vector<std::string>{"api", m_database.flag(), "--host", "127.0.0.1", "--port", "0",
                                          "--http-threads", "4", "--shutdown-delay-ms", "0"},
        env);
    auto started = m_api->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, m_api->output());
    m_port = (*started)["port"].get<int>();
    if (with_worker) {
      m_worker = std::make_unique<Process>(
          kBinary,
          std::vector<std::string>{"worker", m_database.flag(), "--observability-host", "127.0.0.1",
                                   "--observability-port", "0", "--backoff-base-ms", "50", "--backoff-cap-ms",
                                   "500", "--webhook-timeout-ms", "10000", "--concurrency", "2"},
          env);
      REQUIRE_MESSAGE(m_worker->wait_for_json("worker_started", 60s), m_worker->output());
    }
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                    Headers headers = {}, const std::string& content_type = "application/json") {
    return pw::test::http_request(method, m_port, path, body, content_type, headers, 30s);
  }
  HttpResponse post(const std::string& path, const json& body, const std::string& token, Headers headers = {}) {
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return call("POST", path, body.dump(), std::move(headers));
  }
  HttpResponse get(const std::string& path, const std::string& token) {
    return call("GET", path, {}, {{"Authorization", "Bearer " + token}});
  }
  json get_json(const std::string& path, const std::string& token) {
    auto response = get(path, token);
    REQUIRE_MESSAGE(response.status == 200, path << " -> " << response.status << " " << response.body);
    return json::parse(response.body);
  }

  std::string sign_up(const std::string& handle) {
    auto response = post("/v1/users", {{"handle", handle}}, {});
    REQUIRE_MESSAGE(response.status == 201, response.body);
    return json::parse(response.body)["token"];
  }

  // Waits until the job reaches a final state; returns it.
  json wait_job(std::int64_t id, const std::string& token) {
    json job;
    bool done = pw::test::eventually(
        [&] {
          job = get_json("/v1/jobs/" + std::to_string(id), token);
          const auto state = job["state"].get<std::string>();
          return state == "succeeded" || state == "dead" || state == "canceled";
        },
        60s);
    REQUIRE_MESSAGE(done, "job " << id << " did not finish: " << job.dump());
    return job;
  }

  // Every event of a world (or one simulation), following next_after.
  std::vector<json> all_events(std::int64_t world_id, const std::string& token, std::int64_t simulation_id = 0) {
    std::vector<json> events;
    std::string after = "0";
    for (;;) {
      std::string path = "/v1/worlds/" + std::to_string(world_id) + "/events?limit=100&after=" + after;
      if (simulation_id != 0) path += "&simulation_id=" + std::to_string(simulation_id);
      auto page = get_json(path, token);
      for (auto& event : page["items"]) events.push_back(event);
      if (page["next_after"].is_null()) return events;
      after = page["next_after"].get<std::string>();
    }
  }

  // Rows per table, read straight from the database.
  std::map<std::string, std::int64_t> table_counts() {
    pw::test::DatabaseProbe database(m_database.config);
    std::map<std::string, std::int64_t> counts;
    for (const char* table : {"users", "worlds", "personas", "simulations", "events", "idempotency_keys", "jobs"}) {
      counts[table] = database.scalar(std::string("SELECT COUNT(*) FROM ") + table);
    }
    return counts;
  }

  Process& api() { return *m_api; }
  // Both processes' output, for a failure message.
  std::string output() const {
    return "--- api ---\n" + m_api->output() + (m_worker ? "--- worker ---\n" + m_worker->output() : "");
  }
  int port() const { return m_port; }

 private:
  pw::test::TestDatabase m_database{false};
  std::unique_ptr<Process> m_api;
  std::unique_ptr<Process> m_worker;
  int m_port = 0;
};

// A webhook receiver on 127.0.0.1: answers 503 to the first `failures`
// deliveries and 200 after, remembering each request and its answer.
class Receiver {
 public:
  explicit Receiver(int failures) : m_failures(failures) {
    m_server.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(m_mutex);
      const int status = static_cast<int>(m_received.size()) < m_failures ? 503 : 200;
      m_received.push_back({request.get_header_value("X-Request-ID"), request.body, status});
      response.status = status;
      response.set_content(status == 200 ? "{\"ok\":true}" : "{\"ok\":false}", "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    REQUIRE(pw::test::eventually([this] { return m_server.is_running(); }, 10s));
  }
  ~Receiver() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/hook"; }

  struct Delivery {
    std::string request_id;
    std::string body;
    int status;
  };
  std::vector<Delivery> received() {
    std::lock_guard lock(m_mutex);
    return m_received;
  }

 private:
  int m_failures;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::mutex m_mutex;
  std::vector<Delivery> m_received;
};

std::int64_t id_of(const HttpResponse& response, const char* field = nullptr) {
  auto body = json::parse(response.body);
  return field ? body[field]["id"].get<std::int64_t>() : body["id"].get<std::int64_t>();
}

}  // namespace

TEST_CASE("API e2e: sign up, build a world, simulate, and get the webhook through two 503s") {
  Stack stack(/*allow_private=*/true);
  Receiver receiver(/*failures=*/2);
  INFO(stack.output());
  auto token = stack.sign_up("alice");
  CHECK(stack.get_json("/v1/me", token)["handle"] == "alice");

  // An idempotent create, replayed.
  auto world_response = stack.post("/v1/worlds", {{"name", "Eden"}, {"seed", 2024}}, token, {{"Idempotency-Key", "w1"}});
  REQUIRE(world_response.status == 201);
  auto replay = stack.post("/v1/worlds", {{"name", "Eden"}, {"seed", 2024}}, token, {{"Idempotency-Key", "w1"}});
  CHECK(replay.status == 201);
  CHECK(replay.body == world_response.body);
  CHECK(header_of(replay, "Idempotent-Replayed") == "true");
  const auto world_id = id_of(world_response);
  const std::string base = "/v1/worlds/" + std::to_string(world_id);
  CHECK(stack.get_json("/v1/worlds", token)["items"].size() == 1);

  auto generate = stack.post(base + "/personas:generate", {{"count", 8}}, token);
  REQUIRE(generate.status == 202);
  auto generated = stack.wait_job(id_of(generate, "job"), token);
  CHECK(generated["state"] == "succeeded");
  CHECK(generated["result"]["created"] == 8);
  CHECK(stack.get_json(base + "/personas?limit=100", token)["items"].size() == 8);

  const std::string request_id = "e2e-simulation-1";
  auto submitted = stack.post(base + "/simulations", {{"ticks", 300}, {"callback_url", receiver.url()}}, token,
                              {{"X-Request-ID", request_id}});
  REQUIRE_MESSAGE(submitted.status == 202, submitted.body);
  CHECK(header_of(submitted, "X-Request-ID") == request_id);
  auto accepted = json::parse(submitted.body);
  CHECK(accepted["job"]["trace_id"] == request_id);
  const auto simulation_id = accepted["simulation"]["id"].get<std::int64_t>();

  auto simulated = stack.wait_job(accepted["job"]["id"].get<std::int64_t>(), token);
  REQUIRE_MESSAGE(simulated["state"] == "succeeded", simulated.dump());
  const auto event_count = simulated["result"]["events"].get<std::int64_t>();
  CHECK(event_count > 0);

  auto simulation = stack.get_json(base + "/simulations/" + std::to_string(simulation_id), token);
  CHECK(simulation["state"] == "completed");
  CHECK(simulation["event_count"] == event_count);
  REQUIRE(simulation["webhook_job_id"].is_number_integer());
  auto webhook = stack.wait_job(simulation["webhook_job_id"].get<std::int64_t>(), token);
  INFO("webhook job: " << webhook.dump());
  CHECK(webhook["state"] == "succeeded");
  CHECK(webhook["attempts"] == 3);
  CHECK(webhook["trace_id"] == request_id);
  CHECK(webhook["type"] == "webhook.deliver");

  auto deliveries = receiver.received();
  INFO("deliveries: " << deliveries.size());
  REQUIRE(deliveries.size() == 3);
  int accepted_count = 0;
  for (const auto& delivery : deliveries) {
    CHECK(delivery.request_id == request_id);
    if (delivery.status == 200) {
      ++accepted_count;
      auto summary = json::parse(delivery.body);
      CHECK(summary["simulation_id"] == simulation_id);
      CHECK(summary["events"] == event_count);
      CHECK(summary["type"] == "simulation.completed");
    }
  }
  CHECK(accepted_count == 1);

  auto events = stack.all_events(world_id, token);
  CHECK(static_cast<std::int64_t>(events.size()) == event_count);
  for (std::size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i]["tick"].get<int>() >= events[i - 1]["tick"].get<int>());
    CHECK(events[i]["id"].get<std::int64_t>() > events[i - 1]["id"].get<std::int64_t>());
  }
  CHECK(stack.api().running());
}

TEST_CASE("API e2e: two users: every access to the other's resources is 404") {
  Stack stack(/*allow_private=*/false);
  INFO(stack.output());
  auto alice = stack.sign_up("alice");
  auto bob = stack.sign_up("bob");
  auto world = stack.post("/v1/worlds", {{"name", "Private"}}, alice);
  REQUIRE(world.status == 201);
  const std::string base = "/v1/worlds/" + std::to_string(id_of(world));
  auto generate = stack.post(base + "/personas:generate", {{"count", 3}}, alice);
  REQUIRE(generate.status == 202);
  const auto job_id = id_of(generate, "job");
  stack.wait_job(job_id, alice);
  auto simulate = stack.post(base + "/simulations", {{"ticks", 20}}, alice);
  REQUIRE(simulate.status == 202);
  const auto simulation_id = id_of(simulate, "simulation");
  stack.wait_job(id_of(simulate, "job"), alice);
  const auto before = stack.table_counts();

  struct Access {
    const char* method;
    std::string path;
    json body;
  };
  const std::vector<Access> accesses = {
      {"GET", base, nullptr},
      {"DELETE", base, nullptr},
      {"GET", base + "/personas", nullptr},
      {"POST", base + "/personas", {{"name", "Mallory"}}},
      {"POST", base + "/personas:generate", {{"count", 1}}},
      {"GET", base + "/simulations", nullptr},
      {"POST", base + "/simulations", {{"ticks", 1}}},
      {"GET", base + "/simulations/" + std::to_string(simulation_id), nullptr},
      {"GET", base + "/events", nullptr},
      {"GET", "/v1/jobs/" + std::to_string(job_id), nullptr},
  };
  for (const auto& access : accesses) {
    CAPTURE(std::string(access.method) + " " + access.path);
    auto response = stack.call(access.method, access.path, access.body.is_null() ? "" : access.body.dump(),
                               {{"Authorization", "Bearer " + bob}});
    CHECK(response.status == 404);
    CHECK(json::parse(response.body)["error"]["code"] == "not_found");
  }
  CHECK(stack.get_json("/v1/worlds", bob)["items"].empty());
  CHECK(stack.table_counts() == before);
  // Alice still has everything.
  CHECK(stack.get(base + "/events", alice).status == 200);
  CHECK(stack.get("/v1/jobs/" + std::to_string(job_id), alice).status == 200);
}

TEST_CASE("API e2e: hostile input gets its documented status and JSON error, and changes nothing") {
  Stack stack(/*allow_private=*/false, /*with_worker=*/false);
  INFO(stack.output());
  auto token = stack.sign_up("alice");
  auto world = stack.post("/v1/worlds", {{"name", "Target"}}, token);
  REQUIRE(world.status == 201);
  const std::string base = "/v1/worlds/" + std::to_string(id_of(world));
  const std::string auth = "Bearer " + token;
  const auto before = stack.table_counts();

  struct Row {
    std::string name;
    std::string method;
    std::string path;
    std::string body;
    std::string content_type;
    Headers headers;
    int status;
  };
  const Headers authed{{"Authorization", auth}};
  const std::vector<Row> rows = {
      {"malformed JSON", "POST", "/v1/worlds", "{\"name\": ", "application/json", authed, 400},
      {"JSON with trailing garbage", "POST", "/v1/worlds", "{\"name\":\"x\"}}", "application/json", authed, 400},
      {"2 MiB body", "POST", "/v1/worlds", "{\"name\":\"" + std::string(2 << 20, 'a') + "\"}", "application/json",
       authed, 413},
      {"invalid UTF-8", "POST", "/v1/worlds", "{\"name\":\"\xff\xfe\xfd\"}", "application/json", authed, 400},
      {"overlong UTF-8", "POST", "/v1/worlds", "{\"name\":\"\xc0\xaf\"}", "application/json", authed, 400},
      {"lone surrogate", "POST", "/v1/worlds", R"({"name":"\ud800"})", "application/json", authed, 400},
      {"name is a number", "POST", "/v1/worlds", R"({"name":42})", "application/json", authed, 400},
      {"name is an object", "POST", "/v1/worlds", R"({"name":{"$gt":""}})", "application/json", authed, 400},
      {"body is an array", "POST", "/v1/worlds", R"([{"name":"x"}])", "application/json", authed, 400},
      {"seed is huge", "POST", "/v1/worlds", R"({"name":"x","seed":1e400})", "application/json", authed, 400},
      {"seed beyond 64 bits", "POST", "/v1/worlds", R"({"name":"x","seed":123456789012345678901234567890})",
       "application/json", authed, 400},
      {"seed is negative", "POST", "/v1/worlds", R"({"name":"x","seed":-5})", "application/json", authed, 400},
      {"count is a fraction", "POST", base + "/personas:generate", R"({"count":2.5})", "application/json", authed,
       400},
      {"count beyond the limit", "POST", base + "/personas:generate", R"({"count":101})", "application/json",
       authed, 400},
      {"ticks is a string", "POST", base + "/simulations", R"({"ticks":"10"})", "application/json", authed, 400},
      {"ticks is huge", "POST", base + "/simulations", R"({"ticks":18446744073709551616})", "application/json",
       authed, 400},
      {"unknown field", "POST", "/v1/worlds", R"({"name":"x","user_id":2})", "application/json", authed, 400},
      {"unknown trait", "POST", base + "/personas", R"({"name":"x","traits":{"wisdom":3}})", "application/json",
       authed, 400},
      {"name too long", "POST", "/v1/worlds", "{\"name\":\"" + std::string(101, 'n') + "\"}", "application/json",
       authed, 400},
      {"deep nesting", "POST", "/v1/worlds", std::string(10000, '[') + std::string(10000, ']'), "application/json",
       authed, 400},
      {"wrong content type", "POST", "/v1/worlds", R"({"name":"x"})", "text/plain", authed, 415},
      {"form content type", "POST", "/v1/worlds", "name=x", "application/x-www-form-urlencoded", authed, 415},
      {"empty body", "POST", "/v1/worlds", "", "application/json", authed, 400},
      {"bad Idempotency-Key", "POST", "/v1/worlds", R"({"name":"x"})", "application/json",
       {{"Authorization", auth}, {"Idempotency-Key", std::string(300, 'k')}}, 400},
      {"path traversal in a world id", "GET", "/v1/worlds/..%2F..%2Fetc%2Fpasswd", "", "", authed, 404},
      {"dot-dot as a world id", "GET", "/v1/worlds/..", "", "", authed, 404},
      {"SQL in a world id", "GET", "/v1/worlds/1%20OR%201=1", "", "", authed, 404},
      {"negative job id", "GET", "/v1/jobs/-1", "", "", authed, 404},
      {"zero-padded job id", "GET", "/v1/jobs/0001", "", "", authed, 404},
      {"overflowing world id", "GET", "/v1/worlds/99999999999999999999", "", "", authed, 404},
      {"missing auth", "GET", "/v1/worlds", "", "", {}, 401},
      {"missing auth on a POST", "POST", "/v1/worlds", R"({"name":"x"})", "application/json", {}, 401},
      {"Basic auth", "GET", "/v1/worlds", "", "", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}, 401},
      {"Bearer without a token", "GET", "/v1/worlds", "", "", {{"Authorization", "Bearer"}}, 401},
      {"malformed token", "GET", "/v1/worlds", "", "", {{"Authorization", "Bearer ' OR '1'='1"}}, 401},
      {"unknown token", "GET", "/v1/worlds", "", "", {{"Authorization", "Bearer pw_" + std::string(64, 'a')}}, 401},
      {"webhook to loopback", "POST", base + "/simulations",
       R"({"ticks":5,"callback_url":"http://127.0.0.1:8080/hook"})", "application/json", authed, 400},
      {"webhook to a private address", "POST", base + "/simulations",
       R"({"ticks":5,"callback_url":"http://10.0.0.1/hook"})", "application/json", authed, 400},
      {"webhook to cloud metadata", "POST", base + "/simulations",
       R"({"ticks":5,"callback_url":"http://169.254.169.254/latest/meta-data/"})", "application/json", authed, 400},
      {"webhook to localhost by name", "POST", base + "/simulations",
       R"({"ticks":5,"callback_url":"http://localhost/hook"})", "application/json", authed, 400},
      {"webhook to mapped IPv6 loopback", "POST", base + "/simulations",
       R"({"ticks":5,"callback_url":"http://[::ffff:127.0.0.1]/hook"})", "application/json", authed, 400},
      {"webhook with a file URL", "POST", base + "/simulations", R"({"ticks":5,"callback_url":"file:///etc/passwd"})",
       "application/json", authed, 400},
      {"unknown route", "GET", "/v1/nothing", "", "", authed, 404},
      {"wrong method", "PUT", "/v1/worlds", R"({"name":"x"})", "application/json", authed, 405},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto response = stack.call(row.method, row.path, row.body, row.headers, row.content_type);
    CHECK(response.status == row.status);
    auto body = json::parse(response.body, nullptr, false);
    REQUIRE_MESSAGE(body.is_object(), response.body);
    REQUIRE(body.contains("error"));
    CHECK(body["error"]["code"].is_string());
    CHECK(body["error"]["message"].is_string());
    CHECK(!body["error"]["request_id"].get<std::string>().empty());
    CHECK(body["error"]["request_id"] == header_of(response, "X-Request-ID"));
    if (row.status == 401) CHECK(header_of(response, "WWW-Authenticate").rfind("Bearer", 0) == 0);
    CHECK(stack.api().running());
  }
  CHECK(stack.table_counts() == before);
  CHECK(pw::test::http_get(stack.port(), "/healthz").status == 200);

  // SQL metacharacters in strings are data: stored and returned verbatim.
  const std::string sneaky = "Robert'); DROP TABLE worlds;-- \" \\ % _ \xe2\x9c\x93";
  auto created = stack.post("/v1/worlds", {{"name", sneaky}, {"description", "' OR 1=1 --"}}, token);
  REQUIRE(created.status == 201);
  auto fetched = stack.get_json("/v1/worlds/" + std::to_string(id_of(created)), token);
  CHECK(fetched["name"] == sneaky);
  CHECK(fetched["description"] == "' OR 1=1 --");
  CHECK(stack.table_counts()["worlds"] == before.at("worlds") + 1);
}

TEST_CASE("API e2e: the same simulation of the same world yields identical events") {
  Stack stack(/*allow_private=*/false);
  INFO(stack.output());
  auto token = stack.sign_up("alice");

  // Two worlds with one seed: generation 1 gives both the same personas, and
  // their first simulations the same random stream.
  struct Run {
    std::int64_t world_id;
    std::int64_t simulation_id;
  };
  auto run_world = [&](std::uint64_t seed) {
    auto world = stack.post("/v1/worlds", {{"name", "Twin"}, {"seed", seed}}, token);
    REQUIRE(world.status == 201);
    const auto world_id = id_of(world);
    const std::string base = "/v1/worlds/" + std::to_string(world_id);
    auto generate = stack.post(base + "/personas:generate", {{"count", 7}}, token);
    REQUIRE(generate.status == 202);
    REQUIRE(stack.wait_job(id_of(generate, "job"), token)["state"] == "succeeded");
    auto simulate = stack.post(base + "/simulations", {{"ticks", 400}}, token);
    REQUIRE(simulate.status == 202);
    REQUIRE(stack.wait_job(id_of(simulate, "job"), token)["state"] == "succeeded");
    return Run{world_id, id_of(simulate, "simulation")};
  };
  // Events with persona ids replaced by the persona's position in its world,
  // so two worlds can be compared.
  auto normalized = [&](const Run& run) {
    auto personas = stack.get_json("/v1/worlds/" + std::to_string(run.world_id) + "/personas?limit=100", token);
    std::map<std::int64_t, std::size_t> position;
    for (std::size_t i = 0; i < personas["items"].size(); ++i) position[personas["items"][i]["id"]] = i;
    json out = json::array();
    for (auto event : stack.all_events(run.world_id, token, run.simulation_id)) {
      json actors = json::array();
      for (const auto& actor : event["actors"]) actors.push_back(position.at(actor.get<std::int64_t>()));
      out.push_back({{"tick", event["tick"]}, {"kind", event["kind"]}, {"actors", actors}, {"text", event["text"]}});
    }
    return out;
  };

  auto first = normalized(run_world(77));
  auto second = normalized(run_world(77));
  REQUIRE(first.size() > 10);
  CHECK(first.dump() == second.dump());
  auto other = normalized(run_world(78));
  CHECK(other.dump() != first.dump());
}

// Writes of concurrent requests share transactions (on SQLite, the group
// commit): one request's refusal or replay must not undo, double or leak
// into the others' writes in the same commit, and each answer must match
// what was committed.
TEST_CASE("API e2e: many clients at once: successes, limit refusals and key replays committed side by side") {
  Stack stack(/*allow_private=*/false, /*with_worker=*/false);
  INFO(stack.output());
  auto token = stack.sign_up("alice");
  const auto before = stack.table_counts();

  // 12 clients x 10 worlds each, against the default cap of 100 worlds per
  // user; and 12 clients sending the same keyed request at the same time.
  constexpr int kClients = 12;
  constexpr int kEach = 10;
  std::mutex mutex;
  std::vector<int> statuses;
  std::vector<std::string> refusals;
  std::vector<std::int64_t> created_ids;
  std::vector<std::string> keyed_bodies;
  std::vector<int> keyed_statuses;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto keyed = stack.post("/v1/worlds", {{"name", "Keyed"}, {"seed", 7}}, token, {{"Idempotency-Key", "same-key"}});
      {
        std::lock_guard lock(mutex);
        keyed_statuses.push_back(keyed.status);
        keyed_bodies.push_back(keyed.body);
      }
      for (int i = 0; i < kEach; ++i) {
        auto response = stack.post("/v1/worlds", {{"name", "W" + std::to_string(c) + "-" + std::to_string(i)}}, token);
        std::lock_guard lock(mutex);
        statuses.push_back(response.status);
        if (response.status == 201) created_ids.push_back(json::parse(response.body)["id"].get<std::int64_t>());
        if (response.status == 409) refusals.push_back(json::parse(response.body)["error"]["code"]);
      }
    });
  }
  for (auto& client : clients) client.join();

  // The keyed request made one world; every client got its body.
  REQUIRE(keyed_statuses.size() == kClients);
  for (std::size_t i = 0; i < keyed_statuses.size(); ++i) {
    CHECK(keyed_statuses[i] == 201);
    CHECK(keyed_bodies[i] == keyed_bodies.front());
  }
  // With it, the others filled the cap exactly; the rest were refused.
  const auto total = static_cast<std::int64_t>(statuses.size());
  REQUIRE(total == kClients * kEach);
  CHECK(static_cast<std::int64_t>(created_ids.size()) == 99);
  CHECK(static_cast<std::int64_t>(refusals.size()) == total - 99);
  for (const auto& code : refusals) CHECK(code == "too_many_worlds");
  std::sort(created_ids.begin(), created_ids.end());
  CHECK(std::adjacent_find(created_ids.begin(), created_ids.end()) == created_ids.end());
  // What was acknowledged is what is stored: no refused world, no lost one.
  auto after = stack.table_counts();
  CHECK(after.at("worlds") == before.at("worlds") + 100);
  CHECK(after.at("idempotency_keys") == before.at("idempotency_keys") + 1);
  for (auto id : created_ids) CHECK(stack.get("/v1/worlds/" + std::to_string(id), token).status == 200);
}

TEST_CASE("API e2e: a world one persona short of full, added to by many clients at once, takes exactly one") {
  Stack stack(/*allow_private=*/false, /*with_worker=*/false);
  INFO(stack.output());
  auto token = stack.sign_up("alice");
  auto world = stack.post("/v1/worlds", {{"name", "Crowded"}}, token);
  REQUIRE(world.status == 201);
  const std::string personas = "/v1/worlds/" + std::to_string(json::parse(world.body)["id"].get<std::int64_t>()) +
                               "/personas";
  constexpr int kCap = 1000;  // personas per world
  for (int i = 0; i < kCap - 1; ++i) {
    auto added = stack.post(personas, {{"name", "P" + std::to_string(i)}}, token);
    REQUIRE_MESSAGE(added.status == 201, added.body);
  }
  constexpr int kClients = 12;
  std::mutex mutex;
  std::vector<int> statuses;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto added = stack.post(personas, {{"name", "Late" + std::to_string(c)}}, token);
      std::lock_guard lock(mutex);
      statuses.push_back(added.status);
    });
  }
  for (auto& client : clients) client.join();
  CHECK(std::count(statuses.begin(), statuses.end(), 201) == 1);
  CHECK(std::count(statuses.begin(), statuses.end(), 409) == kClients - 1);
  CHECK(stack.table_counts().at("personas") == kCap);
}
