// `personaworlds migrate copy`, as an operator moving off SQLite runs it:
// a database made by the real api and worker is copied into the test run's
// PostgreSQL server, and the api on PostgreSQL then answers the same GETs
// with the same bodies, hands out new ids past the copied ones, and its
// worker runs the jobs that were waiting. Also: a non-empty target is
// refused, and a copy killed midway finishes when run again.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/connection.hpp"
#include "db/postgres/connection.hpp"
#include "db/statement.hpp"
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace pw::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kPassword = "Pg-S3cret-For-Copy";

// A role with a password, owning a fresh database, reached over TCP: the
// URL carries the password as it would in production.
std::string database_with_password() {
  auto& server = PostgresServer::shared();
  server.run_sql(
      std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_copier') THEN "
                  "CREATE ROLE pw_copier LOGIN PASSWORD '") +
      kPassword + "'; END IF; END $$");
  std::string url = server.create_database();
  std::string name = url.substr(url.find("@/") + 2);
  name = name.substr(0, name.find('?'));
  server.run_sql("ALTER DATABASE " + name + " OWNER TO pw_copier");
  server.run_sql("ALTER SCHEMA public OWNER TO pw_copier", name);
  return server.tcp_url("pw_copier", kPassword, name);
}

std::string seen(const RunResult& result) { return result.out + result.err; }

int api_port(Process& api) {
  auto started = api.wait_for_json("api_started", 30s);
  REQUIRE(started);
  return (*started)["port"].get<int>();
}

HttpResponse call(const std::string& method, int port, const std::string& path, const std::string& token,
                  const json& body = nullptr, const std::string& idempotency_key = {}) {
  std::multimap<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
  if (!idempotency_key.empty()) headers.emplace("Idempotency-Key", idempotency_key);
  return http_request(method, port, path, body.is_null() ? std::string() : body.dump(), "application/json", headers);
}

json posted(int port, const std::string& path, const std::string& token, const json& body,
            const std::string& idempotency_key = {}) {
  auto response = call("POST", port, path, token, body, idempotency_key);
  INFO(path << " " << response.body);
  REQUIRE((response.status == 201 || response.status == 202));
  return json::parse(response.body);
}

std::string sign_up(int port, const std::string& handle) {
  auto response = http_request("POST", port, "/v1/users", json{{"handle", handle}}.dump());
  REQUIRE(response.status == 201);
  return json::parse(response.body)["token"].get<std::string>();
}

std::int64_t count(pw::db::Connection& connection, const std::string& sql) {
  pw::db::Statement statement(connection, sql);
  statement.step();
  return statement.int64(0);
}

// Jobs that can still run, seen on SQLite.
bool nothing_pending(const std::string& path) {
  pw::config::DatabaseConfig config;
  config.path = path;
  config.create_if_missing = false;
  pw::db::Connection connection(config);
  return count(connection, "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')") == 0;
}

struct Get {
  std::string path;
  std::string token;
};

}  // namespace

