#include <doctest/doctest.h>

#include "domain/limits.hpp"
#include "domain/persona.hpp"
#include "domain/random.hpp"
#include "domain/simulation.hpp"

using namespace pw::domain;

TEST_CASE("limits: a simulation never writes more events than its bound, and the bound is reached") {
  CHECK(max_simulation_events(10, 0) == 0);
  CHECK(max_simulation_events(10, 1) == 0);
  CHECK(max_simulation_events(10, 2) == 10);
  CHECK(max_simulation_events(10, 7) == 30);
  CHECK(max_simulation_events(10000, 1000) == 160000);
  CHECK(max_simulation_events(10000, 33) == 160000);
  std::int64_t populous_events = 0;
  for (int count : {1, 2, 3, 10, 33, 120}) {
    CAPTURE(count);
    auto generated = generate_personas(9, 1, count);
    SimulationInput input;
    input.seed = derive_seed(9, 1);
    input.ticks = 300;
    for (std::size_t i = 0; i < generated.size(); ++i) {
      input.personas.push_back(Persona{static_cast<std::int64_t>(i + 1), generated[i].name, generated[i].traits});
    }
    const auto events = static_cast<std::int64_t>(simulate(input).events.size());
    CHECK(events <= max_simulation_events(input.ticks, count));
    if (count == 120) populous_events = events;
  }
  // A populous world comes close to the bound: it is tight, not a guess.
  CHECK(populous_events * 10 >= max_simulation_events(300, 120) * 9);
}

TEST_CASE("limits: worlds and personas are refused at the limit, not before") {
  Limits limits;
  limits.worlds_per_user = 3;
  CHECK_FALSE(check_new_world(limits, 2));
  auto worlds = check_new_world(limits, 3);
  REQUIRE(worlds);
  CHECK(worlds->limit == Limit::worlds_per_user);
  CHECK(worlds->message.find("at most 3 worlds") != std::string::npos);

  CHECK_FALSE(check_new_personas(900, 0, 100));
  CHECK_FALSE(check_new_personas(0, 900, 100));
  auto full = check_new_personas(500, 400, 101);
  REQUIRE(full);
  CHECK(full->limit == Limit::personas_per_world);
  CHECK(full->message.find("at most 1,000 personas; this one has 500 and 400 more being generated") !=
        std::string::npos);
}

TEST_CASE("limits: a simulation is checked for work, then simulations and events of its world, then pending") {
  Limits limits;
  limits.simulation_work = 1000;
  limits.simulations_per_world = 5;
  limits.events_per_world = 500;
  limits.pending_simulations_per_user = 2;
  SimulationDemand demand;
  demand.ticks = 100;
  demand.personas = 10;  // up to 5 events a tick
  CHECK_FALSE(check_new_simulation(limits, demand));

  auto breach = [&](SimulationDemand d) {
    auto found = check_new_simulation(limits, d);
    REQUIRE(found);
    return found->limit;
  };
  auto over = demand;
  over.ticks = 101;
  CHECK(breach(over) == Limit::simulation_work);
  over = demand;
  over.user_pending_simulations = 2;
  CHECK(breach(over) == Limit::pending_simulations_per_user);
  over.world_simulations = 5;
  CHECK(breach(over) == Limit::simulations_per_world);  // before pending: waiting would not help
  over = demand;
  over.world_events = 1;
  CHECK(breach(over) == Limit::events_per_world);
  over = demand;
  over.world_reserved_events = 1;
  over.user_pending_simulations = 5;
  CHECK(breach(over) == Limit::events_per_world);
  over.ticks = 101;
  CHECK(breach(over) == Limit::simulation_work);

  // The defaults admit the largest run the engine takes, once.
  Limits defaults;
  SimulationDemand largest{max_ticks, static_cast<std::int64_t>(max_simulation_personas), 0, 0, 0, 0};
  CHECK_FALSE(check_new_simulation(defaults, largest));
  largest.ticks += 1;
  CHECK(check_new_simulation(defaults, largest));
}
