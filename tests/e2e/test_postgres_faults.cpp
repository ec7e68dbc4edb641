// Black-box PostgreSQL faults: real `api` and `worker` processes against a
// private PostgreSQL server that each test stops, starts, chokes or locks
// (PostgresServer::start_private(), so no other test is disturbed). What a
// client and an operator must see: 503 with Retry-After while the database
// cannot serve (never a 500, never a connection closed without an answer),
// readiness that follows the database, recovery without a restart of our
// processes, and nothing acknowledged lost or run twice. Conditions are
// awaited with generous deadlines; nothing here asserts speed.
#include <doctest/doctest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
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
using pw::test::PostgresServer;
using pw::test::Process;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

const std::string kBinary = PW_BINARY;
using Headers = std::multimap<std::string, std::string>;


// The database name in a URL from PostgresServer::create_database().
std::string database_name(const std::string& url) {
  std::string name = url.substr(url.find("@/") + 2);
  return name.substr(0, name.find('?'));
}

void migrate(const std::string& url) {
  auto migrated = pw::test::run(kBinary, {"migrate", "--database-url", url});
  REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.out << migrated.err);
}

struct Started {
  std::unique_ptr<Process> process;
  int port = 0;
  std::string worker_id;
};

Started start_api(const std::string& url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"api", "--database-url", url, "--host", "127.0.0.1", "--port", "0",
                                   "--shutdown-delay-ms", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  Started api;
  api.process = std::make_unique<Process>(kBinary, args);
  auto started = api.process->wait_for_json("api_started", 60s);
  REQUIRE_MESSAGE(started, api.process->output());
  api.port = (*started)["port"].get<int>();
  return api;
}

