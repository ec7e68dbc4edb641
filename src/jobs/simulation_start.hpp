// Starting a simulation of a world: the one code path behind
// POST /v1/worlds/{id}/simulations and a world schedule's tick. Inside the
// caller's write transaction: the per-user limits are checked against what
// the user and the world hold (domain/limits.hpp), then the simulation row
// and its world.simulate job are written together, or nothing is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/limits.hpp"
#include "storage/storage.hpp"
#include "store/records.hpp"

namespace pw::jobs {

struct SimulationRequest {
  int ticks = 0;
  std::optional<std::string> callback_url;
  std::optional<std::string> trace_id;
  // On the job: a repeat with the same key names the job already queued.
  std::optional<std::string> idempotency_key;
};

struct SimulationStart {
  std::optional<store::Simulation> simulation;  // with its job_id; nothing on a breach
  std::optional<domain::LimitBreach> breach;    // the limit it would break: nothing written
};

// `world` is the caller's world, found in this transaction (the API refuses
// another user's world before, a schedule skips a world that is gone).
SimulationStart start_simulation(storage::Session& session, const domain::Limits& limits, const store::World& world,
                                 std::int64_t user_id, const SimulationRequest& request, std::int64_t now_ms);

}  // namespace pw::jobs