TEST_CASE("migrate copy (binary): a used SQLite database moves to PostgreSQL and the API serves it the same") {
  TempDir dir;
  const std::string path = dir.file("pw.db");
  REQUIRE(run(PW_BINARY, {"migrate", "--db", path}).exit_code == 0);

  std::string ada, bob;
  std::vector<Get> gets;
  std::vector<std::pair<std::string, std::string>> answers;  // what SQLite served, per GET
  std::int64_t ada_world = 0;
  std::int64_t waiting_simulation = 0;
  {
    Process api(PW_BINARY, {"api", "--db", path, "--host", "127.0.0.1", "--port", "0", "--shutdown-delay-ms", "0"});
    const int port = api_port(api);
    ada = sign_up(port, "ada");
    bob = sign_up(port, "bob");
    const std::string laptop = posted(port, "/v1/tokens", ada, {{"name", "laptop"}})["token"].get<std::string>();
    ada_world = posted(port, "/v1/worlds", ada, {{"name", "Pangaea"}, {"seed", 42}}, "world-1")["id"];
    const std::int64_t second = posted(port, "/v1/worlds", ada, {{"name", "Laurasia \"two\""}, {"seed", 7}})["id"];
    const std::int64_t bobs = posted(port, "/v1/worlds", bob, {{"name", "Gondwana"}})["id"];
    const std::string a = "/v1/worlds/" + std::to_string(ada_world);
    const std::string b = "/v1/worlds/" + std::to_string(bobs);
    posted(port, a + "/personas", ada, {{"name", "Zoë"}});
    posted(port, a + "/personas:generate", ada, {{"count", 9}});
    posted(port, b + "/personas:generate", bob, {{"count", 4}});

    {
      Process worker(PW_BINARY, {"worker", "--db", path, "--observability-port", "0"});
      REQUIRE(worker.wait_for_json("worker_started", 30s));
      REQUIRE(eventually([&] { return nothing_pending(path); }));
      posted(port, a + "/simulations", ada, {{"ticks", 40}}, "sim-1");
      posted(port, a + "/simulations", ada, {{"ticks", 25}});
      posted(port, b + "/simulations", bob, {{"ticks", 30}});
      REQUIRE(eventually([&] { return nothing_pending(path); }));
      // A job no handler takes ends dead.
      REQUIRE(run(PW_BINARY, {"jobs", "enqueue", "--type", "no.such.kind", "--db", path}).exit_code == 0);
      REQUIRE(eventually([&] { return nothing_pending(path); }));
      worker.signal(SIGTERM);
      REQUIRE(worker.wait_exit(30s) == 0);
    }
    // A world schedule (its first tick next year) and an operator's.
    posted(port, a + "/schedules", ada, {{"cron", "0 0 1 1 *"}, {"ticks", 5}, {"time_zone", "Europe/Paris"}});
    REQUIRE(run(PW_BINARY, {"jobs", "schedule", "add", "--db", path, "--name", "yearly", "--cron", "@yearly", "--type",
                            "noop"})
                .exit_code == 0);
    // Waiting when the roles stop: a simulation, a generation, and a job a
    // worker held when its host died (its lease runs for another hour).
    waiting_simulation = posted(port, a + "/simulations", ada, {{"ticks", 20}})["simulation"]["id"];
    posted(port, b + "/personas:generate", bob, {{"count", 2}});
    REQUIRE(run(PW_BINARY, {"jobs", "enqueue", "--type", "noop", "--db", path}).exit_code == 0);
    {
      pw::config::DatabaseConfig config;
      config.path = path;
      pw::db::Connection connection(config);
      connection.exec(
          "UPDATE jobs SET state = 'running', attempts = 1, claim = claim + 1, lease_owner = 'lost-host:1:x', "
          "lease_expires_at = unixepoch() * 1000 + 3600000, started_at = unixepoch() * 1000 "
          "WHERE id = (SELECT max(id) FROM jobs WHERE type = 'noop')");
      REQUIRE(count(connection, "SELECT count(*) FROM jobs WHERE state = 'running'") == 1);
      REQUIRE(count(connection, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 1);
      REQUIRE(count(connection, "SELECT count(*) FROM jobs WHERE state = 'queued'") == 2);
      REQUIRE(count(connection, "SELECT count(*) FROM events") > 100);
    }

    for (const auto& world : {a, "/v1/worlds/" + std::to_string(second)}) {
      gets.push_back({world, ada});
      gets.push_back({world + "/personas?limit=100", ada});
      gets.push_back({world + "/simulations?limit=100", ada});
      gets.push_back({world + "/events?limit=100", ada});
      gets.push_back({world + "/schedules", ada});
    }
    gets.push_back({a + "/events?limit=100&after=50", laptop});
    gets.push_back({"/v1/worlds", ada});
    gets.push_back({"/v1/worlds", laptop});
    gets.push_back({"/v1/me", ada});
    gets.push_back({b, bob});
    gets.push_back({b + "/events?limit=100", bob});
    gets.push_back({b + "/personas?limit=100", bob});
    gets.push_back({"/v1/worlds", bob});
    gets.push_back({"/v1/jobs/1", ada});
    gets.push_back({a, bob});  // not bob's: refused alike
    for (const auto& get : gets) {
      auto response = call("GET", port, get.path, get.token);
      INFO(get.path << " " << response.body);
      CHECK((response.status == 200 || response.status == 404));
      answers.emplace_back(std::to_string(response.status), response.body);
    }
    api.signal(SIGTERM);
    REQUIRE(api.wait_exit(30s) == 0);
  }

  // An operator console token goes over with the rest.
  auto admin_made = run(PW_BINARY, {"admin", "token", "create", "--db", path, "--name", "ops"});
  REQUIRE(admin_made.exit_code == 0);
  const std::string admin_token = admin_made.out.substr(0, admin_made.out.find('\n'));

  const std::string url = database_with_password();
  auto copied = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path, "--to", url, "--batch-size", "50"});
  INFO(seen(copied));
  REQUIRE(copied.exit_code == 0);
  CHECK(copied.out.find("copy verified: 12 tables") != std::string::npos);
  CHECK(copied.out.find("MISMATCH") == std::string::npos);
  CHECK(copied.err.find("copy: users 2/2 (100%)") != std::string::npos);
  CHECK(copied.err.find("copy: jobs ") != std::string::npos);
  CHECK(copied.err.find("copy: verifying events") != std::string::npos);
  CHECK(copied.err.find("pw_copier:***@") != std::string::npos);
  CHECK(seen(copied).find(kPassword) == std::string::npos);
  {
    pw::db::postgres::Connection target({url});
    auto job = target.query("SELECT state, lease_owner IS NULL, lease_expires_at IS NULL, attempts FROM jobs "
                            "WHERE type = 'noop'");
    CHECK(job.text(0, 0) == "queued");
    CHECK(job.boolean(0, 1));
    CHECK(job.boolean(0, 2));
    CHECK(job.int64(0, 3) == 1);
  }

  // The same command again finds the copy done and refuses to copy twice.
  auto again = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path}, {{"DATABASE_URL", url}});
  CHECK(again.exit_code == 2);
  CHECK(again.err.find("not empty") != std::string::npos);
  CHECK(seen(again).find(kPassword) == std::string::npos);

  Process api(PW_BINARY, {"api", "--database-url", url, "--host", "127.0.0.1", "--port", "0", "--shutdown-delay-ms",
                          "0"});
  const int port = api_port(api);
  for (std::size_t i = 0; i < gets.size(); ++i) {
    auto response = call("GET", port, gets[i].path, gets[i].token);
    INFO(gets[i].path);
    CHECK(std::to_string(response.status) == answers[i].first);
    if (response.status == 200) {
      CHECK(json::parse(response.body) == json::parse(answers[i].second));
    } else {
      CHECK(json::parse(response.body)["error"]["code"] == json::parse(answers[i].second)["error"]["code"]);
    }
  }
  CHECK(call("GET", port, "/admin/v1/jobs?limit=1", admin_token).status == 200);
  CHECK(call("GET", port, "/admin/v1/jobs?limit=1", ada).status == 401);
  // An Idempotency-Key used on SQLite replays the stored answer.
  auto replay = call("POST", port, "/v1/worlds", ada, {{"name", "Pangaea"}, {"seed", 42}}, "world-1");
  CHECK(replay.status == 201);
  CHECK(json::parse(replay.body)["id"] == ada_world);

  // The worker on PostgreSQL runs what was waiting, the job whose lease was lost included.
  Process worker(PW_BINARY, {"worker", "--database-url", url, "--observability-port", "0"});
  REQUIRE(worker.wait_for_json("worker_started", 30s));
  pw::db::postgres::Connection target({url});
  auto settled = [&] {
    return target.query("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')").int64(0, 0) == 0;
  };
  CHECK(eventually(settled));
  CHECK(target.query("SELECT state FROM jobs WHERE type = 'noop'").text(0, 0) == "succeeded");
  auto waited = json::parse(call("GET", port, "/v1/worlds/" + std::to_string(ada_world) + "/simulations/" +
                                                  std::to_string(waiting_simulation),
                                 ada)
                                .body);
  CHECK(waited["state"] == "completed");

  // New rows get ids past the copied ones.
  auto fresh = posted(port, "/v1/worlds", bob, {{"name", "Atlantis"}, {"seed", 3}});
  CHECK(fresh["id"].get<std::int64_t>() == 4);
  const std::string f = "/v1/worlds/" + std::to_string(fresh["id"].get<std::int64_t>());
  posted(port, f + "/personas:generate", bob, {{"count", 4}});
  CHECK(eventually(settled));
  auto simulation = posted(port, f + "/simulations", bob, {{"ticks", 10}});
  CHECK(simulation["simulation"]["id"].get<std::int64_t>() > waiting_simulation);
  CHECK(simulation["job"]["id"].get<std::int64_t>() >
        target.query("SELECT max(id) FROM jobs WHERE type = 'noop'").int64(0, 0));
  CHECK(eventually(settled));
  auto events = json::parse(call("GET", port, f + "/events?limit=100", bob).body);
  CHECK_FALSE(events["items"].empty());
  worker.signal(SIGTERM);
  CHECK(worker.wait_exit(30s) == 0);
}

