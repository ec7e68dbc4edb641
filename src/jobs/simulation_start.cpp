#include "jobs/simulation_start.hpp"

#include "jobs/contract.hpp"

namespace pw::jobs {

SimulationStart start_simulation(storage::Session& session, const domain::Limits& limits, const store::World& world,
                                 std::int64_t user_id, const SimulationRequest& request, std::int64_t now_ms) {
  auto& store = session.store();
  domain::SimulationDemand demand;
  demand.ticks = request.ticks;
  demand.personas = world.persona_count;
  demand.world_simulations = world.simulations;
  const auto holdings = store.world_holdings(world.id);
  demand.world_events = holdings.events;
  demand.world_reserved_events = holdings.reserved_events;
  demand.user_pending_simulations = store.pending_simulation_count(user_id);
  if (auto breach = domain::check_new_simulation(limits, demand)) return SimulationStart{std::nullopt, *breach};

  store::NewSimulation simulation;
  simulation.world_id = world.id;
  simulation.user_id = user_id;
  simulation.ticks = request.ticks;
  simulation.callback_url = request.callback_url;
  simulation.max_events = domain::max_simulation_events(request.ticks, world.persona_count);
  auto created = store.create_simulation(simulation, now_ms);
  auto job = new_job(SimulateWorldArgs{created.id, world.id});
  job.trace_id = request.trace_id;
  job.user_id = user_id;
  job.idempotency_key = request.idempotency_key;
  auto enqueued = session.jobs().enqueue_in_transaction(job);
  store.set_simulation_job(created.id, enqueued.id);
  created.job_id = enqueued.id;
  return SimulationStart{std::move(created), std::nullopt};
}

}  // namespace pw::jobs
