// Black-box: exactly-once under contention on PostgreSQL. Two `api` and
// four `worker` processes of the real binary over one database, 50,000 jobs,
// and one worker killed (SIGKILL) in the middle of the drain.
//
// What is counted, and why: the `noop` handler's run log (PW_NOOP_RUN_LOG,
// src/jobs/builtin.cpp) is a side effect outside the database, written by
// the handler itself, one line per run with the job, its attempt and its
// claim. It shows every run, including a run whose outcome was never
// recorded, which the jobs table alone cannot (a row only keeps its last
// attempt). Beside it, persona.generate jobs submitted through both APIs
// during the drain have a side effect inside the database: the personas a
// generation creates carry its job id, so a generation that ran twice, or
// not at all, shows as a wrong count. Nothing here asserts speed.
#include <doctest/doctest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/postgres/connection.hpp"
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "e2e/reliability_scene.hpp"
#include "support/temp_dir.hpp"

using nlohmann::json;
using pw::test::HttpResponse;
using pw::test::Process;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;
using Headers = std::multimap<std::string, std::string>;

using pw::test::reliability::tail;

struct Api {
  std::unique_ptr<Process> process;
  int port = 0;

  HttpResponse post(const std::string& path, const json& body, const std::string& token, Headers headers = {}) const {
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return pw::test::http_request("POST", port, path, body.dump(), "application/json", headers, 30s);
  }
};

struct Worker {
  std::unique_ptr<Process> process;
  std::string id;
};

struct Run {
  std::int64_t job_id = 0;
  int attempt = 0;
  std::int64_t claim = 0;
};

// "<job id> <attempt> <monotonic us> <claim>" per run.
std::vector<Run> read_runs(const std::string& path) {
  std::ifstream file(path);
  std::vector<Run> runs;
  for (std::string line; std::getline(file, line);) {
    std::istringstream fields(line);
    Run run;
    std::int64_t at_us = 0;
    fields >> run.job_id >> run.attempt >> at_us >> run.claim;
    runs.push_back(run);
  }
  return runs;
}

struct JobRow {
  std::string type;
  std::string state;
  int attempts = 0;
  std::string lease_owner;
  std::string result;
};

std::map<std::int64_t, JobRow> job_rows(pw::db::postgres::Connection& database) {
  std::map<std::int64_t, JobRow> out;
  auto rows = database.query("SELECT id, type, state, attempts, coalesce(lease_owner, ''), coalesce(result, '') FROM jobs");
  for (int r = 0; r < rows.size(); ++r) {
    out[rows.int64(r, 0)] = {rows.text(r, 1), rows.text(r, 2), rows.int32(r, 3), rows.text(r, 4), rows.text(r, 5)};
  }
  return out;
}

}  // namespace

