// What the reliability tests share: a migrated database (SQLite, or
// PostgreSQL under PW_TEST_DRIVER=postgres), `api` and `worker` processes of
// the real binary (restartable, killable) on 127.0.0.1, a client that speaks
// the /v1 contract, and read-only looks at the database.
#pragma once

#include <doctest/doctest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>


#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/test_database.hpp"

namespace pw::test::reliability {

using nlohmann::json;
using namespace std::chrono_literals;
using Headers = std::multimap<std::string, std::string>;

inline const std::string kBinary = PW_BINARY;


// True when the body is the API's JSON error with a code and a message.
inline bool is_json_error(const HttpResponse& response) {
  auto body = json::parse(response.body, nullptr, false);
  return body.is_object() && body.contains("error") && body["error"].is_object() &&
         body["error"].value("code", "") != "" && body["error"].value("message", "") != "";
}

// The last `count` lines a process wrote, for a failure message.
inline std::string tail(const Process& process, std::size_t count = 25) {
  auto lines = process.lines(Stream::both);
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    out += lines[i].substr(0, 400) + "\n";
  }
  return out;
}

// The events a process logged at error level, other than the access lines of
// 5xx answers (a 503 from /readyz while stopping is logged that way).
inline std::vector<std::string> error_events(const Process& process) {
  std::vector<std::string> out;
  for (const auto& line : process.json_lines()) {
    if (line.value("level", "") == "error" && line.value("msg", "") != "http_request") out.push_back(line.dump());
  }
  return out;
}

class Scene {
 public:
  // `db_dir`: where an SQLite database lives (a mount made by the test,
  // say); without one, the suite's driver's database.
  explicit Scene(std::string db_dir = {}) {
    if (!db_dir.empty()) {
      m_database.config.url.clear();
      m_database.config.path = db_dir + "/reliability.db";
    }
    m_db = m_database.config.path;
    auto migrated = run(kBinary, {"migrate", flag()});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  // The SQLite file (for tests of SQLite alone).
  const std::string& db() const { return m_db; }
  // How a role is told where the database is: --db=PATH or --database-url=URL.
  std::string flag() const { return m_database.flag(); }
  bool postgres() const { return !m_database.config.url.empty(); }
  const TempDir& dir() const { return m_database.dir; }
  DatabaseProbe probe() const { return DatabaseProbe(m_database.config); }

  // Starts (or restarts) the API; returns its port.
  int start_api(std::vector<std::string> extra = {}, Environment env = {}) {
    std::vector<std::string> args = {"api", flag(), "--host", "127.0.0.1", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    m_api = std::make_unique<Process>(kBinary, args, env);
    auto started = m_api->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, m_api->output());
    m_port = (*started)["port"].get<int>();
    return m_port;
  }
  Process& api() { return *m_api; }
  int port() const { return m_port; }

  // Starts a worker; returns it with its observability port.
  std::pair<std::unique_ptr<Process>, int> start_worker(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"worker", flag(), "--observability-host", "127.0.0.1",
                                     "--observability-port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto worker = std::make_unique<Process>(kBinary, args);
    auto started = worker->wait_for_json("worker_started", 60s);
    REQUIRE_MESSAGE(started, worker->output());
    return {std::move(worker), (*started)["observability_port"].get<int>()};
  }

  HttpResponse post(const std::string& path, const json& body, const std::string& token, Headers headers = {},
                    std::chrono::milliseconds timeout = 30s) const {
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return http_request("POST", m_port, path, body.dump(), "application/json", headers, timeout);
  }
  HttpResponse get(const std::string& path, const std::string& token) const {
    return http_request("GET", m_port, path, {}, {}, {{"Authorization", "Bearer " + token}}, 30s);
  }

  std::string sign_up(const std::string& handle) {
    auto response = post("/v1/users", {{"handle", handle}}, {});
    REQUIRE_MESSAGE(response.status == 201, response.body);
    return json::parse(response.body)["token"];
  }

  // A world with `personas` hand-made personas; returns its id.
  std::int64_t make_world(const std::string& token, int personas) {
    auto world = post("/v1/worlds", {{"name", "Reliable"}, {"seed", 7}}, token);
    REQUIRE_MESSAGE(world.status == 201, world.body);
    const auto id = json::parse(world.body)["id"].get<std::int64_t>();
    for (int i = 0; i < personas; ++i) {
      auto persona = post("/v1/worlds/" + std::to_string(id) + "/personas",
                          {{"name", "P" + std::to_string(i)}, {"traits", {{"sociability", 90}}}}, token);
      REQUIRE_MESSAGE(persona.status == 201, persona.body);
    }
    return id;
  }

  // ---- read-only looks at the database, for assertions ----

  // An SQLite connection to the file (for tests of SQLite alone).
  std::unique_ptr<SQLite::Database> open_readonly() const {
    auto database = std::make_unique<SQLite::Database>(m_db, SQLite::OPEN_READONLY);
    database->setBusyTimeout(10000);
    return database;
  }

  std::int64_t count(const std::string& sql) const { return probe().scalar(sql); }

  // id -> number of rows with that id (a job counted twice would show here).
  std::map<std::int64_t, int> job_ids(const std::string& type) const {
    std::map<std::int64_t, int> out;
    for (const auto& row : probe().rows("SELECT id FROM jobs WHERE type = ?", 1, {type})) ++out[std::stoll(row[0])];
    return out;
  }

  // SQLite's own check of the file (PostgreSQL has none to ask for: its
  // crash safety is the server's write-ahead log).
  std::string integrity() const {
    auto database = open_readonly();
    SQLite::Statement query(*database, "PRAGMA integrity_check");
    std::string out;
    while (query.executeStep()) out += query.getColumn(0).getString();
    return out;
  }

  std::map<std::string, std::int64_t> job_states() const {
    std::map<std::string, std::int64_t> out;
    for (const auto& row : probe().rows("SELECT state, count(*) FROM jobs GROUP BY state", 2)) {
      out[row[0]] = std::stoll(row[1]);
    }
    return out;
  }

  // The API's last lines, for a failure message.
  std::string output() const { return m_api ? "--- api ---\n" + tail(*m_api) : std::string("(no api)"); }

 private:
  TestDatabase m_database{false};
  std::string m_db;
  std::unique_ptr<Process> m_api;
  int m_port = 0;
};

// What one client request got: its status (0 = no answer) and the job it
// created, when it was acknowledged.
struct Outcome {
  int status = 0;
  std::int64_t job_id = 0;
  std::int64_t simulation_id = 0;
};

// Clients posting simulations, each request with its own Idempotency-Key,
// from several threads, until told to stop (or `limit` requests each).
class SimulationStorm {
 public:
  SimulationStorm(const Scene& scene, std::string token, std::int64_t world_id, int threads, int limit = 100000)
      : m_scene(scene), m_token(std::move(token)), m_world(world_id) {
    for (int t = 0; t < threads; ++t) {
      m_threads.emplace_back([this, t, limit] {
        for (int n = 0; n < limit && !m_stop; ++n) {
          const std::string key = "storm-" + std::to_string(t) + "-" + std::to_string(n);
          auto response = send(key, 10s);
          Outcome outcome;
          outcome.status = response.status;
          if (response.status == 202) {
            auto body = json::parse(response.body);
            outcome.job_id = body["job"]["id"];
            outcome.simulation_id = body["simulation"]["id"];
            ++m_acknowledged;
          } else if (response.status != 0) {
            ++m_refused;
          } else {
            ++m_unanswered;
          }
          {
            std::lock_guard lock(m_mutex);
            m_outcomes[key] = outcome;
          }
          // No answer: the server is gone; this client retries later, if at all.
          if (response.status == 0) break;
        }
      });
    }
  }
  ~SimulationStorm() { stop(); }

