#include <doctest/doctest.h>

#include <filesystem>

#include "api/api.hpp"
#include "db/statement.hpp"
#include "queue/job_queue.hpp"
#include "unit/api/api_fixture.hpp"

using namespace pw;
using nlohmann::json;

TEST_CASE("API: sign-up shows a token once, the token authenticates, the handle is unique") {
  test::ApiFixture api;
  auto created = api.post("/v1/users", {{"handle", "alice"}});
  REQUIRE(created.status == 201);
  auto body = created.json();
  const std::string token = body["token"];
  CHECK(token.rfind("pw_", 0) == 0);
  CHECK(body["user"]["handle"] == "alice");

  auto me = api.get("/v1/me", token);
  CHECK(me.status == 200);
  CHECK(me.json()["id"] == body["user"]["id"]);
  CHECK(api.last_user_id == std::optional<std::int64_t>(body["user"]["id"].get<std::int64_t>()));

  auto taken = api.post("/v1/users", {{"handle", "alice"}});
  CHECK(taken.status == 409);
  CHECK(taken.error_code() == "handle_taken");

  // The database holds the hash, never the token.
  const auto hashes = api.probe().rows("SELECT token_hash FROM tokens", 1);
  REQUIRE(!hashes.empty());
  CHECK(hashes[0][0] != token);
  CHECK(hashes[0][0].size() == 64);
}

TEST_CASE("API: a missing or wrong token is 401 with WWW-Authenticate") {
  test::ApiFixture api;
  api.sign_up("alice");
  auto missing = api.call("GET", "/v1/me");
  CHECK(missing.status == 401);
  CHECK(missing.header("WWW-Authenticate").find("Bearer") == 0);
  for (const std::string& header :
       {std::string("Bearer pw_") + std::string(64, '0'), std::string("Basic YWxhZGRpbjpvcGVu"),
        std::string("Bearer"), std::string("Bearer ' OR 1=1 --"), std::string("pw_") + std::string(64, 'a')}) {
    CAPTURE(header);
    auto wrong = api.call("GET", "/v1/worlds", {}, {{"Authorization", header}});
    CHECK(wrong.status == 401);
    CHECK(wrong.error_code() == "invalid_token");
    CHECK(wrong.header("WWW-Authenticate").find("invalid_token") != std::string::npos);
  }
}

TEST_CASE("API: a world's life: create, get, list with a cursor, delete") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto created = api.post("/v1/worlds", {{"name", "Eden"}, {"description", "a garden"}, {"seed", 42}}, token);
  REQUIRE(created.status == 201);
  auto world = created.json();
  CHECK(world["seed"] == 42);
  CHECK(world["persona_count"] == 0);
  const std::string path = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  CHECK(api.get(path, token).json() == world);

  for (int i = 0; i < 4; ++i) api.post("/v1/worlds", {{"name", "w" + std::to_string(i)}}, token);
  auto page = api.get("/v1/worlds?limit=3", token).json();
  CHECK(page["items"].size() == 3);
  REQUIRE(page["next_cursor"].is_string());
  auto rest = api.get("/v1/worlds?limit=3&cursor=" + page["next_cursor"].get<std::string>(), token).json();
  CHECK(rest["items"].size() == 2);
  CHECK(rest["next_cursor"].is_null());

  auto random_seeded = api.post("/v1/worlds", {{"name", "random"}}, token).json();
  CHECK(random_seeded["seed"].is_number_unsigned());

  CHECK(api.call("DELETE", path, {}, {{"Authorization", "Bearer " + token}}).status == 204);
  CHECK(api.get(path, token).status == 404);
  CHECK(api.call("DELETE", path, {}, {{"Authorization", "Bearer " + token}}).status == 404);
}

