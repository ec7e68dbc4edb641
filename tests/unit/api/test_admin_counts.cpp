// AdminCounts without a database: the background refresh follows the
// console's use by the injected clock, one count runs at a time, a failing
// count keeps the last snapshot, and destruction stops the thread.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/admin_counts.hpp"
#include "observability/logger.hpp"
#include "queue/clock.hpp"

using namespace std::chrono_literals;
using pw::api::AdminCounts;
using pw::api::JobCounts;

namespace {

struct CountsFixture {
  pw::queue::ManualClock clock;
  std::mutex lines_mutex;
  std::vector<std::string> lines;
  pw::observability::Logger logger{"api", pw::observability::LogLevel::debug, pw::config::LogFormat::json,
                                   [this](std::string_view line) {
                                     std::lock_guard lock(lines_mutex);
                                     lines.emplace_back(line);
                                   }};
  std::atomic<int> calls{0};

  // Short real-time looks; the periods are clock time, moved by hand.
  static AdminCounts::Periods periods() {
    AdminCounts::Periods p;
    p.idle = 60s;
    p.busy = 5s;
    p.in_use = 60s;
    p.tick = 1ms;
    return p;
  }

  // Each count answers how many counts came before it.
  AdminCounts::Count counting() {
    return [this]() -> std::optional<JobCounts> {
      const int n = ++calls;
      return JobCounts{{"noop", {{"succeeded", n}}}};
    };
  }

  bool logged(const std::string& text) {
    std::lock_guard lock(lines_mutex);
    for (const auto& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

// Waits (bounded) for a condition the background thread brings about.
template <class Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Lets the thread look at the clock twice more: any refresh that is due
// by the clock as it is now has then been made and stored.
void let_it_look(const AdminCounts& counts) {
  const auto seen = counts.looks();
  REQUIRE(eventually([&] { return counts.looks() >= seen + 2; }));
}

std::int64_t succeeded(const AdminCounts& counts) { return counts.latest()->counts.at("noop").at("succeeded"); }

}  // namespace

TEST_CASE("AdminCounts: counts once at start, then every minute while idle and every 5 s while in use") {
  CountsFixture f;
  const auto start = f.clock.now_ms();
  AdminCounts counts(f.counting(), f.clock, f.logger, CountsFixture::periods());
  REQUIRE(eventually([&] { return counts.refreshes() == 1; }));
  CHECK(counts.latest()->taken_at_ms == start);
  CHECK(succeeded(counts) == 1);

  // Idle: 5 s is not enough, a minute is.
  f.clock.advance_ms(5'000);
  let_it_look(counts);
  CHECK(counts.refreshes() == 1);
  f.clock.advance_ms(55'000);
  REQUIRE(eventually([&] { return counts.refreshes() == 2; }));
  CHECK(counts.latest()->taken_at_ms == start + 60'000);

  // In use: every 5 s.
  counts.note_use();
  f.clock.advance_ms(4'999);
  let_it_look(counts);
  CHECK(counts.refreshes() == 2);
  f.clock.advance_ms(1);
  REQUIRE(eventually([&] { return counts.refreshes() == 3; }));
  f.clock.advance_ms(5'000);
  REQUIRE(eventually([&] { return counts.refreshes() == 4; }));
  CHECK(succeeded(counts) == 4);

  // A minute after the last overview the console is idle again: back to
  // one count a minute.
  f.clock.advance_ms(55'000);
  let_it_look(counts);
  CHECK(counts.refreshes() == 4);
  f.clock.advance_ms(5'000);
  REQUIRE(eventually([&] { return counts.refreshes() == 5; }));
  CHECK(f.calls == 5);
}

TEST_CASE("AdminCounts: the first snapshot is counted on the caller's session when none exists, once") {
  CountsFixture f;
  // The console is off: the background count has nothing to count.
  std::atomic<int> background{0};
  AdminCounts counts([&]() -> std::optional<JobCounts> {
    ++background;
    return std::nullopt;
  }, f.clock, f.logger, CountsFixture::periods());
  REQUIRE(eventually([&] { return background >= 1; }));
  let_it_look(counts);
  CHECK_FALSE(counts.latest());
  CHECK(counts.refreshes() == 0);

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> counted{0};
  std::atomic<bool> entered{false};
  auto slow_count = [&] {
    ++counted;
    entered = true;
    released.wait();
    return JobCounts{{"noop", {{"dead", 7}}}};
  };
  std::shared_ptr<const pw::api::CountsSnapshot> first, second;
  std::thread a([&] { first = counts.snapshot(slow_count); });
  REQUIRE(eventually([&] { return entered.load(); }));
  std::thread b([&] { second = counts.snapshot(slow_count); });
  // Give b the time to reach the count in flight (if it came later, it
  // would find the snapshot stored: the check below holds either way only
  // when counts never overlap).
  std::this_thread::sleep_for(50ms);
  release.set_value();
  a.join();
  b.join();
  CHECK(counted == 1);
  REQUIRE(first);
  CHECK(first == second);
  CHECK(first->counts.at("noop").at("dead") == 7);
  CHECK(first->taken_at_ms == f.clock.now_ms());
  // Later callers get the stored one without counting.
  CHECK(counts.snapshot(slow_count) == first);
  CHECK(counted == 1);
}

TEST_CASE("AdminCounts: a count that fails keeps the last snapshot, is logged, and the thread goes on") {
  CountsFixture f;
  std::atomic<bool> failing{false};
  std::atomic<int> calls{0};
  AdminCounts counts([&]() -> std::optional<JobCounts> {
    ++calls;
    if (failing) throw std::runtime_error("database is locked");
    return JobCounts{{"noop", {{"succeeded", calls.load()}}}};
  }, f.clock, f.logger, CountsFixture::periods());
  REQUIRE(eventually([&] { return counts.refreshes() == 1; }));
  const auto before = counts.latest();

  failing = true;
  f.clock.advance_ms(60'000);
  REQUIRE(eventually([&] { return calls == 2; }));
  let_it_look(counts);
  CHECK(counts.latest() == before);
  CHECK(f.logged("admin_counts_unavailable"));
  CHECK(f.logged("database is locked"));
  // No retry before the next period: a database that is away is not hammered.
  f.clock.advance_ms(59'000);
  let_it_look(counts);
  CHECK(calls == 2);

  failing = false;
  f.clock.advance_ms(1'000);
  REQUIRE(eventually([&] { return counts.refreshes() == 2; }));
  CHECK(succeeded(counts) == 3);
}

TEST_CASE("AdminCounts: destruction stops the thread at once, without waiting for its next look") {
  CountsFixture f;
  auto periods = CountsFixture::periods();
  // A look an hour away: only the wake-up on destruction ends the wait.
  periods.tick = 1h;
  {
    AdminCounts counts(f.counting(), f.clock, f.logger, periods);
    REQUIRE(eventually([&] { return counts.refreshes() == 1; }));
    f.clock.advance_ms(3'600'000);
  }
  CHECK(f.calls == 1);
}