  // The request a client retries with the same key.
  HttpResponse send(const std::string& key, std::chrono::milliseconds timeout) const {
    return m_scene.post("/v1/worlds/" + std::to_string(m_world) + "/simulations", {{"ticks", 40}}, m_token,
                        {{"Idempotency-Key", key}}, timeout);
  }

  void stop() {
    m_stop = true;
    for (auto& thread : m_threads) {
      if (thread.joinable()) thread.join();
    }
  }
  int acknowledged() const { return m_acknowledged; }
  int refused() const { return m_refused; }
  int unanswered() const { return m_unanswered; }
  std::map<std::string, Outcome> outcomes() const {
    std::lock_guard lock(m_mutex);
    return m_outcomes;
  }

 private:
  const Scene& m_scene;
  std::string m_token;
  std::int64_t m_world;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_acknowledged{0};
  std::atomic<int> m_refused{0};
  std::atomic<int> m_unanswered{0};
  mutable std::mutex m_mutex;
  std::map<std::string, Outcome> m_outcomes;
  std::vector<std::thread> m_threads;
};

// Polls GET `path` on a port every few milliseconds and keeps the statuses
// in order (0 = no answer), until stopped.
class Poller {
 public:
  Poller(int port, std::string path) {
    m_thread = std::thread([this, port, path = std::move(path)] {
      while (!m_stop) {
        auto response = http_get(port, path, 2s);
        {
          std::lock_guard lock(m_mutex);
          m_statuses.push_back(response.status);
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~Poller() { stop(); }
  void stop() {
    m_stop = true;
    if (m_thread.joinable()) m_thread.join();
  }
  std::vector<int> statuses() const {
    std::lock_guard lock(m_mutex);
    return m_statuses;
  }
  // The latest status, -1 before the first.
  int last() const {
    std::lock_guard lock(m_mutex);
    return m_statuses.empty() ? -1 : m_statuses.back();
  }

 private:
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::vector<int> m_statuses;
  std::thread m_thread;
};

// The statuses a poller saw, squeezed to their changes: 200 200 503 0 0 ->
// "200 503 0".
inline std::string transitions(const std::vector<int>& statuses) {
  std::string out;
  int last = -1;
  for (int status : statuses) {
    if (status == last) continue;
    out += (out.empty() ? "" : " ") + std::to_string(status);
    last = status;
  }
  return out;
}

}  // namespace pw::test::reliability
