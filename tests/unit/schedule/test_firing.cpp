// Which tick a due schedule fires (plan_tick: the latest missed one, once)
// and firing through the database on both drivers (fire_due): one job per
// tick, however many sessions race for it; a world schedule's tick is a
// simulation under the per-user limits, skipped when it would break one.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "db/error.hpp"
#include "jobs/simulation_start.hpp"
#include "queue/clock.hpp"
#include "schedule/cron.hpp"
#include "schedule/firing.hpp"
#include "storage/drivers.hpp"
#include "support/postgres_server.hpp"
#include "support/test_database.hpp"

using namespace pw;
using namespace std::chrono;
using schedule::Cron;
using schedule::Schedule;
using schedule::ScheduleKind;
using schedule::TickOutcome;
using schedule::TickStatus;

namespace {

std::int64_t ms_at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return duration_cast<milliseconds>((sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s))
                                         .time_since_epoch())
      .count();
}

Cron cron(std::string_view text, std::string_view zone = "UTC") {
  auto result = Cron::parse(text, zone);
  CAPTURE(result.error);
  REQUIRE(result.cron);
  return *result.cron;
}

// A migrated database of one driver, with a storage of four sessions on it.
template <bool Postgres>
struct Fixture {
  test::TempDir dir;
  config::DatabaseConfig config = [this] {
    config::DatabaseConfig c;
    if (Postgres) {
      c.url = test::PostgresServer::shared().create_database();
    } else {
      c.path = dir.file("pw.db");
      c.busy_timeout_ms = 5000;
    }
    return c;
  }();
  queue::ManualClock clock{ms_at(2026, 3, 2, 12, 0, 30)};
  std::unique_ptr<storage::Storage> storage;
  schedule::FireSettings settings;

  Fixture() {
    if (Postgres) {
      db::postgres::Connection connection({config.url});
      migrations::PostgresMigrator(connection, migrations::embedded(migrations::Dialect::postgres)).apply_pending();
    } else {
      db::Connection connection(config);
      migrations::Migrator(connection, migrations::embedded()).apply_pending();
    }
    storage = storage::open_storage(config, 4, {clock, {}, {}});
  }

  test::DatabaseProbe probe() { return test::DatabaseProbe(config); }

  Schedule add_operator(const std::string& name, std::int64_t next_tick_ms, const std::string& text = "* * * * *",
                        const std::string& zone = "UTC") {
    Schedule wanted;
    wanted.kind = ScheduleKind::operator_job;
    wanted.name = name;
    wanted.job_type = "noop";
    wanted.payload = R"({"from":")" + name + R"("})";
    wanted.cron = text;
    wanted.time_zone = zone;
    wanted.next_tick_at_ms = next_tick_ms;
    wanted.created_at_ms = clock.now_ms();
    return storage->with_session(
        [&](storage::Session& session) { return session.write([&] { return session.schedules().create(wanted); }); });
  }

  std::vector<TickOutcome> fire() {
    std::vector<TickOutcome> outcomes;
    storage->with_session([&](storage::Session& session) {
      return schedule::fire_due(session, clock, settings, [&](const TickOutcome& o) { outcomes.push_back(o); });
    });
    return outcomes;
  }

  std::optional<std::int64_t> next_tick(std::int64_t id) {
    auto rows = probe().rows("SELECT next_tick_at FROM schedules WHERE id = ?", 1, {std::to_string(id)});
    REQUIRE(rows.size() == 1);
    if (rows[0][0].empty()) return std::nullopt;
    return std::stoll(rows[0][0]);
  }
};

using SqliteFixture = Fixture<false>;
using PostgresFixture = Fixture<true>;

}  // namespace

TYPE_TO_STRING_AS("SQLite", SqliteFixture);
TYPE_TO_STRING_AS("PostgreSQL", PostgresFixture);

// ---- which tick fires ----

