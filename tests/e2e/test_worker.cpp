// Black-box: the real binary's `worker` and `jobs` commands against one
// database (SQLite, or PostgreSQL under PW_TEST_DRIVER=postgres), as an
// operator would run them: several worker processes,
// kill -9, SIGTERM. Conditions are awaited with generous deadlines; nothing
// here asserts speed.
#include <doctest/doctest.h>
#include <httplib.h>

#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/holding_receiver.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

using pw::test::HoldingReceiver;
using pw::test::Process;
using pw::test::RunResult;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = PW_BINARY;

struct Scene {
  pw::test::TestDatabase database{false};
  pw::test::TempDir& dir = database.dir;
  std::string run_log = dir.file("runs.log");

  Scene() {
    auto migrated = pw::test::run(kBinary, {"migrate", database.flag()});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  RunResult jobs(std::vector<std::string> args) {
    args.insert(args.begin(), "jobs");
    args.push_back(database.flag());
    return pw::test::run(kBinary, args);
  }

  void enqueue(const std::string& type, const std::string& payload, int count = 1) {
    auto result = jobs({"enqueue", "--type", type, "--payload", payload, "--count", std::to_string(count)});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  }

  std::unique_ptr<Process> worker(std::vector<std::string> args = {}) {
    std::vector<std::string> all = {"worker", database.flag(), "--observability-port", "0", "--observability-host",
                                    "127.0.0.1"};
    all.insert(all.end(), args.begin(), args.end());
    return std::make_unique<Process>(kBinary, all, pw::test::Environment{{"PW_NOOP_RUN_LOG", run_log}});
  }

  // Read-only look at the table, for assertions only.
  std::map<std::string, std::int64_t> state_counts() {
    pw::test::DatabaseProbe probe(database.config);
    std::map<std::string, std::int64_t> out;
    for (const auto& row : probe.rows("SELECT state, count(*) FROM jobs GROUP BY state", 2)) {
      out[row[0]] = std::stoll(row[1]);
    }
    return out;
  }

  std::int64_t running_held_by(const std::string& owner) {
    pw::test::DatabaseProbe probe(database.config);
    return probe.scalar("SELECT count(*) FROM jobs WHERE state = 'running' AND lease_owner = ?", {owner});
  }

  nlohmann::json list(const std::string& state) {
    auto result = jobs({"list", "--state", state, "--limit", "10000", "--json"});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    return nlohmann::json::parse(result.out);
  }
};

std::string started_field(Process& worker, const std::string& field) {
  auto started = worker.wait_for_json("worker_started", 30s);
  REQUIRE_MESSAGE(started.has_value(), worker.output());
  return (*started)[field].is_string() ? (*started)[field].get<std::string>() : (*started)[field].dump();
}

void require_clean_logs(Process& worker) {
  CHECK_FALSE(worker.any_line_contains("SQLITE_BUSY"));
  CHECK_FALSE(worker.any_line_contains("database is locked"));
  CHECK_FALSE(worker.any_line_contains("\"level\":\"error\""));
}

}  // namespace

