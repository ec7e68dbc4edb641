// Firing due schedules: exactly one job per schedule tick, however many
// workers on however many hosts poll at once. The database decides, not a
// leader's memory: each tick is fired in one write transaction that moves
// the schedule's next_tick_at on with a compare-and-set
// (ScheduleStore::advance: `WHERE id = ? AND next_tick_at = <the tick>`) and
// enqueues the job. Only the transaction whose UPDATE changed the row
// enqueues; a worker that lost the race changes nothing and enqueues
// nothing. The job also carries the idempotency key schedule:<id>:<tick ms>,
// a second guard should two transactions ever both see the old tick.
//
// Missed ticks (the workers were down, or behind): a schedule whose next
// tick lies in the past fires once, for the latest tick at or before now,
// and its next tick becomes the first one after now. Ticks in between are
// not run: a backlog of identical periodic jobs is rarely what anyone wants
// after an outage, and the job's payload names its tick (via the key) so a
// handler can tell.
//
// A world schedule's tick starts a simulation exactly as
// POST /v1/worlds/{id}/simulations does (jobs::start_simulation), under the
// same per-user limits. When the owner is at a limit, or the world is gone
// (deleted, not yet purged), the tick is skipped: the schedule still moves
// on, so the tick is not tried again, and the outcome says why.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "domain/limits.hpp"
#include "queue/clock.hpp"
#include "schedule/cron.hpp"
#include "schedule/schedule_store.hpp"
#include "storage/storage.hpp"

namespace pw::schedule {

// The tick to fire for a schedule whose stored next tick is due (at or
// before now), and the tick after it.
struct TickPlan {
  std::int64_t fire_ms = 0;               // the latest tick in [stored, now]
  std::optional<std::int64_t> next_ms;    // the first tick after now; nothing: none left
};
TickPlan plan_tick(const Cron& cron, std::int64_t stored_ms, std::int64_t now_ms);

// A new schedule's first tick: the first strictly after now_ms.
std::optional<std::int64_t> first_tick_after(const Cron& cron, std::int64_t now_ms);

// The idempotency key of the job of schedule `id`'s tick at `tick_ms`.
std::string tick_key(std::int64_t id, std::int64_t tick_ms);

enum class TickStatus { enqueued, skipped, failed };
const char* status_name(TickStatus status);

// What one fired tick came to (a tick another worker fired is not reported).
struct TickOutcome {
  Schedule schedule;                // as read before the tick
  std::int64_t tick_ms = 0;         // the tick fired
  std::optional<std::int64_t> next_ms;
  TickStatus status = TickStatus::enqueued;
  std::optional<std::int64_t> job_id;
  std::string reason;               // skipped or failed: why
};

struct FireSettings {
  domain::Limits limits;  // a world schedule's tick is admitted under these
  int batch = 100;        // due schedules read per round
};

// Fires every schedule due at clock.now_ms() (up to settings.batch), each
// tick in its own write transaction, and reports each tick this call fired.
// A tick that failed (a database error) leaves its schedule as it was: the
// next round tries it again. A schedule whose expression or zone no longer
// reads (tzdata removed under it) is reported failed and stops: its next
// tick becomes nothing. Returns the ticks reported.
int fire_due(storage::Session& session, const queue::Clock& clock, const FireSettings& settings,
             const std::function<void(const TickOutcome&)>& report);

}  // namespace pw::schedule