TEST_CASE("Schedule plan: a tick due now fires itself, and the next tick is the first after now") {
  auto plan = schedule::plan_tick(cron("*/5 * * * *"), ms_at(2026, 3, 2, 12, 5), ms_at(2026, 3, 2, 12, 5, 30));
  CHECK(plan.fire_ms == ms_at(2026, 3, 2, 12, 5));
  CHECK(plan.next_ms == ms_at(2026, 3, 2, 12, 10));
}

TEST_CASE("Schedule plan: after downtime the missed ticks fire once, as the latest of them, and the next is after now") {
  // Three hours down: 36 ticks of */5 were missed; one fires.
  auto plan = schedule::plan_tick(cron("*/5 * * * *"), ms_at(2026, 3, 2, 12, 5), ms_at(2026, 3, 2, 15, 7, 10));
  CHECK(plan.fire_ms == ms_at(2026, 3, 2, 15, 5));
  CHECK(plan.next_ms == ms_at(2026, 3, 2, 15, 10));
  // Now exactly on a tick: that tick is the one that fires.
  plan = schedule::plan_tick(cron("*/5 * * * *"), ms_at(2026, 3, 2, 12, 5), ms_at(2026, 3, 2, 15, 10));
  CHECK(plan.fire_ms == ms_at(2026, 3, 2, 15, 10));
  CHECK(plan.next_ms == ms_at(2026, 3, 2, 15, 15));
}

TEST_CASE("Schedule plan: a year of downtime of an every-minute schedule fires the last minute, not half a million") {
  auto plan = schedule::plan_tick(cron("* * * * *"), ms_at(2025, 3, 1), ms_at(2026, 3, 2, 12, 0, 30));
  CHECK(plan.fire_ms == ms_at(2026, 3, 2, 12, 0));
  CHECK(plan.next_ms == ms_at(2026, 3, 2, 12, 1));
  // A monthly schedule two years late: the latest first of the month.
  plan = schedule::plan_tick(cron("0 0 1 * *"), ms_at(2024, 3, 1), ms_at(2026, 3, 2, 12));
  CHECK(plan.fire_ms == ms_at(2026, 3, 1));
  CHECK(plan.next_ms == ms_at(2026, 4, 1));
  // Only hour 5 of each day, every minute of it, a week late at noon: 05:59 today.
  plan = schedule::plan_tick(cron("* 5 * * *"), ms_at(2026, 2, 23, 5), ms_at(2026, 3, 2, 12));
  CHECK(plan.fire_ms == ms_at(2026, 3, 2, 5, 59));
  CHECK(plan.next_ms == ms_at(2026, 3, 3, 5, 0));
}

TEST_CASE("Schedule plan: a new schedule's first tick is strictly after now, read in its time zone") {
  // 09:00 in Paris is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
  auto paris = cron("0 9 * * *", "Europe/Paris");
  CHECK(schedule::first_tick_after(paris, ms_at(2026, 1, 15, 8, 0)) == ms_at(2026, 1, 16, 8, 0));
  CHECK(schedule::first_tick_after(paris, ms_at(2026, 7, 15, 6, 59)) == ms_at(2026, 7, 15, 7, 0));
  CHECK(schedule::first_tick_after(cron("0 0 30 2 *"), ms_at(2026, 1, 1)) == std::nullopt);
  CHECK(schedule::tick_key(7, 1'700'000'040'000) == "schedule:7:1700000040000");
}

// ---- firing through the database ----

TEST_CASE_TEMPLATE("Schedules: a due operator tick enqueues one job keyed schedule:<id>:<tick> and moves the schedule on",
                   F, SqliteFixture, PostgresFixture) {
  F f;
  const auto tick = ms_at(2026, 3, 2, 12, 0);
  auto added = f.add_operator("nightly", tick);
  f.add_operator("later", ms_at(2026, 3, 2, 12, 1));  // not due yet
  auto outcomes = f.fire();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == TickStatus::enqueued);
  CHECK(outcomes[0].tick_ms == tick);
  REQUIRE(outcomes[0].job_id);
  CHECK(f.next_tick(added.id) == ms_at(2026, 3, 2, 12, 1));
  auto jobs = f.probe().rows("SELECT type, payload, idempotency_key FROM jobs", 3);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0][0] == "noop");
  CHECK(jobs[0][1].find("nightly") != std::string::npos);
  CHECK(jobs[0][2] == schedule::tick_key(added.id, tick));
  // Nothing is due until the next minute; then both schedules fire once.
  CHECK(f.fire().empty());
  f.clock.set_ms(ms_at(2026, 3, 2, 12, 1, 2));
  CHECK(f.fire().size() == 2);
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM jobs") == 3);
}