TEST_CASE("migrate copy (binary): a target that holds rows is refused in one line, and nothing is copied") {
  TempDir dir;
  const std::string path = dir.file("pw.db");
  REQUIRE(run(PW_BINARY, {"migrate", "--db", path}).exit_code == 0);
  {
    pw::config::DatabaseConfig config;
    config.path = path;
    pw::db::Connection connection(config);
    connection.exec("INSERT INTO users (id, handle, created_at) VALUES (1, 'ada', 0);"
                    "INSERT INTO tokens (id, user_id, name, token_hash, created_at) VALUES (1, 1, 'sign-up', 'a', 0)");
  }
  const std::string url = PostgresServer::shared().create_database();
  REQUIRE(run(PW_BINARY, {"migrate", "--database-url", url}).exit_code == 0);
  pw::db::postgres::Connection target({url});
  target.exec("INSERT INTO users (id, handle, created_at) VALUES (1, 'zed', 0);"
              "INSERT INTO tokens (id, user_id, name, token_hash, created_at) VALUES (1, 1, 'sign-up', 'z', 0)");

  auto refused = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path, "--to", url});
  INFO(seen(refused));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err ==
        "personaworlds migrate copy: refused: the target is not empty (table users has rows); copy into a freshly "
        "migrated database, or give --allow-non-empty\n");
  CHECK(target.query("SELECT handle FROM users").size() == 1);

  // Told otherwise, it copies what it can and reports that the tables differ.
  auto forced = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path, "--to", url, "--allow-non-empty"});
  CHECK(forced.exit_code == 1);
  CHECK(forced.out.find("copy NOT verified: users, tokens differ") != std::string::npos);

  // Arguments that cannot work are refused before anything is opened.
  auto missing = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + dir.file("nope.db"), "--to", url});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("no SQLite database at") != std::string::npos);
  auto no_target = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path}, {{"DATABASE_URL", ""}});
  CHECK(no_target.exit_code == 2);
  CHECK(no_target.err.find("--to") != std::string::npos);
}