TEST_CASE("API: another user's world, personas, simulations, events and jobs are 404") {
  test::ApiFixture api;
  auto alice = api.sign_up("alice");
  auto bob = api.sign_up("bob");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}}, alice).json();
  const std::string base = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  auto generated = api.post(base + "/personas:generate", {{"count", 3}}, alice);
  REQUIRE(generated.status == 202);
  auto simulated = api.post(base + "/simulations", {{"ticks", 5}}, alice);
  REQUIRE(simulated.status == 202);
  const auto job_id = generated.json()["job"]["id"].get<std::int64_t>();
  const auto simulation_id = simulated.json()["simulation"]["id"].get<std::int64_t>();
  auto before = api.table_counts();

  CHECK(api.get(base, bob).status == 404);
  CHECK(api.get(base + "/personas", bob).status == 404);
  CHECK(api.get(base + "/simulations", bob).status == 404);
  CHECK(api.get(base + "/simulations/" + std::to_string(simulation_id), bob).status == 404);
  CHECK(api.get(base + "/events", bob).status == 404);
  CHECK(api.get("/v1/jobs/" + std::to_string(job_id), bob).status == 404);
  CHECK(api.post(base + "/personas", {{"name", "Intruder"}}, bob).status == 404);
  CHECK(api.post(base + "/personas:generate", {{"count", 1}}, bob).status == 404);
  CHECK(api.post(base + "/simulations", {{"ticks", 1}}, bob).status == 404);
  CHECK(api.call("DELETE", base, {}, {{"Authorization", "Bearer " + bob}}).status == 404);
  CHECK(api.get("/v1/worlds", bob).json()["items"].empty());
  CHECK(api.table_counts() == before);

  // The owner sees all of it.
  CHECK(api.get("/v1/jobs/" + std::to_string(job_id), alice).status == 200);
  CHECK(api.get(base + "/simulations/" + std::to_string(simulation_id), alice).status == 200);
}

TEST_CASE("API: generate and simulate enqueue jobs that carry the request id, user and payload") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}, {"seed", 7}}, token).json();
  const std::string base = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  auto generated = api.post(base + "/personas:generate", {{"count", 5}}, token, {{"X-Ignored", "1"}});
  REQUIRE(generated.status == 202);
  auto job = generated.json()["job"];
  CHECK(job["type"] == "persona.generate");
  CHECK(job["state"] == "queued");
  CHECK(job["trace_id"].get<std::string>().rfind("req-", 0) == 0);

  auto simulated = api.post(base + "/simulations", {{"ticks", 10}}, token);
  REQUIRE(simulated.status == 202);
  auto body = simulated.json();
  CHECK(body["job"]["type"] == "world.simulate");
  CHECK(body["simulation"]["job_id"] == body["job"]["id"]);
  CHECK(body["simulation"]["number"] == 1);
  CHECK(body["simulation"]["state"] == "pending");

  auto fetched = api.get("/v1/jobs/" + std::to_string(job["id"].get<std::int64_t>()), token);
  CHECK(fetched.status == 200);
  CHECK(fetched.json()["id"] == job["id"]);
}

TEST_CASE("API: an Idempotency-Key replays the first response and creates nothing twice") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto first = api.post("/v1/worlds", {{"name", "Eden"}, {"seed", 1}}, token, {{"Idempotency-Key", "k-1"}});
  REQUIRE(first.status == 201);
  auto before = api.table_counts();
  // The same request spelled differently is the same request.
  auto again = api.call("POST", "/v1/worlds", R"({ "seed": 1,  "name": "Eden" })",
                        {{"Content-Type", "application/json"},
                         {"Authorization", "Bearer " + token},
                         {"Idempotency-Key", "k-1"}});
  CHECK(again.status == 201);
  CHECK(again.body == first.body);
  CHECK(again.header("Idempotent-Replayed") == "true");
  CHECK(api.table_counts() == before);

  auto different = api.post("/v1/worlds", {{"name", "Other"}}, token, {{"Idempotency-Key", "k-1"}});
  CHECK(different.status == 422);
  CHECK(different.error_code() == "idempotency_key_reused");
  CHECK(api.table_counts() == before);

  // Keys belong to a user: bob's k-1 is his own.
  auto bob = api.sign_up("bob");
  auto bobs = api.post("/v1/worlds", {{"name", "Eden"}, {"seed", 1}}, bob, {{"Idempotency-Key", "k-1"}});
  CHECK(bobs.status == 201);
  CHECK(bobs.json()["id"] != first.json()["id"]);

  // Jobs too: one job however often the request is repeated.
  const std::string base = "/v1/worlds/" + std::to_string(first.json()["id"].get<std::int64_t>());
  auto job1 = api.post(base + "/personas:generate", {{"count", 2}}, token, {{"Idempotency-Key", "gen"}});
  auto job2 = api.post(base + "/personas:generate", {{"count", 2}}, token, {{"Idempotency-Key", "gen"}});
  CHECK(job1.status == 202);
  CHECK(job2.status == 202);
  CHECK(job1.body == job2.body);
  // The same key on another world is another request.
  auto other_world = api.post("/v1/worlds", {{"name", "Second"}}, token).json();
  auto elsewhere = api.post("/v1/worlds/" + std::to_string(other_world["id"].get<std::int64_t>()) +
                                "/personas:generate",
                            {{"count", 2}}, token, {{"Idempotency-Key", "gen"}});
  CHECK(elsewhere.status == 422);

  // A key expires after a day and can then be used afresh.
  api.clock().advance_ms(api::idempotency_ttl_ms + 1);
  auto later = api.post("/v1/worlds", {{"name", "Other"}}, token, {{"Idempotency-Key", "k-1"}});
  CHECK(later.status == 201);
  CHECK(later.header("Idempotent-Replayed").empty());
}