TEST_CASE("worker (binary): two workers drain 20,000 noop jobs, each run exactly once") {
  Scene scene;
  scene.enqueue("noop", "{}", 20000);
  auto first = scene.worker({"--concurrency", "16"});
  auto second = scene.worker({"--concurrency", "16"});
  int first_port = std::stoi(started_field(*first, "observability_port"));
  int second_port = std::stoi(started_field(*second, "observability_port"));

  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.state_counts()["succeeded"] == 20000; }, 90s),
                  "succeeded: " << scene.state_counts()["succeeded"]);

  // The metrics of both processes together account for every job once.
  double processed = 0;
  for (int port : {first_port, second_port}) {
    CHECK(pw::test::http_get(port, "/healthz").status == 200);
    auto metrics = pw::test::http_get(port, "/metrics");
    REQUIRE(metrics.status == 200);
    processed += pw::test::metric_value(metrics.body, R"(jobs_processed_total{status="succeeded",type="noop"})")
                     .value_or(0);
  }
  CHECK(processed == 20000);

  first->signal(SIGTERM);
  second->signal(SIGTERM);
  CHECK(first->wait_exit(30s) == 0);
  CHECK(second->wait_exit(30s) == 0);

  // The handler's own record: every job ran once, on its first attempt.
  std::ifstream runs(scene.run_log);
  std::map<std::int64_t, int> runs_per_job;
  std::size_t lines = 0;
  for (std::string line; std::getline(runs, line);) {
    std::istringstream fields(line);  // "<job id> <attempt> <monotonic us>"
    std::int64_t id = 0;
    int attempt = 0;
    fields >> id >> attempt;
    ++lines;
    ++runs_per_job[id];
    CHECK(attempt == 1);
  }
  CHECK(lines == 20000);
  CHECK(runs_per_job.size() == 20000);
  CHECK(runs_per_job.begin()->first == 1);
  CHECK(runs_per_job.rbegin()->first == 20000);
  for (const auto& [job_id, count] : runs_per_job) {
    if (count != 1) FAIL_CHECK("job " << job_id << " ran " << count << " times");
  }

  auto counts = scene.state_counts();
  CHECK(counts.size() == 1);
  CHECK(scene.list("queued").empty());
  CHECK(scene.list("running").empty());

  std::size_t logged = 0;
  for (auto* worker : {first.get(), second.get()}) {
    require_clean_logs(*worker);
    std::size_t mine = 0;
    for (const auto& line : worker->json_lines()) {
      if (line["msg"] == "job_succeeded") ++mine;
    }
    if (mine == 0) WARN("one worker ran no job (the other was faster to start)");
    logged += mine;
  }
  CHECK(logged == 20000);
}

TEST_CASE("worker (binary): jobs held by a killed worker are completed by another after the lease") {
  Scene scene;
  scene.enqueue("sleep", R"({"ms":1500})", 4);
  auto doomed = scene.worker({"--concurrency", "4", "--lease-ms", "1000"});
  std::string doomed_id = started_field(*doomed, "worker_id");
  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.running_held_by(doomed_id) == 4; }, 30s),
                  doomed->output());
  doomed->kill();
  CHECK(doomed->wait_exit(10s) == 128 + SIGKILL);
  CHECK(scene.state_counts()["running"] == 4);  // what a crash leaves behind

  auto rescuer = scene.worker({"--concurrency", "4", "--lease-ms", "1000"});
  std::string rescuer_id = started_field(*rescuer, "worker_id");
  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.state_counts()["succeeded"] == 4; }, 60s),
                  rescuer->output());
  auto done = scene.list("succeeded");
  REQUIRE(done.size() == 4);
  for (const auto& job : done) {
    CHECK(job["attempts"] == 2);  // the lapse counted as one attempt
    CHECK(job["lease_owner"] == rescuer_id);
    // Succeeded: no error stands; the lapse is the earlier attempt's history.
    CHECK(job["last_error"].is_null());
    CHECK(job["earlier_error"] == "lease expired (worker presumed dead)");
  }
  std::set<std::int64_t> reclaimed;
  for (const auto& line : rescuer->json_lines()) {
    if (line["msg"] == "job_lease_expired") {
      CHECK(line["previous_owner"] == doomed_id);
      reclaimed.insert(line["job_id"].get<std::int64_t>());
    }
  }
  CHECK(reclaimed.size() == 4);

  rescuer->signal(SIGTERM);
  CHECK(rescuer->wait_exit(30s) == 0);
  CHECK(scene.list("running").empty());
  CHECK(scene.list("queued").empty());
  CHECK(scene.state_counts()["succeeded"] == 4);
  CHECK_FALSE(rescuer->any_line_contains("SQLITE_BUSY"));
  CHECK_FALSE(rescuer->any_line_contains("database is locked"));
}