Started start_worker(const std::string& url, const std::vector<std::string>& extra, const pw::test::Environment& env) {
  std::vector<std::string> args = {"worker", "--database-url", url, "--observability-host", "127.0.0.1",
                                   "--observability-port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  Started worker;
  worker.process = std::make_unique<Process>(kBinary, args, env);
  auto started = worker.process->wait_for_json("worker_started", 60s);
  REQUIRE_MESSAGE(started, worker.process->output());
  worker.port = (*started)["observability_port"].get<int>();
  worker.worker_id = (*started)["worker_id"].get<std::string>();
  return worker;
}

HttpResponse post(int port, const std::string& path, const json& body, const std::string& token,
                  Headers headers = {}, std::chrono::milliseconds timeout = 30s) {
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return pw::test::http_request("POST", port, path, body.dump(), "application/json", headers, timeout);
}

HttpResponse get(int port, const std::string& path, const std::string& token, std::chrono::milliseconds timeout = 30s) {
  return pw::test::http_request("GET", port, path, {}, {}, {{"Authorization", "Bearer " + token}}, timeout);
}

std::string sign_up(int port, const std::string& handle) {
  auto response = post(port, "/v1/users", {{"handle", handle}}, {});
  REQUIRE_MESSAGE(response.status == 201, response.status << " " << response.body);
  return json::parse(response.body)["token"];
}

std::string error_code(const HttpResponse& response) {
  auto body = json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return {};
  return body["error"].value("code", "");
}

// A refusal as the contract has it while the database cannot serve: 503,
// Retry-After, and the API's JSON error.
bool clean_refusal(const HttpResponse& response) {
  return response.status == 503 && !pw::test::header_of(response, "Retry-After").empty() &&
         !error_code(response).empty();
}

// Every db_unavailable_total series of an exposition, by reason.
std::map<std::string, double> unavailable_by_reason(int port) {
  auto metrics = pw::test::http_get(port, "/metrics", 10s);
  REQUIRE(metrics.status == 200);
  std::map<std::string, double> out;
  std::istringstream lines(metrics.body);
  const std::string prefix = "db_unavailable_total{reason=\"";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto end = line.find('"', prefix.size());
    out[line.substr(prefix.size(), end - prefix.size())] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

double total(const std::map<std::string, double>& by_reason) {
  double sum = 0;
  for (const auto& [reason, value] : by_reason) sum += value;
  return sum;
}

// A fresh connection for each look: the server under test comes and goes.
std::int64_t scalar(const std::string& url, const std::string& sql) {
  pw::db::postgres::Connection connection({url});
  return connection.query(sql).int64(0, 0);
}

using pw::test::reliability::Poller;
using pw::test::reliability::tail;
using pw::test::reliability::transitions;

// ---- the write storm ----

enum Phase { before_outage = 0, server_down = 1, server_back = 2 };

struct Sent {
  std::string key;      // Idempotency-Key, also the world's name for a world
  std::string path;     // where it went
  json body;
  std::string token;
  int phase = 0;        // when it was sent
  int answered = 0;     // when its answer was in
  HttpResponse response;
};

// Client threads, each its own user, alternately creating worlds and
// simulations with an Idempotency-Key per request, until stopped.
class Storm {
 public:
  struct Client {
    std::string token;
    std::int64_t world_id;
  };
  Storm(int port, std::vector<Client> clients, const std::atomic<int>& phase) : m_port(port), m_phase(phase) {
    for (std::size_t t = 0; t < clients.size(); ++t) {
      m_threads.emplace_back([this, t, client = clients[t]] {
        for (int n = 0; !m_stop; ++n) {
          Sent sent;
          sent.token = client.token;
          sent.phase = m_phase.load();
          if (n % 2 == 0) {
            sent.key = "world-" + std::to_string(t) + "-" + std::to_string(n);
            sent.path = "/v1/worlds";
            sent.body = {{"name", sent.key}, {"seed", n}};
          } else {
            sent.key = "simulation-" + std::to_string(t) + "-" + std::to_string(n);
            sent.path = "/v1/worlds/" + std::to_string(client.world_id) + "/simulations";
            sent.body = {{"ticks", 3}};
          }
          sent.response = post(m_port, sent.path, sent.body, sent.token, {{"Idempotency-Key", sent.key}});
          sent.answered = m_phase.load();
          const bool acknowledged = sent.response.status / 100 == 2;
          {
            std::lock_guard lock(m_mutex);
            m_sent.push_back(sent);
          }
          if (acknowledged) ++m_acknowledged;
          if (sent.response.status == 503) ++m_refused;
          // Refused: back off a little (less than Retry-After, to keep the pressure on).
          std::this_thread::sleep_for(acknowledged ? 10ms : 100ms);
        }
      });
    }
  }
  ~Storm() { stop(); }
  void stop() {
    m_stop = true;
    for (auto& thread : m_threads) {
      if (thread.joinable()) thread.join();
    }
  }
  int acknowledged() const { return m_acknowledged; }
  int refused() const { return m_refused; }
  std::vector<Sent> sent() const {
    std::lock_guard lock(m_mutex);
    return m_sent;
  }

 private:
  int m_port;
  const std::atomic<int>& m_phase;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_acknowledged{0};
  std::atomic<int> m_refused{0};
  mutable std::mutex m_mutex;
  std::vector<Sent> m_sent;
  std::vector<std::thread> m_threads;
};

// One line of the noop run log (PW_NOOP_RUN_LOG, src/jobs/builtin.cpp):
// "<job id> <attempt> <monotonic us> <claim>".
struct Run {
  std::int64_t job_id = 0;
  int attempt = 0;
  std::int64_t at_us = 0;
  std::int64_t claim = 0;
};

std::vector<Run> read_runs(const std::string& path) {
  std::ifstream file(path);
  std::vector<Run> runs;
  for (std::string line; std::getline(file, line);) {
    std::istringstream fields(line);
    Run run;
    fields >> run.job_id >> run.attempt >> run.at_us >> run.claim;
    runs.push_back(run);
  }
  return runs;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Steady::now().time_since_epoch()).count();
}

int count_msg(const Process& process, const std::string& msg) {
  int n = 0;
  for (const auto& line : process.json_lines()) n += line.value("msg", "") == msg;
  return n;
}

}  // namespace

