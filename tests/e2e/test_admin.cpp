// Black-box: the operator console's API (/admin/v1) and page routes on the
// real binary, either driver: when /admin exists at all, who may call it
// (the token file, tokens made and revoked with the CLI while the API runs,
// never a user's token), filters and cursor paging, single and bulk
// actions, the overview and workers, the audit trail, and hostile input.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "support/process.hpp"
#include "support/test_database.hpp"

using namespace pw::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

using Headers = std::multimap<std::string, std::string>;

const std::vector<std::string> kApiArgs{"--host", "127.0.0.1", "--port", "0", "--shutdown-delay-ms", "0"};

struct Console {
  TestDatabase database;
  std::unique_ptr<Process> api;
  int port = 0;

  explicit Console(std::vector<std::string> extra = {}) {
    REQUIRE(run(PW_BINARY, {"migrate", database.flag()}).exit_code == 0);
    std::vector<std::string> args{"api", database.flag()};
    args.insert(args.end(), kApiArgs.begin(), kApiArgs.end());
    args.insert(args.end(), extra.begin(), extra.end());
    api = std::make_unique<Process>(PW_BINARY, args);
    auto started = api->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, api->output());
    port = (*started)["port"].get<int>();
  }

  RunResult cli(std::vector<std::string> args) {
    args.push_back(database.flag());
    return run(PW_BINARY, args);
  }

  std::string create_token(const std::string& name) {
    auto made = cli({"admin", "token", "create", "--name", name});
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    return made.out.substr(0, made.out.find('\n'));
  }

  // Enqueues `count` jobs and returns their ids, oldest first.
  std::vector<std::int64_t> enqueue(const std::string& type, int count, const std::string& trace_id = {}) {
    std::vector<std::string> args{"jobs", "enqueue", "--type", type, "--count", std::to_string(count), "--json"};
    if (!trace_id.empty()) args.insert(args.end(), {"--trace-id", trace_id});
    auto done = cli(args);
    REQUIRE_MESSAGE(done.exit_code == 0, done.err);
    auto out = json::parse(done.out);
    std::vector<std::int64_t> ids;
    for (auto id = out["first_id"].get<std::int64_t>(); id <= out["last_id"].get<std::int64_t>(); ++id) {
      ids.push_back(id);
    }
    return ids;
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = {}, const std::string& content_type = "application/json") {
    Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return http_request(method, port, path, body, content_type, headers);
  }

  json get_json(const std::string& path, const std::string& token) {
    auto response = call("GET", path, token);
    REQUIRE_MESSAGE(response.status == 200, path << " -> " << response.status << " " << response.body);
    return json::parse(response.body);
  }
};

// What the server says for a path no route has, minus what differs per request.
struct Answer {
  int status;
  std::string code;
  std::string message;
  std::set<std::string> headers;
};

Answer answer_of(const HttpResponse& response) {
  Answer answer{response.status, "", "", {}};
  auto body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error")) {
    answer.code = body["error"].value("code", "");
    answer.message = body["error"].value("message", "");
  }
  for (const auto& [name, value] : response.headers) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "x-request-id" && lower != "content-length") answer.headers.insert(lower + ": " + value);
  }
  return answer;
}