TEST_CASE("API: a replayed sign-up returns the user without the token, which is never stored") {
  test::ApiFixture api;
  auto first = api.post("/v1/users", {{"handle", "alice"}}, {}, {{"Idempotency-Key", "signup-1"}});
  REQUIRE(first.status == 201);
  const std::string token = first.json()["token"];
  auto replay = api.post("/v1/users", {{"handle", "alice"}}, {}, {{"Idempotency-Key", "signup-1"}});
  CHECK(replay.status == 201);
  CHECK(replay.header("Idempotent-Replayed") == "true");
  CHECK(replay.json()["user"] == first.json()["user"]);
  CHECK(replay.json()["token"].is_null());
  CHECK(api.probe().scalar("SELECT COUNT(*) FROM idempotency_keys WHERE response LIKE '%' || ? || '%'", {token}) ==
        0);
}

TEST_CASE("API: a failed request stores no idempotency record, so its key can be retried") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto missing_world = api.post("/v1/worlds/999/personas", {{"name", "A"}}, token, {{"Idempotency-Key", "k"}});
  CHECK(missing_world.status == 404);
  auto bad = api.post("/v1/worlds", {{"name", ""}}, token, {{"Idempotency-Key", "k"}});
  CHECK(bad.status == 400);
  auto good = api.post("/v1/worlds", {{"name", "Eden"}}, token, {{"Idempotency-Key", "k"}});
  CHECK(good.status == 201);
  auto bad_key = api.post("/v1/worlds", {{"name", "Eden"}}, token, {{"Idempotency-Key", "has space"}});
  CHECK(bad_key.status == 400);
}

