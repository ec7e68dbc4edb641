// The setting of the delivery-guarantee fault tests (tests/e2e/test_faults.cpp,
// and their longer randomised variants in tests/chaos/): a migrated database,
// worker processes of the real binary, and the invariants every such test
// checks (docs/job-queue.md, "Delivery guarantees"):
//   - every recorded outcome belongs to the claim that produced it;
//   - a job runs again only after a lapse that was logged;
//   - no live worker's lease lapses.
// PW_FAULT_BINARY runs them against another build (to show a fix's test
// failing on the build before it).
#pragma once

#include <doctest/doctest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace pw::test::faults {

using namespace std::chrono_literals;

inline std::string binary() {
  const char* other = std::getenv("PW_FAULT_BINARY");
  return other && *other ? other : PW_BINARY;
}

struct Row {
  std::int64_t id = 0;
  std::string state;
  int attempts = 0;
  std::int64_t claim = -1;  // -1: a schema without claim tokens
  std::string result;
  std::string lease_owner;
};

struct FaultScene {
  TempDir dir;
  std::string db = dir.file("jobs.db");

  FaultScene() {
    auto migrated = run(binary(), {"migrate", "--db", db});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  void enqueue(const std::string& type, const std::string& payload, int count = 1) {
    auto result = run(binary(), {"jobs", "enqueue", "--db", db, "--type", type, "--payload", payload, "--count",
                                 std::to_string(count)});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  }

  RunResult jobs(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"jobs"};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--db", db});
    return run(binary(), all);
  }

  std::unique_ptr<Process> worker(std::vector<std::string> args = {}, const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> all = {"worker", "--db", db, "--observability-port", "0", "--observability-host",
                                    "127.0.0.1"};
    // Debug by default: the invariants read job_started lines.
    if (std::find(args.begin(), args.end(), "--log-level") == args.end()) all.insert(all.end(), {"--log-level", "debug"});
    all.insert(all.end(), args.begin(), args.end());
    if (prefix.empty()) return std::make_unique<Process>(binary(), all);
    std::vector<std::string> wrapped(prefix.begin() + 1, prefix.end());
    wrapped.push_back(binary());
    wrapped.insert(wrapped.end(), all.begin(), all.end());
    return std::make_unique<Process>(prefix.front(), wrapped);
  }

  std::map<std::int64_t, Row> rows() {
    SQLite::Database database(db, SQLite::OPEN_READONLY);
    database.setBusyTimeout(20000);
    bool has_claim = false;
    {
      SQLite::Statement columns(database, "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'claim'");
      columns.executeStep();
      has_claim = columns.getColumn(0).getInt() == 1;
    }
    SQLite::Statement query(database, std::string("SELECT id, state, attempts, coalesce(result, ''), "
                                                  "coalesce(lease_owner, ''), ") +
                                          (has_claim ? "claim" : "-1") + " FROM jobs");
    std::map<std::int64_t, Row> out;
    while (query.executeStep()) {
      Row row;
      row.id = query.getColumn(0).getInt64();
      row.state = query.getColumn(1).getString();
      row.attempts = query.getColumn(2).getInt();
      row.result = query.getColumn(3).getString();
      row.lease_owner = query.getColumn(4).getString();
      row.claim = query.getColumn(5).getInt64();
      out[row.id] = row;
    }
    return out;
  }

  std::int64_t count(const std::string& state) {
    std::int64_t n = 0;
    for (const auto& [id, row] : rows()) n += row.state == state;
    return n;
  }
};

inline std::string worker_id(Process& worker) {
  auto started = worker.wait_for_json("worker_started", 30s);
  REQUIRE_MESSAGE(started.has_value(), worker.output());
  return (*started)["worker_id"].get<std::string>();
}

// Every recorded outcome belongs to the claim that produced it: a success
// was logged only by the claim the row names (its attempt), and a `sleep`
// result names the claim that ran it.
inline void check_outcomes_belong_to_their_claims(FaultScene& scene, const std::vector<Process*>& workers) {
  auto rows = scene.rows();
  std::map<std::int64_t, int> successes;
  for (auto* worker : workers) {
    for (const auto& line : worker->json_lines()) {
      if (line["msg"] != "job_succeeded") continue;
      auto id = line["job_id"].get<std::int64_t>();
      ++successes[id];
      const Row& row = rows[id];
      if (line["attempt"].get<int>() != row.attempts) {
        FAIL_CHECK("job " << id << ": success logged by attempt " << line["attempt"] << " but the row is at attempt "
                          << row.attempts << " (" << row.state << ")");
      }
    }
  }
  for (const auto& [id, row] : rows) {
    if (row.state != "succeeded") continue;
    if (successes[id] != 1) FAIL_CHECK("job " << id << " has " << successes[id] << " logged successes");
    if (row.claim < 0 || row.result.find("\"claim\"") == std::string::npos) continue;
    auto result = nlohmann::json::parse(row.result);
    if (result["claim"].get<std::int64_t>() != row.claim) {
      FAIL_CHECK("job " << id << ": result of claim " << result["claim"] << " recorded on claim " << row.claim);
    }
  }
}

// Lapses logged by `workers`, by the owner that lost them.
inline std::map<std::string, int> lapses_by_owner(const std::vector<Process*>& workers) {
  std::map<std::string, int> out;
  for (auto* worker : workers) {
    for (const auto& line : worker->json_lines()) {
      if (line["msg"] == "job_lease_expired" || (line["msg"] == "job_dead" && line.contains("previous_owner"))) {
        ++out[line["previous_owner"].get<std::string>()];
      }
    }
  }
  return out;
}

// The first few lapse lines of `owner`'s leases, for a failure's message:
// who judged them, how late they were and what grace they got.
inline std::string lapse_lines(const std::vector<Process*>& workers, const std::string& owner) {
  std::string out;
  int shown = 0;
  for (std::size_t judge = 0; judge < workers.size(); ++judge) {
    for (const auto& line : workers[judge]->json_lines()) {
      if (shown == 3) return out;
      if (line.value("previous_owner", "") != owner) continue;
      out += "\n  judged by worker " + std::to_string(judge) + ": " + line.dump();
      ++shown;
    }
  }
  return out;
}

inline int count_lines(const std::vector<Process*>& workers, const std::string& msg) {
  int n = 0;
  for (auto* worker : workers) {
    for (const auto& line : worker->json_lines()) n += line["msg"] == msg;
  }
  return n;
}

}  // namespace pw::test::faults