TEST_CASE("worker (binary): SIGTERM finishes or hands back running jobs and exits 0") {
  Scene scene;
  // Job 1 cannot be interrupted and finishes within the grace period; job 2
  // stops when asked and is handed back; jobs 3-5 are never claimed
  // (concurrency 2).
  scene.enqueue("sleep", R"({"ms":1500,"ignore_stop":true})");
  scene.enqueue("sleep", R"({"ms":600000})", 4);
  auto worker = scene.worker({"--concurrency", "2", "--shutdown-grace-ms", "20000", "--log-level", "debug"});
  std::string worker_id = started_field(*worker, "worker_id");
  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.running_held_by(worker_id) == 2; }, 30s),
                  worker->output());
  // Claimed is not enough: a job no handler has taken yet is handed back
  // untouched, so wait until both handlers are running theirs.
  for (int id : {1, 2}) {
    REQUIRE_MESSAGE(worker->wait_for_json("job_started", 30s, [&](const nlohmann::json& line) {
      return line["job_id"] == id;
    }), worker->output());
  }

  worker->signal(SIGTERM);
  REQUIRE_MESSAGE(worker->wait_exit(30s) == 0, worker->output());
  CHECK(worker->wait_for_json("worker_stopped", 1s).has_value());

  auto finished = scene.list("succeeded");
  REQUIRE(finished.size() == 1);
  CHECK(finished[0]["id"] == 1);
  auto queued = scene.list("queued");
  CHECK(queued.size() == 4);
  for (const auto& job : queued) {
    CHECK(job["attempts"] == 0);  // handing back charges no attempt
    CHECK(job["lease_owner"].is_null());
  }
  CHECK(scene.list("running").empty());
  auto released = worker->wait_for_json("job_released", 1s);
  REQUIRE(released.has_value());
  CHECK((*released)["job_id"] == 2);
  require_clean_logs(*worker);
}

TEST_CASE("worker (binary): jobs cancel reaches a running handler promptly, long before its next lease renewal, and the job stays canceled") {
  Scene scene;
  scene.enqueue("sleep", R"({"ms":600000})");
  scene.enqueue("noop", "{}");
  // Renewals every 40 s: a cancel found only by a renewal would stop the
  // handler only then.
  auto worker = scene.worker({"--concurrency", "2", "--lease-ms", "120000", "--log-level", "debug"});
  REQUIRE_MESSAGE(worker->wait_for_json("job_started", 30s, [](const nlohmann::json& line) {
    return line["job_id"] == 1;
  }), worker->output());
  auto canceled = scene.jobs({"cancel", "1"});
  REQUIRE_MESSAGE(canceled.exit_code == 0, canceled.err);
  // Within 20 s: only the cancel check can tell it that soon.
  auto told = worker->wait_for_json("job_canceled", 20s, [](const nlohmann::json& line) { return line["job_id"] == 1; });
  REQUIRE_MESSAGE(told.has_value(), worker->output());
  auto stopped = worker->wait_for_json("job_stopped_after_cancel", 20s,
                                       [](const nlohmann::json& line) { return line["job_id"] == 1; });
  REQUIRE_MESSAGE(stopped.has_value(), worker->output());
  auto shown = nlohmann::json::parse(scene.jobs({"show", "1", "--json"}).out);
  CHECK(shown["state"] == "canceled");
  // The worker goes on: its slot is free for the next job.
  scene.enqueue("noop", "{}");
  CHECK(pw::test::eventually([&] { return scene.state_counts()["succeeded"] == 2; }, 30s));
  CHECK_FALSE(worker->any_line_contains("job_lease_lost"));
  require_clean_logs(*worker);
  worker->signal(SIGTERM);
  CHECK(worker->wait_exit(30s) == 0);
}