TEST_CASE("API: hostile bodies get 4xx naming the field and change nothing") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}}, token).json();
  const std::string base = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  auto before = api.table_counts();
  struct Row {
    const char* name;
    std::string path;
    std::string body;
    std::string content_type;
    int status;
    const char* field;
  };
  const std::vector<Row> rows = {
      {"not JSON", "/v1/worlds", "{name:", "application/json", 400, "body"},
      {"text/plain", "/v1/worlds", R"({"name":"x"})", "text/plain", 415, "Content-Type"},
      {"invalid UTF-8", "/v1/worlds", "{\"name\":\"\xc3\x28\"}", "application/json", 400, "body"},
      {"name a number", "/v1/worlds", R"({"name":5})", "application/json", 400, "name"},
      {"name too long", "/v1/worlds", R"({"name":")" + std::string(101, 'x') + "\"}", "application/json", 400, "name"},
      {"description too long", "/v1/worlds", R"({"name":"x","description":")" + std::string(2001, 'x') + "\"}",
       "application/json", 400, "description"},
      {"seed a fraction", "/v1/worlds", R"({"name":"x","seed":1.5})", "application/json", 400, "seed"},
      {"seed huge", "/v1/worlds", R"({"name":"x","seed":99999999999999999999999999})", "application/json", 400,
       "seed"},
      {"seed negative", "/v1/worlds", R"({"name":"x","seed":-1})", "application/json", 400, "seed"},
      {"seed too big for doubles", "/v1/worlds", R"({"name":"x","seed":9007199254740992})", "application/json", 400,
       "seed"},
      {"unknown field", "/v1/worlds", R"({"name":"x","owner":1})", "application/json", 400, "owner"},
      {"null name", "/v1/worlds", R"({"name":null})", "application/json", 400, "name"},
      {"control character", "/v1/worlds", R"({"name":"a\u0000b"})", "application/json", 400, "name"},
      {"count zero", base + "/personas:generate", R"({"count":0})", "application/json", 400, "count"},
      {"count 101", base + "/personas:generate", R"({"count":101})", "application/json", 400, "count"},
      {"count a string", base + "/personas:generate", R"({"count":"5"})", "application/json", 400, "count"},
      {"trait out of range", base + "/personas", R"({"name":"A","traits":{"loyalty":101}})", "application/json",
       400, "traits"},
      {"unknown trait", base + "/personas", R"({"name":"A","traits":{"charm":5}})", "application/json", 400,
       "traits"},
      {"traits not an object", base + "/personas", R"({"name":"A","traits":[1]})", "application/json", 400,
       "traits"},
      {"ticks zero", base + "/simulations", R"({"ticks":0})", "application/json", 400, "ticks"},
      {"ticks 10001", base + "/simulations", R"({"ticks":10001})", "application/json", 400, "ticks"},
      {"ticks missing", base + "/simulations", R"({})", "application/json", 400, "ticks"},
      {"callback ftp", base + "/simulations", R"({"ticks":1,"callback_url":"ftp://example.com/"})",
       "application/json", 400, "callback_url"},
      {"callback loopback", base + "/simulations", R"({"ticks":1,"callback_url":"http://127.0.0.1:9/"})",
       "application/json", 400, "callback_url"},
      {"callback private", base + "/simulations", R"({"ticks":1,"callback_url":"http://10.0.0.1/"})",
       "application/json", 400, "callback_url"},
      {"callback metadata", base + "/simulations", R"({"ticks":1,"callback_url":"http://169.254.169.254/"})",
       "application/json", 400, "callback_url"},
      {"callback mapped loopback", base + "/simulations", R"({"ticks":1,"callback_url":"http://[::ffff:127.0.0.1]/"})",
       "application/json", 400, "callback_url"},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.name));
    auto result = api.call("POST", row.path, row.body,
                           {{"Content-Type", row.content_type}, {"Authorization", "Bearer " + token}});
    CHECK(result.status == row.status);
    auto error = result.json()["error"];
    CHECK(error["message"].get<std::string>().find(row.field) != std::string::npos);
    CHECK(!error["request_id"].get<std::string>().empty());
  }
  CHECK(api.table_counts() == before);
}

TEST_CASE("API: SQL metacharacters and unicode in strings are stored and returned verbatim") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  const std::string name = "Robert'); DROP TABLE worlds;-- \xe4\xb8\x96\xe7\x95\x8c";
  auto created = api.post("/v1/worlds", {{"name", name}, {"description", "%_\\\"' OR '1'='1"}}, token);
  REQUIRE(created.status == 201);
  auto fetched = api.get("/v1/worlds/" + std::to_string(created.json()["id"].get<std::int64_t>()), token).json();
  CHECK(fetched["name"] == name);
  CHECK(fetched["description"] == "%_\\\"' OR '1'='1");
}

TEST_CASE("API: personas are added by hand with defaults for missing traits") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}}, token).json();
  const std::string base = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  auto created = api.post(base + "/personas", {{"name", "Mira"}, {"traits", {{"aggression", 90}}}}, token);
  REQUIRE(created.status == 201);
  auto persona = created.json();
  CHECK(persona["traits"]["aggression"] == 90);
  CHECK(persona["traits"]["loyalty"] == 50);
  CHECK(persona["source"] == "manual");
  auto page = api.get(base + "/personas", token).json();
  REQUIRE(page["items"].size() == 1);
  CHECK(page["items"][0] == persona);
  CHECK(api.get(base, token).json()["persona_count"] == 1);
}

