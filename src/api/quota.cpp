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
    case Limit::schedules_per_user:
      throw Refusal(409, "too_many_schedules", breach.message);
    case Limit::pending_simulations_per_user:
      throw Refusal(429, "too_many_pending_simulations", breach.message);
  }
  throw Refusal(409, "limit_reached", breach.message);
}

void admit_world(const domain::Limits& limits, store::Store& store, std::int64_t user_id) {
  if (auto breach = domain::check_new_world(limits, store.count_worlds(user_id))) refuse_limit(*breach);
}

void admit_schedule(const domain::Limits& limits, schedule::ScheduleStore& schedules, std::int64_t user_id) {
  if (auto breach = domain::check_new_schedule(limits, schedules.count_for_user(user_id))) refuse_limit(*breach);
}

void admit_personas(store::Store& store, std::int64_t world_id, std::int64_t adding) {
  const auto reserved = store.pending_generation_total(world_id);
  if (auto breach = domain::check_new_personas(store.count_personas(world_id), reserved.amount, adding)) {
    refuse_limit(*breach);
  }
}

}  // namespace pw::api
