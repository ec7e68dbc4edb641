// What one account may ask of the service: the per-user limits that keep one
// tenant from taking the database, the queue or the disk from the others.
// Plain rules over counts the caller reads; no I/O.
//
// Every limit is checked when a request is accepted, in the same write
// transaction that records it, so two concurrent requests cannot both take
// the last unit. Work that is accepted but not yet done (a queued simulation,
// a pending generation) counts against the limit it will use, as long as its
// job can still run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/simulation.hpp"

namespace pw::domain {

struct Limits {
  // Worlds one user holds at once (deleted ones do not count).
  std::int64_t worlds_per_user = 100;
  // Simulations one world may ever run (its simulation numbers).
  std::int64_t simulations_per_world = 100;
  // Events one world may hold: those written plus those its pending
  // simulations may still write.
  std::int64_t events_per_world = 1'000'000;
  // Work of one simulation: ticks x personas. The default admits the largest
  // run the engine takes (max_ticks x max_simulation_personas).
  std::int64_t simulation_work = static_cast<std::int64_t>(max_ticks) * max_simulation_personas;
  // Simulations of one user accepted and not yet completed at once.
  std::int64_t pending_simulations_per_user = 10;
  // Schedules (POST /v1/worlds/{id}/schedules) one user holds at once.
  std::int64_t schedules_per_user = 20;
};

// Personas one world holds (what one simulation can take): not a setting.
inline constexpr std::int64_t max_world_personas = static_cast<std::int64_t>(max_simulation_personas);

// Which limit a request would break.
enum class Limit {
  worlds_per_user,
  simulations_per_world,
  events_per_world,
  simulation_work,
  pending_simulations_per_user,
  personas_per_world,
  schedules_per_user,
};

struct LimitBreach {
  Limit limit;
  std::string message;  // for the caller: the limit and what would break it
};

// The most events a simulation of `ticks` ticks over `personas` personas can
// write: at most max_interactions_per_tick interactions a tick, each taking
// two personas who act once a tick.
std::int64_t max_simulation_events(std::int64_t ticks, std::int64_t personas);

// A new world for a user who holds `worlds` worlds.
std::optional<LimitBreach> check_new_world(const Limits& limits, std::int64_t worlds);

// A new schedule for a user who holds `schedules` schedules.
std::optional<LimitBreach> check_new_schedule(const Limits& limits, std::int64_t schedules);

// `adding` personas to a world that holds `existing` and has `reserved` more
// on their way (generations accepted but not yet run).
std::optional<LimitBreach> check_new_personas(std::int64_t existing, std::int64_t reserved, std::int64_t adding);

// What a new simulation asks for, and what its world and user already hold.
struct SimulationDemand {
  std::int64_t ticks = 0;
  std::int64_t personas = 0;               // the world's personas now: the simulation covers them
  std::int64_t world_simulations = 0;      // simulations the world has run or accepted
  std::int64_t world_events = 0;           // events the world holds
  std::int64_t world_reserved_events = 0;  // events its pending simulations may still write
  std::int64_t user_pending_simulations = 0;
};
// Checked in this order, so the caller hears of a limit that waiting cannot
// cure before the one it can: work, simulations per world, events per
// world, pending simulations per user.
std::optional<LimitBreach> check_new_simulation(const Limits& limits, const SimulationDemand& demand);

}  // namespace pw::domain