TEST_CASE("API: query parameters are checked") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}}, token).json();
  const std::string base = "/v1/worlds/" + std::to_string(world["id"].get<std::int64_t>());
  CHECK(api.get("/v1/worlds?limit=0", token).status == 400);
  CHECK(api.get("/v1/worlds?limit=101", token).status == 400);
  CHECK(api.get("/v1/worlds?cursor=abc", token).status == 400);
  CHECK(api.get(base + "/events?after=-1", token).status == 400);
  CHECK(api.get(base + "/events?simulation_id=0", token).status == 400);
  auto events = api.get(base + "/events?after=0&limit=100", token);
  CHECK(events.status == 200);
  CHECK(events.json()["items"].empty());
  CHECK(events.json()["next_after"].is_null());
}

TEST_CASE("API: ids in paths that are not canonical positive integers are 404") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  for (const char* id : {"0", "-1", "01", "1.0", "abc", "1%20", "9223372036854775808", "..", "%2e%2e"}) {
    CAPTURE(std::string(id));
    CHECK(api.get(std::string("/v1/worlds/") + id, token).status == 404);
    CHECK(api.get(std::string("/v1/jobs/") + id, token).status == 404);
  }
}

TEST_CASE("API: a SQL error (here a lost table) is not 'unavailable': it goes on to the 500 boundary") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  auto world = api.post("/v1/worlds", {{"name", "Eden"}}, token);
  REQUIRE(world.status == 201);
  api.probe().exec("DROP TABLE events");
  const auto events = "/v1/worlds/" + std::to_string(world.json()["id"].get<std::int64_t>()) + "/events";
  // The route boundary lets it through; the server's boundary answers 500 and logs it at error.
  try {
    api.get(events, token);
    FAIL("expected the database error to reach the server's boundary");
  } catch (const db::Error& e) {
    CHECK(e.fault() == db::Fault::other);
  }
  CHECK(api.get("/v1/worlds", token).status == 200);
}

TEST_CASE("API on SQLite: a locked or broken database is 503 with Retry-After, and the API recovers") {
  test::ApiFixture api(config::ApiConfig{}, 50);
  auto token = api.sign_up("alice");
  {
    // Another connection holds the write lock past the busy timeout.
    db::Connection holder(api.db());
    db::WriteTransaction lock(holder);
    auto result = api.post("/v1/worlds", {{"name", "Eden"}}, token);
    CHECK(result.status == 503);
    CHECK(result.error_code() == "unavailable");
    CHECK(result.header("Retry-After") == "1");
  }
  auto after = api.post("/v1/worlds", {{"name", "Eden"}}, token);
  CHECK(after.status == 201);

  // A database file deleted under the running API: refused, not written into
  // the void through a connection that still has it open.
  std::filesystem::remove(api.db().path);
  auto deleted = api.post("/v1/worlds", {{"name", "Lost"}}, token);
  CHECK(deleted.status == 503);
  CHECK(deleted.header("Retry-After") == "1");
}

TEST_CASE("API: a job that succeeded after failed attempts shows no error, and the earlier one as history") {
  test::ApiFixture api;
  auto token = api.sign_up("alice");
  const auto user_id = api.get("/v1/me", token).json()["id"].get<std::int64_t>();
  auto session = api.storage().acquire();
  queue::JobTable& queue = session->jobs();
  queue::NewJob new_job;
  new_job.type = "webhook.deliver";
  new_job.user_id = user_id;
  const auto id = queue.enqueue(new_job).id;
  const std::string path = "/v1/jobs/" + std::to_string(id);

  REQUIRE(queue.claim("w1", 1, 30000).jobs.size() == 1);
  REQUIRE(queue.fail("w1", {queue::token_of(*queue.find(id)), "receiver answered 503"}) ==
          queue::FailureOutcome::requeued);
  auto retrying = api.get(path, token).json();
  CHECK(retrying["state"] == "queued");
  CHECK(retrying["last_error"] == "receiver answered 503");
  CHECK(retrying["earlier_error"].is_null());

  api.clock().advance_ms(10 * 60 * 1000);
  REQUIRE(queue.claim("w1", 1, 30000).jobs.size() == 1);
  REQUIRE(queue.complete("w1", {queue::token_of(*queue.find(id)), R"({"status":200})"}));
  auto done = api.get(path, token).json();
  CHECK(done["state"] == "succeeded");
  CHECK(done["attempts"] == 2);
  CHECK(done["last_error"].is_null());
  CHECK(done["earlier_error"] == "receiver answered 503");
  CHECK(done["result"]["status"] == 200);
}
