// The simulation rules: personas meet, talk, trade, ally, quarrel, betray and
// reconcile, driven by their traits and by a relationship between every pair.
//
// A run is a pure function of its input: the same SimulationInput gives the
// same events, byte for byte, on every build. It uses only integer arithmetic
// and the portable generator in random.hpp, and touches no clock or I/O.
//
// Each tick, personas are visited from a random starting point; each free one
// seeks company with a chance that grows with sociability, and picks a free
// partner (strangers weighted by curiosity, acquaintances by affinity; an
// aggressive persona is also drawn to those it dislikes). A first contact is a
// meeting; after that the pair's affinity and the seeker's traits decide the
// kind of interaction, and the interaction moves the affinity. A persona takes
// part in at most one interaction per tick, and a tick holds at most
// max_interactions_per_tick of them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/persona.hpp"

namespace pw::domain {

inline constexpr int min_ticks = 1;
inline constexpr int max_ticks = 10000;
inline constexpr std::size_t max_simulation_personas = 1000;
// Bounds the events of one run to max_ticks * max_interactions_per_tick,
// whatever the population, so storage and delivery stay bounded too.
inline constexpr int max_interactions_per_tick = 16;

// Affinity between two personas: 0 for strangers, kept within these bounds.
inline constexpr int affinity_min = -100;
inline constexpr int affinity_max = 100;
// A pair that is not allied may form an alliance once affinity reaches this.
inline constexpr int ally_threshold = 60;
// A pair at or below this affinity counts as enemies and may reconcile.
inline constexpr int enemy_threshold = -40;

// Every event kind, in the fixed order used by SimulationResult::counts:
// meet, talk, trade, ally, quarrel, betray, reconcile.
std::span<const std::string_view> event_kinds();

struct SimulationInput {
  std::uint64_t seed = 0;          // e.g. derive_seed(world_seed, simulation_number)
  std::vector<Persona> personas;   // any order: the run orders them by id
  int ticks = 0;                   // min_ticks..max_ticks
};

struct Event {
  int tick = 0;                      // 1..ticks
  std::string kind;                  // one of event_kinds()
  std::vector<std::int64_t> actors;  // persona ids: the initiator first, then the partner
  // Short and built from names, e.g. "Mira Ashford trades salt with Osk Dunmere".
  std::string text;

  friend bool operator==(const Event&, const Event&) = default;
};

struct KindCount {
  std::string kind;
  std::int64_t count = 0;

  friend bool operator==(const KindCount&, const KindCount&) = default;
};

// Where a pair stands at the end of the run; a < b.
struct Relationship {
  std::int64_t a = 0;
  std::int64_t b = 0;
  int affinity = 0;       // affinity_min..affinity_max
  bool allied = false;
  int interactions = 0;   // events the pair took part in, the meeting included

  friend bool operator==(const Relationship&, const Relationship&) = default;
};

struct SimulationResult {
  // In the order they happened: ticks nondecreasing.
  std::vector<Event> events;
  // One entry per event_kinds() entry, in that order, zeros included.
  std::vector<KindCount> counts;
  // Every pair that met, ordered by (a, b); strangers are left out.
  std::vector<Relationship> relationships;
};

// Why the input cannot be simulated, or nothing when it can: ticks within
// min_ticks..max_ticks, at most max_simulation_personas personas, distinct
// ids, traits within trait_min..trait_max.
std::optional<std::string> validate_simulation_input(const SimulationInput& input);

// Runs the simulation. Fewer than two personas is not an error: nobody can
// interact, so the result has no events, zero counts and no relationships.
// Throws std::invalid_argument with validate_simulation_input's message when
// the input is invalid.
SimulationResult simulate(const SimulationInput& input);

}  // namespace pw::domain
