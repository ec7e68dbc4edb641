// The per-user limits (domain/limits.hpp) as the API applies them: each
// check reads what the caller already holds and refuses with the limit's
// status and stable error code. Called inside the request's write
// transaction, before the request records anything, so the check and the
// record are one atomic step.
//
// Accepted work that is not done yet counts while its job can still run
// (queued or running); a job that went dead, was canceled or was pruned
// gives its share back by itself. The store keeps the simulations' sums on
// the world's and the user's rows (one row read, however long the queue),
// and adds pending generations up in SQL, joined to their jobs.
#pragma once

#include <cstdint>

#include "domain/limits.hpp"
#include "schedule/schedule_store.hpp"
#include "store/store.hpp"

namespace pw::api {

// Refusal for a breached limit:
//   worlds_per_user               409 too_many_worlds
//   simulations_per_world         409 too_many_simulations
//   events_per_world              409 too_many_events
//   personas_per_world            409 world_full
//   schedules_per_user            409 too_many_schedules
//   simulation_work               422 simulation_too_large
//   pending_simulations_per_user  429 too_many_pending_simulations (with Retry-After)
[[noreturn]] void refuse_limit(const domain::LimitBreach& breach);

// Each throws the Refusal above when the request would break a limit.
void admit_world(const domain::Limits& limits, store::Store& store, std::int64_t user_id);
void admit_schedule(const domain::Limits& limits, schedule::ScheduleStore& schedules, std::int64_t user_id);
void admit_personas(store::Store& store, std::int64_t world_id, std::int64_t adding);
// A simulation's limits are checked by jobs::start_simulation (the API and
// world schedules share it); the API refuses its breach with refuse_limit.

}  // namespace pw::api