TEST_CASE("postgres faults (binary): a server restart mid write storm and mid drain: 503 with Retry-After while down, readiness follows, the api and the worker recover by themselves, nothing acknowledged is lost and no job runs twice without a lapse") {
  auto server = PostgresServer::start_private();
  const std::string url = server->create_database();
  migrate(url);
  pw::test::TempDir dir;
  const std::string run_log = dir.file("runs.log");
  constexpr int kNoops = 5000;
  auto enqueued = pw::test::run(kBinary, {"jobs", "enqueue", "--database-url", url, "--type", "noop", "--count",
                                          std::to_string(kNoops)});
  REQUIRE_MESSAGE(enqueued.exit_code == 0, enqueued.err);

  // Limits far away: the storm must meet only the outage.
  auto api = start_api(url, {"--max-worlds-per-user", "100000", "--max-simulations-per-world", "100000",
                             "--max-pending-simulations", "100000"});
  const int port = api.port;
  std::vector<Storm::Client> clients;
  for (int t = 0; t < 4; ++t) {
    auto token = sign_up(port, "storm" + std::to_string(t));
    auto world = post(port, "/v1/worlds", {{"name", "home"}, {"seed", t}}, token);
    REQUIRE_MESSAGE(world.status == 201, world.body);
    const auto world_id = json::parse(world.body)["id"].get<std::int64_t>();
    for (int p = 0; p < 3; ++p) {
      auto persona = post(port, "/v1/worlds/" + std::to_string(world_id) + "/personas",
                          {{"name", "P" + std::to_string(p)}, {"traits", {{"sociability", 80}}}}, token);
      REQUIRE_MESSAGE(persona.status == 201, persona.body);
    }
    clients.push_back({token, world_id});
  }
  const std::string probe_token = sign_up(port, "prober");

  // A short lease: leases that lapse during the outage are taken again after
  // it, which the run log must then explain.
  auto worker = start_worker(url, {"--concurrency", "8", "--lease-ms", "3000", "--shutdown-grace-ms", "2000"},
                             {{"PW_NOOP_RUN_LOG", run_log}});
  INFO("--- api ---\n" << tail(*api.process) << "--- worker ---\n" << tail(*worker.process));

  Poller api_ready(port, "/readyz");
  Poller worker_ready(worker.port, "/readyz");
  std::atomic<int> phase{before_outage};
  Storm storm(port, clients, phase);

  // Mid storm and mid drain.
  REQUIRE_MESSAGE(pw::test::eventually([&] { return storm.acknowledged() >= 20 && read_runs(run_log).size() >= 300; },
                                       60s),
                  "acknowledged " << storm.acknowledged() << ", runs " << read_runs(run_log).size());
  server->stop();
  phase = server_down;
  const auto down_at = Steady::now();
  const std::size_t runs_before_outage = read_runs(run_log).size();
  CHECK(runs_before_outage < static_cast<std::size_t>(kNoops));  // the drain was under way, not over

  // While down: both processes say so, and the storm is refused cleanly.
  CHECK_MESSAGE(pw::test::eventually([&] { return api_ready.last() == 503; }, 20s),
                transitions(api_ready.statuses()));
  CHECK_MESSAGE(pw::test::eventually([&] { return worker_ready.last() == 503; }, 20s),
                transitions(worker_ready.statuses()));
  const int refused_before = storm.refused();
  CHECK_MESSAGE(pw::test::eventually([&] { return storm.refused() >= refused_before + 8; }, 20s),
                "refused while down: " << storm.refused() - refused_before);
  auto while_down = post(port, "/v1/worlds", {{"name", "while-down"}}, probe_token);
  CHECK(clean_refusal(while_down));
  CHECK(error_code(while_down) == "unavailable");

  // Down for a while: long enough for the processes' reconnection pauses
  // to grow, and for some leases to lapse.
  std::this_thread::sleep_until(down_at + 4s);
  phase = server_back;
  server->start();
  const std::int64_t back_at_us = now_us();

  // The api serves again by itself: no restart of ours, no operator.
  CHECK_MESSAGE(pw::test::eventually([&] {
    return get(port, "/v1/me", probe_token, 10s).status == 200;
  }, 30s), "the api did not serve again after the server came back");
  CHECK_MESSAGE(pw::test::eventually([&] { return api_ready.last() == 200; }, 30s), transitions(api_ready.statuses()));
  CHECK_MESSAGE(pw::test::eventually([&] { return worker_ready.last() == 200; }, 30s),
                transitions(worker_ready.statuses()));
  const int acknowledged_at_return = storm.acknowledged();
  CHECK_MESSAGE(pw::test::eventually([&] { return storm.acknowledged() >= acknowledged_at_return + 20; }, 30s),
                "acknowledged after the return: " << storm.acknowledged() - acknowledged_at_return);
  storm.stop();

  // Every request was answered: a 2xx, or a clean 503 (no 500, no dropped
  // connection), and nothing answered while the server was down succeeded.
  auto sent = storm.sent();
  int acknowledged = 0;
  int refused_while_down = 0;
  for (const auto& request : sent) {
    CAPTURE(request.key);
    CAPTURE(request.response.status);
    CAPTURE(request.response.error);
    CAPTURE(request.response.body);
    if (request.response.status / 100 == 2) {
      ++acknowledged;
      CHECK_FALSE((request.phase == server_down && request.answered == server_down));
      continue;
    }
    CHECK(clean_refusal(request.response));
    if (request.phase == server_down) ++refused_while_down;
  }
  CHECK(acknowledged > 0);
  CHECK(refused_while_down > 0);

  // A client retries what was refused, with the same key: each is taken now
  // (or replayed, if it had committed after all).
  std::map<std::string, std::int64_t> id_of_key;
  for (auto& request : sent) {
    if (request.response.status / 100 != 2) {
      HttpResponse retried;
      pw::test::eventually([&] {
        retried = post(port, request.path, request.body, request.token, {{"Idempotency-Key", request.key}});
        return retried.status / 100 == 2 || !clean_refusal(retried);
      }, 30s);
      CAPTURE(request.key);
      CHECK_MESSAGE(retried.status / 100 == 2, retried.status << " " << retried.body);
      if (retried.status / 100 != 2) continue;
      request.response = retried;
    }
    auto body = json::parse(request.response.body);
    id_of_key[request.key] = request.key.rfind("world-", 0) == 0 ? body["id"].get<std::int64_t>()
                                                                  : body["simulation"]["id"].get<std::int64_t>();
  }

  // Everything acknowledged is in the database, once per key.
  {
    pw::db::postgres::Connection database({url});
    std::int64_t worlds_sent = 0;
    std::int64_t simulations_sent = 0;
    for (const auto& [key, id] : id_of_key) {
      CAPTURE(key);
      if (key.rfind("world-", 0) == 0) {
        ++worlds_sent;
        auto rows = database.query("SELECT count(*) FROM worlds WHERE name = $1", pw::db::postgres::Params().add(key));
        CHECK(rows.int64(0, 0) == 1);
        auto named = database.query("SELECT name FROM worlds WHERE id = $1", pw::db::postgres::Params().add(id));
        REQUIRE(named.size() == 1);
        CHECK(named.text(0, 0) == key);
      } else {
        ++simulations_sent;
        auto rows = database.query("SELECT count(*) FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE s.id = $1",
                                   pw::db::postgres::Params().add(id));
        CHECK(rows.int64(0, 0) == 1);
      }
    }
    // No request that was refused left a row behind besides the one its retry returned.
    CHECK(database.query("SELECT count(*) FROM worlds WHERE name LIKE 'world-%'").int64(0, 0) == worlds_sent);
    CHECK(database.query("SELECT count(*) FROM simulations").int64(0, 0) == simulations_sent);
    CHECK(database.query("SELECT count(*) FROM worlds WHERE name = 'while-down'").int64(0, 0) == 0);
  }

  // The worker finishes the drain: every job, noop and simulation, succeeded.
  const bool drained = pw::test::eventually([&] {
    std::this_thread::sleep_for(200ms);
    return scalar(url, "SELECT count(*) FROM jobs WHERE state <> 'succeeded'") == 0;
  }, 60s);
  std::string states;
  {
    pw::db::postgres::Connection database({url});
    auto rows = database.query("SELECT state || ':' || count(*) FROM jobs GROUP BY state ORDER BY state");
    for (int r = 0; r < rows.size(); ++r) states += rows.text(r, 0) + " ";
  }
  CHECK_MESSAGE(drained, "job states after a minute of waiting for the drain: " << states
                             << "(noop runs: " << read_runs(run_log).size() << " of " << kNoops << ")");

  // The worker lost the database and came back: it said so, it ran jobs
  // after the return, and its wake-up listener is listening again.
  CHECK(count_msg(*worker.process, "worker_loop_failed") > 0);
  CHECK(count_msg(*worker.process, "wake_listener_lost") + count_msg(*worker.process, "wake_listener_unavailable") > 0);
  auto runs = read_runs(run_log);
  std::size_t runs_after_return = 0;
  for (const auto& run : runs) runs_after_return += run.at_us > back_at_us;
  CHECK(runs_after_return > 0);
  CHECK_MESSAGE(pw::test::eventually([&] {
    std::this_thread::sleep_for(200ms);
    return scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                       "query LIKE 'LISTEN%'") >= 1;
  }, 15s), "no session of the worker LISTENs after the restart");

  // No job ran twice unless its lease lapsed: each claim ran at most once,
  // and a job that ran again was reclaimed after a logged lapse.
  std::set<std::int64_t> lapsed;
  for (const auto& line : worker.process->json_lines()) {
    if (line.value("msg", "") == "job_lease_expired") lapsed.insert(line["job_id"].get<std::int64_t>());
  }
  std::map<std::int64_t, std::vector<Run>> runs_of;
  std::set<std::pair<std::int64_t, std::int64_t>> claims;
  for (const auto& run : runs) {
    runs_of[run.job_id].push_back(run);
    if (!claims.insert({run.job_id, run.claim}).second) {
      FAIL_CHECK("job " << run.job_id << ": claim " << run.claim << " ran twice");
    }
  }
  std::map<std::int64_t, std::pair<std::string, int>> rows;  // id -> state, attempts
  {
    pw::db::postgres::Connection database({url});
    auto result = database.query("SELECT id, state, attempts FROM jobs WHERE type = 'noop'");
    for (int r = 0; r < result.size(); ++r) rows[result.int64(r, 0)] = {result.text(r, 1), result.int32(r, 2)};
  }
  CHECK(rows.size() == static_cast<std::size_t>(kNoops));
  int ran_again = 0;
  for (const auto& [id, row] : rows) {
    auto found = runs_of.find(id);
    if (row.first == "succeeded" && found == runs_of.end()) FAIL_CHECK("job " << id << " succeeded but never ran");
    if (found == runs_of.end()) continue;
    const auto& job_runs = found->second;
    if (job_runs.size() > 1) {
      ++ran_again;
      if (!lapsed.contains(id)) FAIL_CHECK("job " << id << " ran " << job_runs.size() << " times without a logged lapse");
    }
    if (static_cast<int>(job_runs.size()) > row.second) {
      FAIL_CHECK("job " << id << " ran " << job_runs.size() << " times in " << row.second << " attempts");
    }
  }
  CHECK(ran_again <= static_cast<int>(lapsed.size()));

  CHECK(api.process->running());
  CHECK(worker.process->running());
  CHECK_FALSE(api.process->any_line_contains("api_failed"));
  api_ready.stop();
  worker_ready.stop();
  // Readiness went down with the server and came back, and always answered.
  for (auto* poller : {&api_ready, &worker_ready}) {
    auto statuses = poller->statuses();
    CAPTURE(transitions(statuses));
    CHECK(transitions(statuses).find("503") != std::string::npos);
    CHECK(statuses.back() == 200);
    CHECK(std::all_of(statuses.begin(), statuses.end(), [](int status) { return status == 200 || status == 503; }));
  }

  worker.process->signal(SIGTERM);
  api.process->signal(SIGTERM);
  CHECK(worker.process->wait_exit(30s) == 0);
  CHECK(api.process->wait_exit(30s) == 0);
}

