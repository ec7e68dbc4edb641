#include "domain/limits.hpp"

#include <algorithm>

namespace pw::domain {
namespace {

std::string count_text(std::int64_t value) {
  // 1000000 -> "1,000,000": limits are read by people. Counts are never negative.
  std::string digits = std::to_string(value);
  std::string out;
  const auto size = static_cast<std::int64_t>(digits.size());
  for (std::int64_t i = 0; i < size; ++i) {
    if (i > 0 && (size - i) % 3 == 0) out += ',';
    out += digits[static_cast<std::size_t>(i)];
  }
  return out;
}

}  // namespace

std::int64_t max_simulation_events(std::int64_t ticks, std::int64_t personas) {
  if (ticks <= 0 || personas < 2) return 0;
  const std::int64_t per_tick = std::min<std::int64_t>(max_interactions_per_tick, personas / 2);
  return ticks * per_tick;
}

std::optional<LimitBreach> check_new_world(const Limits& limits, std::int64_t worlds) {
  if (worlds < limits.worlds_per_user) return std::nullopt;
  return LimitBreach{Limit::worlds_per_user, "a user holds at most " + count_text(limits.worlds_per_user) +
                                                 " worlds; delete one to make room"};
}

std::optional<LimitBreach> check_new_schedule(const Limits& limits, std::int64_t schedules) {
  if (schedules < limits.schedules_per_user) return std::nullopt;
  return LimitBreach{Limit::schedules_per_user, "a user holds at most " + count_text(limits.schedules_per_user) +
                                                    " schedules; delete one to make room"};
}

std::optional<LimitBreach> check_new_personas(std::int64_t existing, std::int64_t reserved, std::int64_t adding) {
  if (existing + reserved + adding <= max_world_personas) return std::nullopt;
  std::string message = "a world holds at most " + count_text(max_world_personas) + " personas; this one has " +
                        count_text(existing);
  if (reserved > 0) message += " and " + count_text(reserved) + " more being generated";
  return LimitBreach{Limit::personas_per_world, message};
}

std::optional<LimitBreach> check_new_simulation(const Limits& limits, const SimulationDemand& demand) {
  const std::int64_t work = demand.ticks * demand.personas;
  if (work > limits.simulation_work) {
    return LimitBreach{Limit::simulation_work,
                       "a simulation may do at most " + count_text(limits.simulation_work) +
                           " persona-ticks (ticks x personas); " + count_text(demand.ticks) + " ticks x " +
                           count_text(demand.personas) + " personas is " + count_text(work)};
  }
  if (demand.world_simulations >= limits.simulations_per_world) {
    return LimitBreach{Limit::simulations_per_world,
                       "a world runs at most " + count_text(limits.simulations_per_world) + " simulations"};
  }
  const std::int64_t events = max_simulation_events(demand.ticks, demand.personas);
  if (demand.world_events + demand.world_reserved_events + events > limits.events_per_world) {
    return LimitBreach{Limit::events_per_world,
                       "a world holds at most " + count_text(limits.events_per_world) + " events; it has " +
                           count_text(demand.world_events) + (demand.world_reserved_events > 0
                                                                  ? " and " + count_text(demand.world_reserved_events) +
                                                                        " more on their way"
                                                                  : std::string()) +
                           ", and this simulation may write up to " + count_text(events)};
  }
  // Last: the one refusal that waiting cures.
  if (demand.user_pending_simulations >= limits.pending_simulations_per_user) {
    return LimitBreach{Limit::pending_simulations_per_user,
                       "a user may have at most " + count_text(limits.pending_simulations_per_user) +
                           " simulations pending at once; wait for one to complete"};
  }
  return std::nullopt;
}

}  // namespace pw::domain