TEST_CASE_TEMPLATE("Schedules: a schedule due since before a downtime fires once for its latest missed tick", F,
                   SqliteFixture, PostgresFixture) {
  F f;
  auto added = f.add_operator("every-minute", ms_at(2026, 3, 2, 9, 0));
  auto outcomes = f.fire();  // three hours late
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].tick_ms == ms_at(2026, 3, 2, 12, 0));
  CHECK(f.next_tick(added.id) == ms_at(2026, 3, 2, 12, 1));
  CHECK(f.fire().empty());
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM jobs") == 1);
}

TEST_CASE_TEMPLATE("Schedules: a session whose compare-and-set finds the tick moved on enqueues nothing", F,
                   SqliteFixture, PostgresFixture) {
  F f;
  const auto tick = ms_at(2026, 3, 2, 12, 0);
  auto added = f.add_operator("raced", tick);
  auto first = f.storage->acquire();
  auto second = f.storage->acquire();
  CHECK(first->write([&] { return first->schedules().advance(added.id, tick, tick + 60'000); }));
  // The second read the same tick before the first committed: it loses.
  CHECK_FALSE(second->write([&] { return second->schedules().advance(added.id, tick, tick + 60'000); }));
  CHECK(f.next_tick(added.id) == tick + 60'000);
}

TEST_CASE_TEMPLATE("Schedules: four sessions firing the same 40 due ticks at once enqueue exactly one job per tick", F,
                   SqliteFixture, PostgresFixture) {
  F f;
  const auto tick = ms_at(2026, 3, 2, 12, 0);
  for (int i = 0; i < 40; ++i) f.add_operator("s" + std::to_string(i), tick);
  std::atomic<int> reported{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      f.storage->with_session([&](storage::Session& session) {
        return schedule::fire_due(session, f.clock, f.settings, [&](const TickOutcome& outcome) {
          ++reported;
          if (outcome.status != TickStatus::enqueued) ++failures;
        });
      });
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(reported == 40);
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM jobs") == 40);
  CHECK(f.probe().scalar("SELECT COUNT(DISTINCT idempotency_key) FROM jobs") == 40);
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM schedules WHERE next_tick_at = ?", {std::to_string(tick + 60'000)}) ==
        40);
}

TEST_CASE_TEMPLATE("Schedules: a world tick starts a simulation as the API does, or is skipped at a limit or a gone world",
                   F, SqliteFixture, PostgresFixture) {
  F f;
  f.settings.limits.pending_simulations_per_user = 1;
  auto lease = f.storage->acquire();
  auto& session = *lease;
  auto user = session.store().create_user("alice", "hash", 1);
  auto world = session.store().create_world(user.id, {"Eden", "", 42}, 1);
  const auto tick = ms_at(2026, 3, 2, 12, 0);
  Schedule wanted;
  wanted.kind = ScheduleKind::world;
  wanted.user_id = user.id;
  wanted.world_id = world.id;
  wanted.ticks = 20;
  wanted.cron = "*/5 * * * *";
  wanted.next_tick_at_ms = tick;
  wanted.created_at_ms = 1;
  auto added = session.write([&] { return session.schedules().create(wanted); });

  auto outcomes = f.fire();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == TickStatus::enqueued);
  auto rows = f.probe().rows("SELECT s.ticks, s.user_id, j.type, j.user_id, j.idempotency_key FROM simulations s "
                             "JOIN jobs j ON j.id = s.job_id",
                             5);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0] == "20");
  CHECK(rows[0][1] == std::to_string(user.id));
  CHECK(rows[0][2] == "world.simulate");
  CHECK(rows[0][3] == std::to_string(user.id));
  CHECK(rows[0][4] == schedule::tick_key(added.id, tick));

  // The first simulation is still pending: at the limit of one, the next tick is skipped, not retried.
  f.clock.set_ms(ms_at(2026, 3, 2, 12, 5, 1));
  outcomes = f.fire();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == TickStatus::skipped);
  CHECK(outcomes[0].reason.find("pending") != std::string::npos);
  CHECK(f.next_tick(added.id) == ms_at(2026, 3, 2, 12, 10));
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM simulations") == 1);
  CHECK(f.fire().empty());

  // A deleted world: skipped, and the schedule moves on.
  CHECK(session.write([&] { return session.store().mark_world_deleted(user.id, world.id, 2); }));
  f.clock.set_ms(ms_at(2026, 3, 2, 12, 10, 1));
  outcomes = f.fire();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == TickStatus::skipped);
  CHECK(outcomes[0].reason == "world_gone");
  CHECK(f.next_tick(added.id) == ms_at(2026, 3, 2, 12, 15));
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM jobs") == 1);
}

TEST_CASE_TEMPLATE("Schedules: a schedule whose zone no longer reads is reported failed once and stops", F,
                   SqliteFixture, PostgresFixture) {
  F f;
  auto added = f.add_operator("zoneless", ms_at(2026, 3, 2, 12, 0), "* * * * *", "Nowhere/Atlantis");
  auto outcomes = f.fire();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == TickStatus::failed);
  CHECK(outcomes[0].reason.find("time zone") != std::string::npos);
  CHECK(f.next_tick(added.id) == std::nullopt);
  CHECK(f.fire().empty());
  CHECK(f.probe().scalar("SELECT COUNT(*) FROM jobs") == 0);
}

TEST_CASE_TEMPLATE("Schedule store: operator names are unique, world schedules are listed, counted and removed per world",
                   F, SqliteFixture, PostgresFixture) {
  F f;
  f.add_operator("one", ms_at(2026, 3, 3));
  CHECK_THROWS_AS(f.add_operator("one", ms_at(2026, 3, 3)), db::Error);
  auto lease = f.storage->acquire();
  auto& session = *lease;
  auto& schedules = session.schedules();
  CHECK(schedules.find_operator("one"));
  CHECK_FALSE(schedules.find_operator("two"));
  auto user = session.store().create_user("bob", "hash", 1);
  auto mine = session.store().create_world(user.id, {"A", "", 1}, 1);
  auto other = session.store().create_world(user.id, {"B", "", 2}, 1);
  Schedule wanted;
  wanted.kind = ScheduleKind::world;
  wanted.user_id = user.id;
  wanted.world_id = mine.id;
  wanted.ticks = 5;
  wanted.cron = "@hourly";
  wanted.time_zone = "Europe/Paris";
  wanted.next_tick_at_ms = ms_at(2026, 3, 3);
  wanted.created_at_ms = 1;
  auto a = session.write([&] { return schedules.create(wanted); });
  auto b = session.write([&] { return schedules.create(wanted); });
  CHECK(session.write([&] { return schedules.count_for_user(user.id); }) == 2);
  auto listed = schedules.list_world(mine.id);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].id == a.id);
  CHECK(listed[0].time_zone == "Europe/Paris");
  CHECK(listed[0].ticks == 5);
  CHECK(listed[0].kind == ScheduleKind::world);
  CHECK(schedules.list_world(other.id).empty());
  CHECK_FALSE(session.write([&] { return schedules.remove_world(other.id, a.id); }));
  CHECK(session.write([&] { return schedules.remove_world(mine.id, a.id); }));
  CHECK(schedules.list_world(mine.id).size() == 1);
  CHECK(schedules.list_world(mine.id)[0].id == b.id);
  CHECK(schedules.list_operator().size() == 1);
  CHECK(session.write([&] { return schedules.remove_operator("one"); }));
  CHECK(schedules.list_operator().empty());
}