TEST_CASE("jobs (binary): the operator commands show, refuse and change jobs") {
  Scene scene;
  auto missing = scene.jobs({"show", "42"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("job 42 not found") != std::string::npos);

  auto bad_payload = scene.jobs({"enqueue", "--type", "noop", "--payload", "{nope"});
  CHECK(bad_payload.exit_code == 1);
  CHECK(bad_payload.err.find("--payload") != std::string::npos);

  auto enqueued = scene.jobs({"enqueue", "--type", "noop", "--payload", R"({"a":1})", "--priority", "3",
                              "--trace-id", "req-7", "--json"});
  REQUIRE(enqueued.exit_code == 0);
  CHECK(nlohmann::json::parse(enqueued.out)["first_id"] == 1);

  auto shown = scene.jobs({"show", "1", "--json"});
  REQUIRE(shown.exit_code == 0);
  auto job = nlohmann::json::parse(shown.out);
  CHECK(job["state"] == "queued");
  CHECK(job["payload"]["a"] == 1);
  CHECK(job["priority"] == 3);
  CHECK(job["trace_id"] == "req-7");

  auto text = scene.jobs({"show", "1"});
  CHECK(text.out.find("state:") != std::string::npos);
  auto table = scene.jobs({"list"});
  CHECK(table.out.find("ID") == 0);
  CHECK(table.out.find("1 job") != std::string::npos);

  CHECK(scene.jobs({"retry", "1"}).exit_code == 1);  // queued: nothing to retry
  CHECK(scene.jobs({"cancel", "1"}).exit_code == 0);
  auto again = scene.jobs({"cancel", "1"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("job 1 is canceled") != std::string::npos);
  CHECK(scene.jobs({"cancel", "99"}).err.find("job 99 not found") != std::string::npos);
  CHECK(scene.jobs({"retry", "1"}).exit_code == 0);
  CHECK(scene.list("queued").size() == 1);

  CHECK(scene.jobs({"cancel", "1"}).exit_code == 0);
  auto kept = scene.jobs({"prune", "--older-than", "1h", "--json"});
  REQUIRE(kept.exit_code == 0);
  CHECK(nlohmann::json::parse(kept.out)["deleted"] == 0);
  std::this_thread::sleep_for(5ms);  // finished_at must be strictly older than "now - 1ms"
  auto pruned = scene.jobs({"prune", "--older-than", "1ms"});
  REQUIRE(pruned.exit_code == 0);
  CHECK(pruned.out.find("pruned 1 ") == 0);

  auto nowhere = pw::test::run(kBinary, {"jobs", "list", "--db", scene.dir.file("absent.db")});
  CHECK(nowhere.exit_code == 1);
  CHECK(nowhere.err.find("does not exist") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(scene.dir.file("absent.db")));
}

TEST_CASE("worker (binary): a type at its --type-concurrency limit does not starve the others: noop jobs behind a backlog of held webhooks run while the webhooks are in flight") {
  Scene scene;
  HoldingReceiver receiver;
  // 40 deliveries first, so every noop job is behind all of them in line.
  scene.enqueue("webhook.deliver", nlohmann::json{{"url", receiver.url()}, {"body", {{"n", 1}}}}.dump(), 40);
  scene.enqueue("noop", "{}", 20);
  auto worker = scene.worker({"--allow-private-webhooks", "--webhook-timeout-ms", "120000", "--concurrency", "16",
                              "--type-concurrency", "webhook.deliver=4,sleep=2"});
  std::string worker_id = started_field(*worker, "worker_id");
  REQUIRE_MESSAGE(pw::test::eventually([&] { return receiver.at_once() == 4; }, 30s), worker->output());

  // Every noop job runs while all four deliveries are still held open: the
  // webhooks waiting for their type's slots neither took every slot in hand
  // nor kept the handlers busy.
  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.state_counts()["succeeded"] == 20; }, 30s),
                  worker->output());
  pw::test::DatabaseProbe probe(scene.database.config);
  CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE type = 'noop' AND state = 'succeeded'") == 20);
  CHECK(receiver.at_once() == 4);
  // Claims passed over the full type: part of the backlog stayed in the
  // table for any worker with room, rather than all of it held here.
  CHECK(probe.scalar("SELECT count(*) FROM jobs WHERE type = 'webhook.deliver' AND state = 'queued'") > 0);
  CHECK(receiver.most_at_once() == 4);

  receiver.release();
  REQUIRE_MESSAGE(pw::test::eventually([&] { return scene.state_counts()["succeeded"] == 60; }, 60s),
                  worker->output());
  CHECK(receiver.most_at_once() == 4);  // never more than the type's limit at once
  worker->signal(SIGTERM);
  REQUIRE_MESSAGE(worker->wait_exit(30s) == 0, worker->output());
  require_clean_logs(*worker);
}

TEST_CASE("worker (binary): --type-concurrency that is not TYPE=N, or out of range, is refused at start") {
  Scene scene;
  for (const std::string value : {"webhook.deliver", "noop=0", "=3", "noop=2000", "noop=2,x=y"}) {
    auto refused = pw::test::run(kBinary, {"worker", scene.database.flag(), "--type-concurrency", value});
    CHECK_MESSAGE(refused.exit_code != 0, value);
    CHECK_MESSAGE(refused.err.find("--type-concurrency") != std::string::npos, refused.err);
  }
}
