// Longer randomised variants of the fault tests (`make chaos`, not part of
// `make test`): minutes of random SIGSTOP/SIGCONT across several workers,
// and a worker starved of CPU with nice. The same invariants as
// tests/e2e/test_faults.cpp. PW_CHAOS_SECONDS sets each test's length (default 120).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "e2e/fault_scene.hpp"

using namespace std::chrono_literals;
using pw::test::Process;
using pw::test::faults::FaultScene;
using Steady = std::chrono::steady_clock;

namespace {

std::chrono::seconds chaos_length() {
  const char* value = std::getenv("PW_CHAOS_SECONDS");
  return std::chrono::seconds(value ? std::atoi(value) : 120);
}

}  // namespace

TEST_CASE("chaos: random SIGSTOP/SIGCONT of random workers through a long drain") {
  FaultScene scene;
  scene.enqueue("sleep", R"({"ms":2})", 200000);
  std::vector<std::unique_ptr<Process>> workers;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    workers.push_back(scene.worker({"--concurrency", "8", "--lease-ms", "1000", "--log-level", "info"}));
    ids.push_back(pw::test::faults::worker_id(*workers.back()));
  }
  std::mt19937 random(std::random_device{}());
  std::set<std::string> stopped;
  auto until = Steady::now() + chaos_length();
  while (Steady::now() < until && scene.count("queued") > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 800)(random)));
    auto victim = std::uniform_int_distribution<std::size_t>(0, workers.size() - 1)(random);
    workers[victim]->signal(SIGSTOP);
    stopped.insert(ids[victim]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 3000)(random)));
    workers[victim]->signal(SIGCONT);
  }
  REQUIRE(pw::test::eventually([&] { return scene.count("queued") == 0 && scene.count("running") == 0; }, 300s));
  std::vector<Process*> all;
  for (auto& worker : workers) {
    worker->signal(SIGTERM);
    CHECK(worker->wait_exit(60s) == 0);
    all.push_back(worker.get());
  }
  pw::test::faults::check_outcomes_belong_to_their_claims(scene, all);
  for (const auto& [owner, lapses] : pw::test::faults::lapses_by_owner(all)) {
    CHECK_MESSAGE(stopped.count(owner) == 1, lapses << " leases of a never-stopped worker lapsed");
  }
}

TEST_CASE("chaos: a worker starved of CPU (nice 19 under CPU hogs) costs no live worker its leases") {
  FaultScene scene;
  scene.enqueue("sleep", R"({"ms":1})", 100000);
  scene.enqueue("sleep", R"({"ms":20000})", 8);
  auto starved = scene.worker({"--concurrency", "16", "--lease-ms", "2000", "--log-level", "info"},
                              {"/usr/bin/nice", "-n", "19"});
  auto live = scene.worker({"--concurrency", "16", "--lease-ms", "2000", "--log-level", "info"});
  std::string starved_id = pw::test::faults::worker_id(*starved);
  pw::test::faults::worker_id(*live);
  std::vector<std::unique_ptr<Process>> hogs;
  for (int i = 0; i < 4; ++i) hogs.push_back(std::make_unique<Process>("/bin/sh", std::vector<std::string>{"-c", "while :; do :; done"}));
  auto until = Steady::now() + chaos_length();
  while (Steady::now() < until && scene.count("queued") > 0) std::this_thread::sleep_for(500ms);
  hogs.clear();
  REQUIRE(pw::test::eventually([&] { return scene.count("queued") == 0 && scene.count("running") == 0; }, 300s));
  starved->signal(SIGTERM);
  live->signal(SIGTERM);
  CHECK(starved->wait_exit(60s) == 0);
  CHECK(live->wait_exit(60s) == 0);
  pw::test::faults::check_outcomes_belong_to_their_claims(scene, {starved.get(), live.get()});
  CHECK(pw::test::faults::lapses_by_owner({starved.get(), live.get()}).empty());
}
