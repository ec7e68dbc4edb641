#include "api/quota.hpp"

#include "api/input.hpp"

namespace pw::api {

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

void admit_personas(store::Store& store, std::int64_t world_id, std::int64_t adding) {
  const auto reserved = store.pending_generation_total(world_id);
  if (auto breach = domain::check_new_personas(store.count_personas(world_id), reserved.amount, adding)) {
    refuse_limit(*breach);
  }
}

std::int64_t admit_simulation(const domain::Limits& limits, store::Store& store, std::int64_t user_id,
                              const store::World& world, int ticks) {
  domain::SimulationDemand demand;
  demand.ticks = ticks;
  demand.personas = world.persona_count;
  demand.world_simulations = world.simulations;
  const auto holdings = store.world_holdings(world.id);
  demand.world_events = holdings.events;
  demand.world_reserved_events = holdings.reserved_events;
  demand.user_pending_simulations = store.pending_simulation_count(user_id);
  if (auto breach = domain::check_new_simulation(limits, demand)) refuse_limit(*breach);
  return domain::max_simulation_events(ticks, world.persona_count);
}

}  // namespace pw::api
