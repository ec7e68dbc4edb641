#include "api/quota.hpp"

#include <vector>

#include "api/input.hpp"

namespace pw::api {
namespace {

bool job_can_run(queue::JobTable& queue, const std::optional<std::int64_t>& job_id) {
  if (!job_id) return false;
  const auto job = queue.find(*job_id);
  return job && (job->state == queue::JobState::queued || job->state == queue::JobState::running);
}

struct Pending {
  std::int64_t count = 0;   // pieces of work whose job can still run
  std::int64_t amount = 0;  // what they will still create
};

Pending still_pending(queue::JobTable& queue, const std::vector<store::PendingWork>& work) {
  Pending pending;
  for (const auto& piece : work) {
    if (!job_can_run(queue, piece.job_id)) continue;
    ++pending.count;
    pending.amount += piece.amount;
  }
  return pending;
}

}  // namespace

void refuse_limit(const domain::LimitBreach& breach) {
  using domain::Limit;
  switch (breach.limit) {
    case Limit::worlds_per_user:
      throw Refusal(409, "too_many_worlds", breach.message);
    case Limit::simulations_per_world:
      throw Refusal(409, "too_many_simulations", breach.message);
    case Limit::events_per_world:
      throw Refusal(409, "too_many_events", breach.message);
    case Limit::personas_per_world:
      throw Refusal(409, "world_full", breach.message);
    case Limit::simulation_work:
      throw Refusal(422, "simulation_too_large", breach.message);
    case Limit::pending_simulations_per_user:
      throw Refusal(429, "too_many_pending_simulations", breach.message);
  }
  throw Refusal(409, "limit_reached", breach.message);
}

void admit_world(const domain::Limits& limits, store::Store& store, std::int64_t user_id) {
  if (auto breach = domain::check_new_world(limits, store.count_worlds(user_id))) refuse_limit(*breach);
}

void admit_personas(store::Store& store, queue::JobTable& queue, std::int64_t world_id, std::int64_t adding) {
  const auto reserved = still_pending(queue, store.pending_generations(world_id));
  if (auto breach = domain::check_new_personas(store.count_personas(world_id), reserved.amount, adding)) {
    refuse_limit(*breach);
  }
}

std::int64_t admit_simulation(const domain::Limits& limits, store::Store& store, queue::JobTable& queue,
                              std::int64_t user_id, const store::World& world, int ticks) {
  domain::SimulationDemand demand;
  demand.ticks = ticks;
  demand.personas = world.persona_count;
  demand.world_simulations = world.simulations;
  demand.world_events = store.world_events(world.id);
  demand.world_reserved_events = still_pending(queue, store.pending_simulations_of_world(world.id)).amount;
  demand.user_pending_simulations = still_pending(queue, store.pending_simulations_of_user(user_id)).count;
  if (auto breach = domain::check_new_simulation(limits, demand)) refuse_limit(*breach);
  return domain::max_simulation_events(ticks, world.persona_count);
}

}  // namespace pw::api