TEST_CASE("migrate copy (binary): a copy killed midway completes when run again, with no row twice") {
  TempDir dir;
  const std::string path = dir.file("pw.db");
  REQUIRE(run(PW_BINARY, {"migrate", "--db", path}).exit_code == 0);
  constexpr std::int64_t kEvents = 100000;
  {
    pw::config::DatabaseConfig config;
    config.path = path;
    pw::db::Connection connection(config);
    // A large timeline, written directly: what matters here is its size.
    connection.exec(
        "INSERT INTO users (id, handle, created_at) VALUES (1, 'ada', 0);"
        "INSERT INTO worlds (id, user_id, name, seed, created_at) VALUES (1, 1, 'Big', 1, 0);"
        "INSERT INTO simulations (id, world_id, user_id, number, ticks, persona_bound, created_at) "
        "  VALUES (1, 1, 1, 1, 10000, 0, 0);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
        std::to_string(kEvents) +
        ") INSERT INTO events (id, world_id, simulation_id, tick, kind, actors, text) "
        "  SELECT i, 1, 1, i / 20, 'talk', '[1,2]', 'event number ' || i FROM n;");
  }
  const std::string url = PostgresServer::shared().create_database();
  pw::db::postgres::Connection target({url});
  {
    Process copy(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path, "--to", url, "--batch-size", "200"});
    REQUIRE(copy.wait_for_line([](const std::string& line) { return line.starts_with("copy: events"); }, 30s,
                               Stream::err));
    REQUIRE(eventually(
        [&] { return target.query("SELECT count(*) FROM events").int64(0, 0) >= 2000; }, 30s));
    copy.kill();
  }
  const std::int64_t partial = target.query("SELECT count(*) FROM events").int64(0, 0);
  INFO("events copied before the kill: " << partial);
  CHECK(partial < kEvents);

  auto resumed = run(PW_BINARY, {"migrate", "copy", "--from", "sqlite:" + path, "--to", url}, {}, 120s);
  INFO(seen(resumed));
  CHECK(resumed.exit_code == 0);
  CHECK(resumed.err.find("copy: resuming the copy of") != std::string::npos);
  CHECK(resumed.err.find("copy: events 100000/100000 (100%)") != std::string::npos);
  CHECK(resumed.out.find("copy verified: 12 tables") != std::string::npos);
  CHECK(target.query("SELECT count(*), count(DISTINCT id), max(id) FROM events").int64(0, 0) == kEvents);
  CHECK(target.query("SELECT count(DISTINCT id) FROM events").int64(0, 0) == kEvents);
  CHECK(target.query("SELECT to_regclass('migrate_copy') IS NULL").boolean(0, 0));
}