const std::vector<std::pair<std::string, std::string>> kAdminApiRoutes = {
    {"GET", "/admin/v1/jobs"},           {"GET", "/admin/v1/jobs/1"},        {"DELETE", "/admin/v1/jobs/1"},
    {"POST", "/admin/v1/jobs/1/retry"},  {"POST", "/admin/v1/jobs/1/cancel"}, {"POST", "/admin/v1/jobs:retry"},
    {"POST", "/admin/v1/jobs:cancel"},   {"GET", "/admin/v1/overview"},      {"GET", "/admin/v1/workers"},
};

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("admin (binary): with no admin token every /admin path is an unknown path, and tokens open it at once") {
  Console console;
  INFO(console.api->output());
  std::vector<std::pair<std::string, std::string>> paths = kAdminApiRoutes;
  paths.insert(paths.end(), {{"GET", "/admin"},
                             {"GET", "/admin/"},
                             {"GET", "/admin/app.js"},
                             {"GET", "/admin/app.css"},
                             {"HEAD", "/admin/"},
                             {"PUT", "/admin/v1/jobs"},
                             {"GET", "/admin/v1/nothing"},
                             {"GET", "/administrator-is-not-admin"}});
  auto closed = [&](const std::string& token) {
    for (const auto& [method, path] : paths) {
      CAPTURE(method);
      CAPTURE(path);
      auto admin = answer_of(console.call(method, path, token, method == "POST" ? "{}" : ""));
      // The same request to a path that never existed.
      const std::string unknown = "/nothing-here" + path;
      auto reference = answer_of(console.call(method, unknown, token, method == "POST" ? "{}" : ""));
      CHECK(admin.status == 404);
      CHECK(admin.status == reference.status);
      CHECK(admin.code == reference.code);
      if (method != "HEAD") CHECK(admin.message == "no route for " + method + " " + path);
      CHECK(admin.headers == reference.headers);
    }
  };
  closed("");
  auto signed_up = http_request("POST", console.port, "/v1/users", R"({"handle":"ada"})");
  REQUIRE(signed_up.status == 201);
  const auto user_token = json::parse(signed_up.body)["token"].get<std::string>();
  closed(user_token);

  // Made with the CLI while the API runs: it works on the very next request.
  const std::string token = console.create_token("night shift");
  CHECK(token.starts_with("pw_"));
  CHECK(token.size() == 67);
  CHECK(console.get_json("/admin/v1/jobs", token)["jobs"].is_array());
  auto listed = console.cli({"admin", "token", "list", "--json"});
  REQUIRE(listed.exit_code == 0);
  auto tokens = json::parse(listed.out);
  REQUIRE(tokens.size() == 1);
  CHECK(tokens[0]["name"] == "night shift");
  CHECK(listed.out.find(token) == std::string::npos);
  CHECK(console.cli({"admin", "token", "list"}).out.find("night shift") != std::string::npos);

  // The page and its assets need no token.
  auto redirect = console.call("GET", "/admin", "");
  CHECK(redirect.status == 308);
  CHECK(header_of(redirect, "Location") == "/admin/");
  for (const auto& [path, type] : std::vector<std::pair<std::string, std::string>>{
           {"/admin/", "text/html; charset=utf-8"},
           {"/admin/app.js", "text/javascript; charset=utf-8"},
           {"/admin/app.css", "text/css; charset=utf-8"}}) {
    CAPTURE(path);
    auto page = console.call("GET", path, "");
    CHECK(page.status == 200);
    CHECK(!page.body.empty());
    CHECK(header_of(page, "Content-Type") == type);
    CHECK(header_of(page, "Content-Security-Policy") ==
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    CHECK(header_of(page, "X-Content-Type-Options") == "nosniff");
    CHECK(header_of(page, "Referrer-Policy") == "no-referrer");
    CHECK(header_of(page, "X-Frame-Options") == "DENY");
    CHECK(header_of(page, "Cache-Control") == "no-cache");
  }
  CHECK(console.call("GET", "/admin/index.html", "").status == 404);
  CHECK(console.call("GET", "/admin/..%2F..%2Fetc%2Fpasswd", "").status == 404);

  // A user's token, no token, or a made-up one: 401 on every admin route.
  for (const auto& [method, path] : kAdminApiRoutes) {
    CAPTURE(method);
    CAPTURE(path);
    auto as_user = console.call(method, path, user_token, method == "POST" ? "{}" : "");
    CHECK(as_user.status == 401);
    CHECK(json::parse(as_user.body)["error"]["code"] == "invalid_token");
    CHECK(header_of(as_user, "WWW-Authenticate") == R"(Bearer realm="personaworlds-admin", error="invalid_token")");
    CHECK(header_of(as_user, "Cache-Control") == "no-store");
    auto anonymous = console.call(method, path, "", method == "POST" ? "{}" : "");
    CHECK(anonymous.status == 401);
    CHECK(json::parse(anonymous.body)["error"]["code"] == "unauthorized");
    CHECK(header_of(anonymous, "WWW-Authenticate") == R"(Bearer realm="personaworlds-admin")");
    CHECK(console.call(method, path, "pw_" + std::string(64, '0'), method == "POST" ? "{}" : "").status == 401);
  }
  // And an admin token opens nothing of a user's.
  CHECK(console.call("GET", "/v1/me", token).status == 401);

  // Revoked: refused at once; with no token left, /admin is gone again.
  const auto id = tokens[0]["id"].get<std::int64_t>();
  auto revoked = console.cli({"admin", "token", "revoke", std::to_string(id)});
  CHECK(revoked.exit_code == 0);
  CHECK(revoked.err.find("\"admin_action\"") != std::string::npos);
  CHECK(console.cli({"admin", "token", "revoke", std::to_string(id)}).exit_code == 1);
  const std::string second = console.create_token("backup");
  CHECK(console.call("GET", "/admin/v1/jobs", token).status == 401);
  CHECK(console.call("GET", "/admin/v1/jobs", second).status == 200);
  auto listed_again = json::parse(console.cli({"admin", "token", "list", "--json"}).out);
  REQUIRE(listed_again.size() == 1);
  REQUIRE(console.cli({"admin", "token", "revoke", std::to_string(listed_again[0]["id"].get<std::int64_t>())})
              .exit_code == 0);
  closed(second);
  CHECK(console.api->running());
}

TEST_CASE("admin (binary): the token file opens /admin, and an unreadable or empty one refuses to start") {
  TempDir dir;
  const std::string secret = "file-token-" + std::string(40, 'x');
  const std::string file = write_file(dir, "admin-token", "\n  " + secret + "  \n");
  Console console({"--admin-token-file", file});
  INFO(console.api->output());
  CHECK(console.get_json("/admin/v1/overview", secret)["totals"].is_object());
  CHECK(console.call("GET", "/admin/v1/overview", secret + "x").status == 401);
  CHECK(console.call("GET", "/admin/v1/overview", secret.substr(1)).status == 401);
  CHECK(console.call("GET", "/admin/", "").status == 200);

  const std::string empty = write_file(dir, "empty", " \n\t\n");
  // (Tests run as root, who reads any file: a missing file and a directory
  // stand for the unreadable.)
  for (const std::string& bad : {empty, dir.file("missing"), dir.path().string()}) {
    CAPTURE(bad);
    std::vector<std::string> args{"api", console.database.flag()};
    args.insert(args.end(), kApiArgs.begin(), kApiArgs.end());
    args.insert(args.end(), {"--admin-token-file", bad});
    auto refused = run(PW_BINARY, args, {}, 20s);
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("ADMIN_TOKEN_FILE") != std::string::npos);
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
  }
}