TEST_CASE("postgres scale (binary): 50,000 jobs, 2 apis, 4 workers, one killed mid-drain: every job succeeds, each ran once unless its lease lapsed, and each persona generation created its personas once") {
  constexpr int kNoops = 50000;
  const std::string url = pw::test::PostgresServer::shared().create_database();
  auto migrated = pw::test::run(kBinary, {"migrate", "--database-url", url});
  REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  pw::test::TempDir dir;
  const std::string run_log = dir.file("runs.log");
  auto enqueued = pw::test::run(kBinary, {"jobs", "enqueue", "--database-url", url, "--type", "noop", "--count",
                                          std::to_string(kNoops)},
                                {}, 120s);
  REQUIRE_MESSAGE(enqueued.exit_code == 0, enqueued.err);
  pw::db::postgres::Connection database({url});
  auto count_state = [&](const std::string& state) {
    return database.query("SELECT count(*) FROM jobs WHERE state = $1", pw::db::postgres::Params().add(state))
        .int64(0, 0);
  };

  std::vector<Api> apis;
  for (int a = 0; a < 2; ++a) {
    Api api;
    api.process = std::make_unique<Process>(
        kBinary, std::vector<std::string>{"api", "--database-url", url, "--host", "127.0.0.1", "--port", "0",
                                          "--database-pool-size", "6", "--shutdown-delay-ms", "0"});
    auto started = api.process->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, api.process->output());
    api.port = (*started)["port"].get<int>();
    apis.push_back(std::move(api));
  }
  // Two users, each with a world; each uses both apis.
  struct Owner {
    std::string token;
    std::int64_t world_id = 0;
  };
  std::vector<Owner> owners;
  for (int u = 0; u < 2; ++u) {
    auto user = apis[u].post("/v1/users", {{"handle", "owner" + std::to_string(u)}}, {});
    REQUIRE_MESSAGE(user.status == 201, user.body);
    Owner owner{json::parse(user.body)["token"].get<std::string>()};
    auto world = apis[1 - u].post("/v1/worlds", {{"name", "crowded"}, {"seed", 11 + u}}, owner.token);
    REQUIRE_MESSAGE(world.status == 201, world.body);
    owner.world_id = json::parse(world.body)["id"].get<std::int64_t>();
    owners.push_back(owner);
  }

  // A short lease: the killed worker's jobs come back within seconds.
  std::vector<Worker> workers;
  for (int w = 0; w < 4; ++w) {
    Worker worker;
    worker.process = std::make_unique<Process>(
        kBinary,
        std::vector<std::string>{"worker", "--database-url", url, "--observability-host", "127.0.0.1",
                                 "--observability-port", "0", "--concurrency", "16", "--lease-ms", "2000",
                                 "--database-pool-size", "6"},
        pw::test::Environment{{"PW_NOOP_RUN_LOG", run_log}});
    auto started = worker.process->wait_for_json("worker_started", 60s);
    REQUIRE_MESSAGE(started, worker.process->output());
    worker.id = (*started)["worker_id"].get<std::string>();
    workers.push_back(std::move(worker));
  }
  auto output = [&] {
    std::string out;
    for (std::size_t w = 0; w < workers.size(); ++w) out += "--- worker " + std::to_string(w) + " ---\n" + tail(*workers[w].process);
    for (std::size_t a = 0; a < apis.size(); ++a) out += "--- api " + std::to_string(a) + " ---\n" + tail(*apis[a].process);
    return out;
  };
  INFO(output());

  // Persona generations through both apis while the drain runs: 2 users x
  // 2 apis x 10 requests, each with its own Idempotency-Key (a refusal is
  // retried with the same key, as a client would).
  REQUIRE_MESSAGE(pw::test::eventually([&] { return count_state("succeeded") >= 2000; }, 120s), "the drain did not start");
  std::map<std::int64_t, int> generation_jobs;  // job id -> personas asked for
  std::map<std::int64_t, int> asked_per_world;
  for (int n = 0; n < 10; ++n) {
    for (int u = 0; u < 2; ++u) {
      for (int a = 0; a < 2; ++a) {
        const int count = 1 + (n + u + a) % 5;
        const std::string key = "generate-" + std::to_string(u) + "-" + std::to_string(a) + "-" + std::to_string(n);
        HttpResponse response;
        pw::test::eventually([&] {
          response = apis[a].post("/v1/worlds/" + std::to_string(owners[u].world_id) + "/personas:generate",
                                  {{"count", count}}, owners[u].token, {{"Idempotency-Key", key}});
          return response.status != 503;
        }, 60s);
        REQUIRE_MESSAGE(response.status == 202, key << ": " << response.status << " " << response.body);
        generation_jobs[json::parse(response.body)["job"]["id"].get<std::int64_t>()] = count;
        asked_per_world[owners[u].world_id] += count;
      }
    }
  }
  REQUIRE(generation_jobs.size() == 40);

  // Mid-drain: SIGKILL a worker holding jobs.
  REQUIRE_MESSAGE(pw::test::eventually([&] { return count_state("succeeded") >= kNoops / 3; }, 120s),
                  "succeeded: " << count_state("succeeded"));
  Worker& victim = workers[0];
  auto held_by_victim = [&] {
    return database.query("SELECT count(*) FROM jobs WHERE state = 'running' AND lease_owner = $1",
                          pw::db::postgres::Params().add(victim.id))
        .int64(0, 0);
  };
  REQUIRE(pw::test::eventually([&] { return held_by_victim() > 0; }, 30s));
  victim.process->kill();
  CHECK(victim.process->wait_exit(10s) == 128 + SIGKILL);
  // What the crash left behind. Read until two reads 200 ms apart agree: a
  // COMMIT the victim sent just before it died still lands once its server
  // session gets to it, after the process is gone. Its leases (2 s, renewed
  // every 667 ms) cannot lapse within those reads.
  auto read_held = [&] {
    std::set<std::int64_t> ids;
    auto rows = database.query("SELECT id FROM jobs WHERE state = 'running' AND lease_owner = $1",
                               pw::db::postgres::Params().add(victim.id));
    for (int r = 0; r < rows.size(); ++r) ids.insert(rows.int64(r, 0));
    return ids;
  };
  std::set<std::int64_t> held = read_held();
  for (int settled = 0; settled < 5; ++settled) {
    std::this_thread::sleep_for(200ms);
    auto again = read_held();
    if (again == held) break;
    held = std::move(again);
  }
  CHECK_MESSAGE(count_state("succeeded") < kNoops, "the drain was over before the kill");

  const bool drained = pw::test::eventually([&] {
    std::this_thread::sleep_for(100ms);
    return count_state("succeeded") == kNoops + 40;
  }, 180s);
  REQUIRE_MESSAGE(drained, "succeeded " << count_state("succeeded") << ", queued " << count_state("queued")
                                        << ", running " << count_state("running") << ", dead " << count_state("dead"));
  for (std::size_t w = 1; w < workers.size(); ++w) {
    workers[w].process->signal(SIGTERM);
    CHECK(workers[w].process->wait_exit(30s) == 0);
  }
  for (auto& api : apis) {
    CHECK(api.process->running());
    api.process->signal(SIGTERM);
    CHECK(api.process->wait_exit(30s) == 0);
  }

  auto rows = job_rows(database);
  CHECK(rows.size() == static_cast<std::size_t>(kNoops + 40));
  for (const auto& [id, row] : rows) {
    if (row.state != "succeeded") FAIL_CHECK("job " << id << " (" << row.type << ") is " << row.state);
  }

  // Lapses the survivors logged, by the owner that lost them: only the
  // killed worker's. (No live worker's lease lapses.)
  std::set<std::int64_t> lapsed;
  for (std::size_t w = 1; w < workers.size(); ++w) {
    for (const auto& line : workers[w].process->json_lines()) {
      if (line.value("msg", "") != "job_lease_expired") continue;
      CHECK_MESSAGE(line["previous_owner"] == victim.id, line.dump());
      lapsed.insert(line["job_id"].get<std::int64_t>());
    }
    CHECK_FALSE(workers[w].process->any_line_contains("job_lease_lost"));
    CHECK_FALSE(workers[w].process->any_line_contains("\"level\":\"error\""));
  }

  // The killed worker's jobs came back after their lease, once each.
  CHECK_FALSE(held.empty());
  std::vector<std::int64_t> only_lapsed, only_held;
  std::set_difference(lapsed.begin(), lapsed.end(), held.begin(), held.end(), std::back_inserter(only_lapsed));
  std::set_difference(held.begin(), held.end(), lapsed.begin(), lapsed.end(), std::back_inserter(only_held));
  CHECK_MESSAGE(lapsed == held, "lapsed but not left running by the crash: " << only_lapsed.size()
                                    << ", left running but never logged as lapsed: " << only_held.size());
  for (auto id : held) {
    CAPTURE(id);
    CHECK(rows[id].attempts == 2);
    CHECK(rows[id].lease_owner != victim.id);
  }

  // The handler's own record: every noop job ran, each claim ran at most
  // once, and a job ran more than once only after its lease lapsed.
  std::map<std::int64_t, std::vector<Run>> runs_of;
  for (const auto& run : read_runs(run_log)) runs_of[run.job_id].push_back(run);
  std::int64_t noops = 0;
  for (const auto& [id, row] : rows) {
    if (row.type != "noop") continue;
    ++noops;
    auto found = runs_of.find(id);
    if (found == runs_of.end()) {
      FAIL_CHECK("job " << id << " succeeded but never ran");
      continue;
    }
    std::set<std::int64_t> claims;
    for (const auto& run : found->second) {
      if (!claims.insert(run.claim).second) FAIL_CHECK("job " << id << ": claim " << run.claim << " ran twice");
    }
    const auto ran = static_cast<int>(found->second.size());
    if (ran > row.attempts) FAIL_CHECK("job " << id << " ran " << ran << " times in " << row.attempts << " attempts");
    if (row.attempts > 1 && !lapsed.contains(id)) {
      FAIL_CHECK("job " << id << " took " << row.attempts << " attempts without a logged lapse");
    }
    if (ran > 1 && !lapsed.contains(id)) FAIL_CHECK("job " << id << " ran " << ran << " times without a lapse");
  }
  CHECK(noops == kNoops);
  CHECK(runs_of.size() == static_cast<std::size_t>(kNoops));

  // Each generation made exactly the personas it was asked for, once.
  for (const auto& [job_id, count] : generation_jobs) {
    CAPTURE(job_id);
    const auto& row = rows[job_id];
    CHECK(row.type == "persona.generate");
    CHECK(json::parse(row.result)["created"] == count);
    CHECK(database.query("SELECT count(*) FROM personas WHERE job_id = $1", pw::db::postgres::Params().add(job_id))
              .int64(0, 0) == count);
  }
  for (const auto& [world_id, asked] : asked_per_world) {
    CAPTURE(world_id);
    CHECK(database.query("SELECT count(*) FROM personas WHERE world_id = $1", pw::db::postgres::Params().add(world_id))
              .int64(0, 0) == asked);
  }
}
