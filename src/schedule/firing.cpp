#include "schedule/firing.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>

#include "jobs/simulation_start.hpp"

namespace pw::schedule {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

sys_seconds to_seconds(std::int64_t ms) { return sys_seconds(seconds(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000))); }
std::int64_t to_ms(sys_seconds when) { return static_cast<std::int64_t>(when.time_since_epoch().count()) * 1000; }

// Ticks are walked one by one from a starting tick to now; never more than
// this many (a tick a minute for a day is 1,440).
constexpr int max_steps = 100'000;

// The latest tick in [start, now], walking on from `start` (itself a tick).
sys_seconds latest_from(const Cron& cron, sys_seconds start, sys_seconds now) {
  sys_seconds latest = start;
  for (int step = 0; step < max_steps; ++step) {
    auto next = cron.next_after(latest);
    if (!next || *next > now) break;
    latest = *next;
  }
  return latest;
}

}  // namespace

const char* kind_name(ScheduleKind kind) { return kind == ScheduleKind::world ? "world" : "operator"; }

const char* status_name(TickStatus status) {
  switch (status) {
    case TickStatus::enqueued:
      return "enqueued";
    case TickStatus::skipped:
      return "skipped";
    case TickStatus::failed:
      return "failed";
  }
  return "failed";
}

std::string tick_key(std::int64_t id, std::int64_t tick_ms) {
  return "schedule:" + std::to_string(id) + ":" + std::to_string(tick_ms);
}

TickPlan plan_tick(const Cron& cron, std::int64_t stored_ms, std::int64_t now_ms) {
  const sys_seconds stored = to_seconds(stored_ms);
  const sys_seconds now = to_seconds(now_ms);
  sys_seconds fire = stored;
  // After a long outage, walking every missed tick from the stored one could
  // take long (a tick a minute for a year): look for the latest tick in a
  // growing window before now instead, and walk only within the first
  // window that holds one.
  using std::chrono::days;
  using std::chrono::hours;
  static const std::array<seconds, 5> windows{hours(1), days(1), days(35), days(400), cron_horizon};
  for (const auto window : windows) {
    const sys_seconds from = std::max(stored, now - window);
    if (from == stored) {
      fire = latest_from(cron, stored, now);
      break;
    }
    auto first = cron.next_after(from - seconds(1));
    if (first && *first <= now) {
      fire = latest_from(cron, *first, now);
      break;
    }
  }
  TickPlan plan;
  plan.fire_ms = to_ms(fire);
  if (auto next = cron.next_after(std::max(now, fire))) plan.next_ms = to_ms(*next);
  return plan;
}

std::optional<std::int64_t> first_tick_after(const Cron& cron, std::int64_t now_ms) {
  auto next = cron.next_after(to_seconds(now_ms));
  if (!next) return std::nullopt;
  return to_ms(*next);
}

int fire_due(storage::Session& session, const queue::Clock& clock, const FireSettings& settings,
             const std::function<void(const TickOutcome&)>& report) {
  const std::int64_t now = clock.now_ms();
  int reported = 0;
  for (const auto& schedule : session.schedules().due(now, settings.batch)) {
    const std::int64_t stored = *schedule.next_tick_at_ms;
    TickOutcome outcome;
    outcome.schedule = schedule;
    outcome.tick_ms = stored;
    bool fired = false;
    try {
      auto parsed = Cron::parse(schedule.cron, schedule.time_zone);
      if (!parsed.cron) {
        outcome.status = TickStatus::failed;
        outcome.reason = "the schedule no longer reads: " + parsed.error;
        fired = session.write([&] { return session.schedules().advance(schedule.id, stored, std::nullopt); });
      } else {
        const auto plan = plan_tick(*parsed.cron, stored, now);
        outcome.tick_ms = plan.fire_ms;
        outcome.next_ms = plan.next_ms;
        fired = session.write([&] {
          if (!session.schedules().advance(schedule.id, stored, plan.next_ms)) return false;
          if (schedule.kind == ScheduleKind::operator_job) {
            queue::NewJob job;
            job.type = schedule.job_type;
            job.payload = schedule.payload;
            job.idempotency_key = tick_key(schedule.id, plan.fire_ms);
            outcome.job_id = session.jobs().enqueue_in_transaction(job).id;
            outcome.status = TickStatus::enqueued;
            return true;
          }
          auto world = session.store().find_world(schedule.user_id, schedule.world_id);
          if (!world) {
            outcome.status = TickStatus::skipped;
            outcome.reason = "world_gone";
            return true;
          }
          jobs::SimulationRequest request;
          request.ticks = schedule.ticks;
          request.trace_id = tick_key(schedule.id, plan.fire_ms);
          request.idempotency_key = request.trace_id;
          auto started = jobs::start_simulation(session, settings.limits, *world, schedule.user_id, request, now);
          if (started.breach) {
            outcome.status = TickStatus::skipped;
            outcome.reason = started.breach->message;
          } else {
            outcome.status = TickStatus::enqueued;
            outcome.job_id = started.simulation->job_id;
          }
          return true;
        });
      }
    } catch (const std::exception& e) {
      // Rolled back: the schedule keeps its tick and the next round retries it.
      outcome.status = TickStatus::failed;
      outcome.reason = e.what();
      outcome.next_ms = stored;
      fired = true;
    }
    if (!fired) continue;
    ++reported;
    if (report) report(outcome);
  }
  return reported;
}

}  // namespace pw::schedule