TEST_CASE("admin (binary): filters and cursor paging walk every job exactly once") {
  Console console;
  INFO(console.api->output());
  const std::string token = console.create_token("paging");
  auto noop = console.enqueue("noop", 13);
  auto sleepers = console.enqueue("sleep", 5, "trace-sleepy");
  auto others = console.enqueue("report.build", 4);
  std::vector<std::int64_t> all = noop;
  all.insert(all.end(), sleepers.begin(), sleepers.end());
  all.insert(all.end(), others.begin(), others.end());

  // Some are dead with errors, created at known times.
  DatabaseProbe probe(console.database.config);
  const std::int64_t base_ms = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
  for (std::size_t i = 0; i < all.size(); ++i) {
    probe.exec("UPDATE jobs SET created_at = " + std::to_string(base_ms + static_cast<std::int64_t>(i) * 60'000) +
               " WHERE id = " + std::to_string(all[i]));
  }
  for (std::size_t i = 0; i < 4; ++i) {
    probe.exec("UPDATE jobs SET state = 'dead', finished_at = " + std::to_string(base_ms) +
               ", last_error = 'disk 100% full on node-" + std::to_string(i) + "' WHERE id = " +
               std::to_string(noop[i]));
  }
  probe.exec("UPDATE jobs SET state = 'dead', finished_at = " + std::to_string(base_ms) + ", last_error = '" +
             std::string(500, 'e') + "' WHERE id = " + std::to_string(others[0]));

  auto walk = [&](const std::string& query, int limit) {
    std::vector<std::int64_t> seen;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      std::string path = "/admin/v1/jobs?limit=" + std::to_string(limit) + query;
      if (!cursor.empty()) path += "&cursor=" + cursor;
      auto body = console.get_json(path, token);
      CHECK(body["jobs"].size() <= static_cast<std::size_t>(limit));
      for (const auto& job : body["jobs"]) {
        seen.push_back(job["id"].get<std::int64_t>());
        CHECK_FALSE(job.contains("payload"));
        CHECK_FALSE(job.contains("result"));
      }
      if (body["next_cursor"].is_null()) return seen;
      cursor = body["next_cursor"].get<std::string>();
    }
    FAIL("paging did not end");
    return seen;
  };
  auto newest_first = [](std::vector<std::int64_t> ids) {
    std::sort(ids.rbegin(), ids.rend());
    return ids;
  };

  for (int limit : {1, 3, 7, 22, 200}) {
    CAPTURE(limit);
    CHECK(walk("", limit) == newest_first(all));
  }
  CHECK(walk("&type=sleep", 2) == newest_first(sleepers));
  CHECK(walk("&trace_id=trace-sleepy", 4) == newest_first(sleepers));
  CHECK(walk("&state=dead", 2) == newest_first({noop[0], noop[1], noop[2], noop[3], others[0]}));
  CHECK(walk("&state=dead&type=noop", 3) == newest_first({noop[0], noop[1], noop[2], noop[3]}));
  // The error filter is a literal substring: % and _ are not wildcards.
  CHECK(walk("&error=100%25%20full", 2) == newest_first({noop[0], noop[1], noop[2], noop[3]}));
  CHECK(walk("&error=node-2", 2) == std::vector<std::int64_t>{noop[2]});
  CHECK(walk("&error=node_2", 2).empty());
  CHECK(walk("&error=%25%25", 2).empty());
  // created_after is inclusive, created_before exclusive.
  CHECK(walk("&created_after=2023-11-14T22:15:20Z&created_before=2023-11-14T22:18:20.000Z", 2) ==
        newest_first({all[2], all[3], all[4]}));
  CHECK(walk("&created_after=2023-11-14T23:15:20%2B01:00&created_before=2023-11-14T22:16:20Z", 5) ==
        std::vector<std::int64_t>{all[2]});
  // An empty filter value is no filter (a form's blank field).
  CHECK(walk("&state=&type=&error=", 50) == newest_first(all));

  auto long_error = console.get_json("/admin/v1/jobs?type=report.build&state=dead", token)["jobs"][0];
  CHECK(long_error["last_error"].get<std::string>().size() == 300);
  CHECK(long_error["last_error_truncated"] == true);
  auto full = console.get_json("/admin/v1/jobs/" + std::to_string(others[0]), token);
  CHECK(full["last_error"].get<std::string>().size() == 500);
  CHECK_FALSE(full.contains("last_error_truncated"));

  // The full job is what `jobs show --json` prints.
  auto shown = console.cli({"jobs", "show", std::to_string(sleepers[0]), "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(console.get_json("/admin/v1/jobs/" + std::to_string(sleepers[0]), token) == json::parse(shown.out));
}

TEST_CASE("admin (binary): single retry, cancel and delete, with 404 and 409") {
  Console console;
  INFO(console.api->output());
  const std::string token = console.create_token("hands");
  auto ids = console.enqueue("noop", 3);
  const std::string first = "/admin/v1/jobs/" + std::to_string(ids[0]);

  auto code_of = [](const HttpResponse& response) { return json::parse(response.body)["error"]["code"]; };
  auto retried_queued = console.call("POST", first + "/retry", token);
  CHECK(retried_queued.status == 409);
  CHECK(code_of(retried_queued) == "conflict");
  auto canceled = console.call("POST", first + "/cancel", token);
  REQUIRE(canceled.status == 200);
  CHECK(json::parse(canceled.body)["state"] == "canceled");
  CHECK(header_of(canceled, "Cache-Control") == "no-store");
  CHECK(console.call("POST", first + "/cancel", token).status == 409);
  auto retried = console.call("POST", first + "/retry", token);
  REQUIRE(retried.status == 200);
  CHECK(json::parse(retried.body)["state"] == "queued");
  CHECK(console.get_json(first, token)["state"] == "queued");

  auto deleted = console.call("DELETE", first, token);
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  CHECK(console.call("GET", first, token).status == 404);
  CHECK(console.call("DELETE", first, token).status == 404);
  CHECK(code_of(console.call("POST", first + "/retry", token)) == "not_found");
  CHECK(console.call("POST", first + "/cancel", token).status == 404);
  CHECK(console.call("POST", "/admin/v1/jobs/9223372036854775807/retry", token).status == 404);

  // A running job is canceled before it can be deleted.
  DatabaseProbe probe(console.database.config);
  probe.exec("UPDATE jobs SET state = 'running', lease_owner = 'w-1', lease_expires_at = 4102444800000, "
             "started_at = 1700000000000, attempts = 1, claim = 1 WHERE id = " + std::to_string(ids[1]));
  const std::string running = "/admin/v1/jobs/" + std::to_string(ids[1]);
  auto refused = console.call("DELETE", running, token);
  CHECK(refused.status == 409);
  CHECK(code_of(refused) == "conflict");
  CHECK(console.call("POST", running + "/retry", token).status == 409);
  CHECK(console.call("POST", running + "/cancel", token).status == 200);
  CHECK(console.call("DELETE", running, token).status == 204);
  CHECK(probe.scalar("SELECT count(*) FROM jobs") == 1);
}

TEST_CASE("admin (binary): bulk retry and cancel are bounded by max, with overview, workers, audit line and counter") {
  Console console;
  INFO(console.api->output());
  const std::string token = console.create_token("bulk operator");
  auto noop = console.enqueue("noop", 12);
  auto sleepers = console.enqueue("sleep", 3);
  DatabaseProbe probe(console.database.config);
  probe.exec("UPDATE jobs SET state = 'running', lease_owner = 'worker-a', lease_expires_at = 4102444800000, "
             "started_at = 1700000000000, attempts = 1, claim = 1 WHERE id = " + std::to_string(sleepers[0]));

  auto post = [&](const std::string& path, const json& body) {
    auto response = console.call("POST", path, token, body.dump());
    REQUIRE_MESSAGE(response.status == 200, response.body);
    return json::parse(response.body);
  };
  auto first = post("/admin/v1/jobs:cancel", {{"type", "noop"}, {"max", 5}});
  CHECK(first["matched_limit"] == 5);
  CHECK(first["changed"] == 5);
  CHECK(first["more"] == true);
  CHECK(first["job_ids"].size() == 5);
  auto rest = post("/admin/v1/jobs:cancel", {{"type", "noop"}});
  CHECK(rest["matched_limit"] == 1000);
  CHECK(rest["changed"] == 7);
  CHECK(rest["more"] == false);
  std::set<std::int64_t> canceled;
  for (const auto& id : first["job_ids"]) canceled.insert(id.get<std::int64_t>());
  for (const auto& id : rest["job_ids"]) canceled.insert(id.get<std::int64_t>());
  CHECK(canceled == std::set<std::int64_t>(noop.begin(), noop.end()));
  CHECK(post("/admin/v1/jobs:cancel", {{"type", "noop"}})["changed"] == 0);
  // Retry touches only dead or canceled jobs: the queued and running sleepers stay.
  auto retried = post("/admin/v1/jobs:retry", json::object());
  CHECK(retried["changed"] == 12);
  CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'") == 14);
  CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 1);

  auto overview = console.get_json("/admin/v1/overview", token);
  CHECK(overview["counts"]["noop"]["queued"] == 12);
  CHECK(overview["counts"]["sleep"]["queued"] == 2);
  CHECK(overview["counts"]["sleep"]["running"] == 1);
  CHECK(overview["totals"]["queued"] == 14);
  CHECK(overview["totals"]["running"] == 1);
  CHECK(overview["totals"]["dead"] == 0);
  CHECK(overview["oldest_ready_age_seconds"].contains("noop"));
  REQUIRE(overview["finished_per_minute"].size() == 15);
  for (const auto& minute : overview["finished_per_minute"]) {
    CHECK(minute["minute"].get<std::string>().ends_with(":00.000Z"));
    CHECK(minute.contains("succeeded"));
  }
  CHECK(overview["paused_types"] == json::array());
  CHECK(overview["now"].is_string());

  auto workers = console.get_json("/admin/v1/workers", token)["workers"];
  REQUIRE(workers.size() == 1);
  CHECK(workers[0]["owner"] == "worker-a");
  CHECK(workers[0]["running"] == 1);
  CHECK(workers[0]["oldest_started_at"] == "2023-11-14T22:13:20.000Z");
  CHECK(workers[0]["next_lease_expiry"] == "2100-01-01T00:00:00.000Z");

  CHECK(console.call("POST", "/admin/v1/jobs/" + std::to_string(noop[0]) + "/cancel", token).status == 200);
  // One audit line per action, naming the token, the action and the ids.
  auto line = console.api->wait_for_json("admin_action", 5s, [](const json& j) {
    return j.value("action", "") == "bulk_cancel" && j.value("count", 0) == 5;
  });
  REQUIRE(line);
  CHECK((*line)["admin"] == "bulk operator");
  CHECK(json::parse((*line)["job_ids"].get<std::string>()) == first["job_ids"]);
  CHECK(!(*line)["request_id"].get<std::string>().empty());
  CHECK(console.api->wait_for_json("admin_action", 5s, [](const json& j) {
    return j.value("action", "") == "cancel" && j.value("count", 0) == 1;
  }));
  auto metrics = http_get(console.port, "/metrics").body;
  CHECK(metrics.find("admin_actions_total{action=\"bulk_cancel\"} 3") != std::string::npos);
  CHECK(metrics.find("admin_actions_total{action=\"bulk_retry\"} 1") != std::string::npos);
  CHECK(metrics.find("admin_actions_total{action=\"cancel\"} 1") != std::string::npos);
  CHECK(metrics.find("admin_actions_total{action=\"delete\"} 0") != std::string::npos);
}

TEST_CASE("admin (binary): the overview counts finished jobs from a background count it dates, and active ones at once") {
  Console console;
  INFO(console.api->output());
  const std::string token = console.create_token("counts operator");
  auto noop = console.enqueue("noop", 3);
  auto sleep = console.enqueue("sleep", 2);
  // The first overview counts every job (no count exists yet): all queued.
  auto first = console.get_json("/admin/v1/overview", token);
  CHECK(first["counts"]["noop"]["queued"] == 3);
  CHECK(first["totals"]["succeeded"] == 0);
  REQUIRE(first["finished_counts_as_of"].is_string());
  CHECK(first["finished_counts_as_of"].get<std::string>() <= first["now"].get<std::string>());

  DatabaseProbe probe(console.database.config);
  probe.exec("UPDATE jobs SET state = 'succeeded', attempts = 1, finished_at = 1700000000000 WHERE type = 'noop'");
  probe.exec("UPDATE jobs SET state = 'dead', attempts = 1, finished_at = 1700000000000, last_error = 'x' "
             "WHERE id = " + std::to_string(sleep[0]));
  // By the server's clock, every one of them had finished by now.
  const std::string finished_by = console.get_json("/admin/v1/overview", token)["now"];
  // Queued ones left at once; the finished ones arrive with the next
  // background count (every 5 s while the overview is asked for).
  json overview;
  REQUIRE_MESSAGE(eventually([&] {
                    overview = console.get_json("/admin/v1/overview", token);
                    CHECK(overview["totals"]["queued"] == 1);
                    return overview["finished_counts_as_of"].get<std::string>() > finished_by;
                  }, 30s),
                  overview.dump());
  CHECK(overview["counts"]["noop"] == json{{"succeeded", 3}});
  CHECK(overview["counts"]["sleep"] == json{{"dead", 1}, {"queued", 1}});
  CHECK(overview["totals"] == json{{"queued", 1}, {"running", 0}, {"succeeded", 3}, {"dead", 1}, {"canceled", 0}});

  // An enqueue shows in the very next overview, whatever the count's age.
  console.enqueue("noop", 4);
  auto after = console.get_json("/admin/v1/overview", token);
  CHECK(after["counts"]["noop"]["queued"] == 4);
  CHECK(after["counts"]["noop"]["succeeded"] == 3);
  CHECK(after["totals"]["queued"] == 5);
  CHECK(console.api->output().find("admin_counts_unavailable") == std::string::npos);
}

TEST_CASE("admin (binary): hostile input on every admin route is a clear 4xx and the process stays up") {
  Console console;
  INFO(console.api->output());
  const std::string token = console.create_token("hostile");
  auto ids = console.enqueue("noop", 2);
  DatabaseProbe probe(console.database.config);
  const auto jobs_before = probe.scalar("SELECT count(*) FROM jobs");

  struct Row {
    std::string name;
    std::string method;
    std::string path;
    std::string body;
    std::string content_type;
    int status;
  };
  const std::string big(70 * 1024, 'a');
  std::vector<Row> rows = {
      {"unknown parameter", "GET", "/admin/v1/jobs?sort=id", "", "", 400},
      {"parameter twice", "GET", "/admin/v1/jobs?state=dead&state=queued", "", "", 400},
      {"bad state", "GET", "/admin/v1/jobs?state=zombie", "", "", 400},
      {"SQL in state", "GET", "/admin/v1/jobs?state=queued'%20OR%201=1--", "", "", 400},
      {"overlong type", "GET", "/admin/v1/jobs?type=" + std::string(101, 't'), "", "", 400},
      {"control character in type", "GET", "/admin/v1/jobs?type=no%0Aop", "", "", 400},
      {"NUL in trace id", "GET", "/admin/v1/jobs?trace_id=a%00b", "", "", 400},
      {"invalid UTF-8 in error", "GET", "/admin/v1/jobs?error=%FF%FE", "", "", 400},
      {"overlong error", "GET", "/admin/v1/jobs?error=" + std::string(201, 'e'), "", "", 400},
      {"overlong parameter name", "GET", "/admin/v1/jobs?" + std::string(5000, 'p') + "=1", "", "", 400},
      {"limit zero", "GET", "/admin/v1/jobs?limit=0", "", "", 400},
      {"limit too big", "GET", "/admin/v1/jobs?limit=201", "", "", 400},
      {"limit negative", "GET", "/admin/v1/jobs?limit=-1", "", "", 400},
      {"limit huge", "GET", "/admin/v1/jobs?limit=99999999999999999999", "", "", 400},
      {"cursor not a number", "GET", "/admin/v1/jobs?cursor=abc", "", "", 400},
      {"cursor negative", "GET", "/admin/v1/jobs?cursor=-5", "", "", 400},
      {"cursor overflowing", "GET", "/admin/v1/jobs?cursor=9223372036854775808", "", "", 400},
      {"cursor empty", "GET", "/admin/v1/jobs?cursor=", "", "", 400},
      {"date without zone", "GET", "/admin/v1/jobs?created_after=2026-12-03T17:30:00", "", "", 400},
      {"date only", "GET", "/admin/v1/jobs?created_after=2026-12-03", "", "", 400},
      {"February 30", "GET", "/admin/v1/jobs?created_before=2026-02-30T00:00:00Z", "", "", 400},
      {"hour 24", "GET", "/admin/v1/jobs?created_before=2026-01-01T24:00:00Z", "", "", 400},
      {"fraction too long", "GET", "/admin/v1/jobs?created_before=2026-01-01T00:00:00.1234567890Z", "", "", 400},
      {"epoch number as date", "GET", "/admin/v1/jobs?created_after=1700000000", "", "", 400},
      {"negative job id", "GET", "/admin/v1/jobs/-1", "", "", 404},
      {"zero-padded job id", "GET", "/admin/v1/jobs/0001", "", "", 404},
      {"huge job id", "GET", "/admin/v1/jobs/99999999999999999999", "", "", 404},
      {"SQL in a job id", "DELETE", "/admin/v1/jobs/1%20OR%201=1", "", "", 404},
      {"traversal in a job id", "POST", "/admin/v1/jobs/..%2F..%2F1/retry", "", "", 404},
      {"huge id to retry", "POST", "/admin/v1/jobs/99999999999999999999/retry", "", "", 404},
      {"huge id to cancel", "POST", "/admin/v1/jobs/18446744073709551616/cancel", "", "", 404},
      {"wrong method", "PUT", "/admin/v1/jobs/1", "{}", "application/json", 405},
      {"malformed JSON", "POST", "/admin/v1/jobs:cancel", "{\"type\": ", "application/json", 400},
      {"trailing garbage", "POST", "/admin/v1/jobs:retry", "{}}", "application/json", 400},
      {"body is an array", "POST", "/admin/v1/jobs:cancel", "[]", "application/json", 400},
      {"empty body", "POST", "/admin/v1/jobs:cancel", "", "application/json", 400},
      {"unknown field", "POST", "/admin/v1/jobs:cancel", R"({"where":"1=1"})", "application/json", 400},
      {"field twice", "POST", "/admin/v1/jobs:cancel", R"({"max":1,"max":1000})", "application/json", 400},
      {"max zero", "POST", "/admin/v1/jobs:retry", R"({"max":0})", "application/json", 400},
      {"max too big", "POST", "/admin/v1/jobs:retry", R"({"max":1001})", "application/json", 400},
      {"max a fraction", "POST", "/admin/v1/jobs:retry", R"({"max":2.5})", "application/json", 400},
      {"max a string", "POST", "/admin/v1/jobs:retry", R"({"max":"5"})", "application/json", 400},
      {"max beyond 64 bits", "POST", "/admin/v1/jobs:retry", R"({"max":123456789012345678901234567890})",
       "application/json", 400},
      {"state not a string", "POST", "/admin/v1/jobs:cancel", R"({"state":["queued"]})", "application/json", 400},
      {"bad state in body", "POST", "/admin/v1/jobs:cancel", R"({"state":"zombie"})", "application/json", 400},
      {"bad date in body", "POST", "/admin/v1/jobs:cancel", R"({"created_after":"yesterday"})",
       "application/json", 400},
      {"invalid UTF-8 in body", "POST", "/admin/v1/jobs:cancel", "{\"type\":\"\xff\xfe\"}", "application/json", 400},
      {"lone surrogate", "POST", "/admin/v1/jobs:cancel", R"({"error":"\ud800"})", "application/json", 400},
      {"NUL in body text", "POST", "/admin/v1/jobs:cancel", R"({"trace_id":"a\u0000b"})", "application/json", 400},
      {"overlong error in body", "POST", "/admin/v1/jobs:cancel", "{\"error\":\"" + std::string(201, 'e') + "\"}",
       "application/json", 400},
      {"deep nesting", "POST", "/admin/v1/jobs:cancel", std::string(10000, '[') + std::string(10000, ']'),
       "application/json", 400},
      {"body over 64 KiB", "POST", "/admin/v1/jobs:cancel", "{\"type\":\"" + big + "\"}", "application/json", 413},
      {"body over the server limit", "POST", "/admin/v1/jobs:retry", "{\"type\":\"" + std::string(2 << 20, 'a') + "\"}",
       "application/json", 413},
      {"wrong content type", "POST", "/admin/v1/jobs:cancel", "{}", "text/plain", 415},
      {"form content type", "POST", "/admin/v1/jobs:retry", "max=5", "application/x-www-form-urlencoded", 415},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto response = console.call(row.method, row.path, token, row.body, row.content_type);
    CHECK(response.status == row.status);
    auto body = json::parse(response.body, nullptr, false);
    REQUIRE_MESSAGE(body.is_object(), response.body);
    CHECK(body["error"]["code"].is_string());
    CHECK(!body["error"]["message"].get<std::string>().empty());
    CHECK(body["error"]["request_id"] == header_of(response, "X-Request-ID"));
    if (row.status == 400 && row.method == "GET") CHECK(body["error"]["code"] == "invalid_parameter");
    CHECK(console.api->running());
  }
  // Hostile tokens are 401, never 500.
  for (const std::string& bad : {std::string("' OR '1'='1"), std::string(5000, 'x'), std::string("pw_\xff\xfe"),
                                 std::string("Basic YWRtaW46YWRtaW4=")}) {
    auto response = http_request("GET", console.port, "/admin/v1/jobs", {}, {}, {{"Authorization", "Bearer " + bad}});
    CHECK(response.status == 401);
  }
  CHECK(http_request("GET", console.port, "/admin/v1/jobs", {}, {}, {{"Authorization", "Basic YWRtaW46YWRtaW4="}})
            .status == 401);
  CHECK(probe.scalar("SELECT count(*) FROM jobs") == jobs_before);
  CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE state = 'queued'") == jobs_before);
  CHECK(http_get(console.port, "/healthz").status == 200);
  CHECK(console.get_json("/admin/v1/jobs/" + std::to_string(ids[0]), token)["state"] == "queued");
}