TEST_CASE("postgres faults (binary): a role at its connection limit with a larger pool: every answer is a 2xx or a 503 with Retry-After, the api stays up, and db_unavailable_total counts each refusal") {
  auto server = PostgresServer::start_private();
  const std::string url = server->create_database();
  migrate(url);
  const std::string name = database_name(url);
  const std::string password = "Capped-Pa55word";
  server->run_sql("CREATE ROLE pw_capped LOGIN PASSWORD '" + password + "' CONNECTION LIMIT 3");
  server->run_sql("GRANT ALL ON ALL TABLES IN SCHEMA public TO pw_capped; "
                  "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO pw_capped",
                  name);
  const std::string capped_url = server->tcp_url("pw_capped", password, name);

  auto api = start_api(capped_url, {"--database-pool-size", "8", "--http-threads", "16"});
  const int port = api.port;
  INFO("--- api ---\n" << tail(*api.process));
  const std::string token = sign_up(port, "reader");

  // 12 clients at once, more than the role may connect: sign-ups (writes)
  // and reads of /v1/me.
  std::mutex mutex;
  std::vector<HttpResponse> responses;
  std::vector<std::thread> clients;
  for (int t = 0; t < 12; ++t) {
    clients.emplace_back([&, t] {
      for (int n = 0; n < 25; ++n) {
        auto response = n % 2 == 0 ? post(port, "/v1/users", {{"handle", "u" + std::to_string(t) + "x" + std::to_string(n)}}, {})
                                   : get(port, "/v1/me", token);
        std::lock_guard lock(mutex);
        responses.push_back(std::move(response));
      }
    });
  }
  for (auto& client : clients) client.join();

  int acknowledged = 0;
  int refused = 0;
  for (const auto& response : responses) {
    CAPTURE(response.status);
    CAPTURE(response.error);
    CAPTURE(response.body);
    if (response.status / 100 == 2) {
      ++acknowledged;
    } else {
      ++refused;
      CHECK(clean_refusal(response));
      CHECK(error_code(response) == "unavailable");
    }
  }
  CHECK(acknowledged > 0);
  CHECK(refused > 0);  // the limit was met
  CHECK(api.process->running());
  CHECK(pw::test::http_get(port, "/healthz").status == 200);

  // Each refusal is counted once, and as what it was: out of connections
  // ("overloaded", src/observability/metrics.hpp), not an unreachable server.
  auto by_reason = unavailable_by_reason(port);
  CAPTURE(json(by_reason).dump());
  CHECK(total(by_reason) == refused);
  CHECK(by_reason["overloaded"] == refused);

  // The server never let the role past its limit, and the api serves again
  // once the crowd is gone.
  CHECK(pw::test::eventually([&] { return get(port, "/v1/me", token).status == 200; }, 30s));
  CHECK(scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pw_capped'") <= 3);
  api.process->signal(SIGTERM);
  CHECK(api.process->wait_exit(30s) == 0);
}

TEST_CASE("postgres faults (binary): a statement past --database-statement-timeout-ms behind a held lock: 503 with Retry-After, the api stays up, and the same request succeeds once the lock is gone") {
  auto server = PostgresServer::start_private();
  const std::string url = server->create_database();
  migrate(url);
  auto api = start_api(url, {"--database-statement-timeout-ms", "200"});
  const int port = api.port;
  INFO("--- api ---\n" << tail(*api.process));
  const std::string token = sign_up(port, "patient");
  auto existing = post(port, "/v1/worlds", {{"name", "before the lock"}}, token);
  REQUIRE(existing.status == 201);
  const std::string existing_path = "/v1/worlds/" + std::to_string(json::parse(existing.body)["id"].get<std::int64_t>());
  const json body = {{"name", "behind the lock"}, {"seed", 5}};
  const Headers key = {{"Idempotency-Key", "locked-out-1"}};

  {
    // An operator's long transaction (a migration by hand, say) holds the table.
    pw::db::postgres::Connection holder({url});
    pw::db::postgres::Transaction transaction(holder);
    holder.exec("LOCK TABLE worlds IN ACCESS EXCLUSIVE MODE");

    // The lock is held until both answers are in: an answer means the
    // statement was canceled (SQLSTATE 57014), not that it got the lock.
    auto created = post(port, "/v1/worlds", body, token, key, 20s);
    CAPTURE(created.status);
    CAPTURE(created.error);
    CAPTURE(created.body);
    CHECK(clean_refusal(created));
    CHECK(error_code(created) == "unavailable");
    auto read = get(port, existing_path, token, 20s);
    CAPTURE(read.body);
    CHECK(clean_refusal(read));
    CHECK(api.process->running());
    CHECK(pw::test::http_get(port, "/healthz").status == 200);
  }  // rolled back: the lock is released

  auto by_reason = unavailable_by_reason(port);
  CAPTURE(json(by_reason).dump());
  CHECK(by_reason["busy"] == 2);
  CHECK(total(by_reason) == 2);
  CHECK(api.process->wait_for_json("database_unavailable", 1s, [](const json& line) {
    return line.value("error", "").find("57014") != std::string::npos;
  }));

  auto retried = post(port, "/v1/worlds", body, token, key);
  CHECK_MESSAGE(retried.status == 201, retried.body);
  CHECK(get(port, existing_path, token).status == 200);
  CHECK(scalar(url, "SELECT count(*) FROM worlds WHERE name = 'behind the lock'") == 1);
  CHECK(api.process->running());
  api.process->signal(SIGTERM);
  CHECK(api.process->wait_exit(30s) == 0);
}
