#include "domain/simulation.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "domain/random.hpp"

namespace pw::domain {
namespace {

enum class Kind { meet, talk, trade, ally, quarrel, betray, reconcile };

constexpr std::array<std::string_view, 7> kind_names{"meet",    "talk",   "trade",    "ally",
                                                     "quarrel", "betray", "reconcile"};

constexpr std::size_t index_of(Kind kind) { return static_cast<std::size_t>(kind); }

// Flavour for event texts. Changing these tables changes the text of every
// future run of existing worlds (never the kinds or actors): treat as append-only.
constexpr std::array<std::string_view, 8> places{
    "the market", "the well",     "the old bridge", "the harbour",
    "the mill",   "a crossroads", "the library",    "the orchard"};
constexpr std::array<std::string_view, 10> topics{
    "the weather",    "the harvest",      "old maps",          "rumours from the coast",
    "a strange dream", "the price of salt", "a song they both know", "the night sky",
    "lost relatives", "the river"};
constexpr std::array<std::string_view, 8> goods{
    "salt", "wool", "lamp oil", "dried fish", "a copper pot", "seeds", "an old book", "honey"};
constexpr std::array<std::string_view, 7> grievances{
    "a debt",         "a broken promise", "the boundary stones", "an insult",
    "the last loaf",  "a borrowed mule",  "an old rumour"};

template <std::size_t N>
std::string_view pick(Random& rng, const std::array<std::string_view, N>& table) {
  return table[rng.below(N)];
}

// The state of one unordered pair. Starts as strangers.
struct Bond {
  int affinity = 0;
  int interactions = 0;
  bool met = false;
  bool allied = false;
};

// Pairs (i, j), i < j, stored as a packed lower triangle: half the memory of a
// square matrix, and O(1) lookups.
class Bonds {
 public:
  explicit Bonds(std::size_t n) : m_bonds(n * (n - 1) / 2) {}

  Bond& at(std::size_t i, std::size_t j) {
    if (i > j) std::swap(i, j);
    return m_bonds[j * (j - 1) / 2 + i];
  }

 private:
  std::vector<Bond> m_bonds;
};

int clamp_affinity(int value) { return std::clamp(value, affinity_min, affinity_max); }

// Percent chance that a free persona seeks company this tick: 5..35. Kept well
// below certainty so that quiet ticks exist and populous worlds hit the
// per-tick cap rather than pairing everyone every tick.
int seek_percent(const Traits& t) { return 5 + t.sociability * 3 / 10; }

// Relative weight of `other` as a partner for `self`.
std::uint64_t partner_weight(const Traits& self, const Bond& bond) {
  if (!bond.met) return static_cast<std::uint64_t>(2 + self.curiosity / 8);  // 2..14
  const int liking = std::max(bond.affinity, 0);
  const int dislike = std::max(-bond.affinity, 0);
  // The incurious return to people they know; everyone returns to friends;
  // the aggressive also go looking for enemies.
  return static_cast<std::uint64_t>(4 + (100 - self.curiosity) / 25 + liking / 10 +
                                    self.aggression * dislike / 1000);  // 4..28
}

// The kind of a meeting between `a` (the seeker) and `b`. The order of the
// checks is the priority: a first contact is always a meeting; rare dramatic
// turns are tried before the everyday ones.
Kind choose_kind(Random& rng, const Traits& a, const Traits& b, const Bond& bond) {
  if (!bond.met) return Kind::meet;
  if (bond.allied) {
    // Only the disloyal and aggressive turn on an ally: up to 12%.
    if (rng.percent_chance((100 - a.loyalty) * a.aggression / 800)) return Kind::betray;
  } else {
    if (bond.affinity <= enemy_threshold &&
        rng.percent_chance((a.generosity + a.loyalty) / 8)) {  // up to 25%
      return Kind::reconcile;
    }
    // Allies do not quarrel (an ally who turns betrays). Others quarrel more
    // the more aggressive the seeker and the less it likes the partner: 0..50%.
    if (rng.percent_chance(a.aggression * (affinity_max - bond.affinity) / 400)) {
      return Kind::quarrel;
    }
    if (bond.affinity >= ally_threshold && rng.percent_chance((a.loyalty + b.loyalty) / 2)) {
      return Kind::ally;
    }
  }
  if (rng.percent_chance((a.generosity + b.generosity) / 4)) return Kind::trade;  // 0..50%
  return Kind::talk;
}

// Applies the interaction to the pair and returns the event's text.
std::string apply(Random& rng, Kind kind, const Persona& a, const Persona& b, Bond& bond) {
  const auto& ta = a.traits;
  const auto& tb = b.traits;
  int delta = 0;
  std::string text;
  switch (kind) {
    case Kind::meet:
      bond.met = true;
      delta = 5 + (ta.sociability + tb.sociability) / 40;  // 5..10
      text = a.name + " meets " + b.name + " at " + std::string(pick(rng, places));
      break;
    case Kind::talk:
      // Mostly warming, occasionally awkward.
      delta = static_cast<int>(rng.between(-1, 3));
      text = a.name + " talks with " + b.name + " about " + std::string(pick(rng, topics));
      break;
    case Kind::trade:
      delta = 4 + ta.generosity / 25;  // 4..8
      text = a.name + " trades " + std::string(pick(rng, goods)) + " with " + b.name;
      break;
    case Kind::ally:
      bond.allied = true;
      delta = 10;
      text = a.name + " and " + b.name + " become allies";
      break;
    case Kind::quarrel:
      delta = -(8 + ta.aggression / 10);  // -8..-18
      text = a.name + " quarrels with " + b.name + " over " + std::string(pick(rng, grievances));
      break;
    case Kind::betray:
      bond.allied = false;
      delta = -50;
      text = a.name + " betrays " + b.name;
      break;
    case Kind::reconcile:
      delta = 30;
      text = a.name + " reconciles with " + b.name;
      break;
  }
  bond.affinity = clamp_affinity(bond.affinity + delta);
  ++bond.interactions;
  return text;
}

std::vector<KindCount> zero_counts() {
  std::vector<KindCount> counts;
  counts.reserve(kind_names.size());
  for (const auto name : kind_names) counts.push_back({std::string(name), 0});
  return counts;
}

}  // namespace

std::span<const std::string_view> event_kinds() { return kind_names; }

std::optional<std::string> validate_simulation_input(const SimulationInput& input) {
  if (input.ticks < min_ticks || input.ticks > max_ticks) {
    return "ticks must be from " + std::to_string(min_ticks) + " to " + std::to_string(max_ticks);
  }
  if (input.personas.size() > max_simulation_personas) {
    return "a simulation takes at most " + std::to_string(max_simulation_personas) + " personas";
  }
  std::vector<std::int64_t> ids;
  ids.reserve(input.personas.size());
  for (const auto& persona : input.personas) {
    for (const auto& [name, value] : trait_entries(persona.traits)) {
      if (auto error = validate_trait(name, value)) {
        return "persona " + std::to_string(persona.id) + ": " + *error;
      }
    }
    ids.push_back(persona.id);
  }
  std::sort(ids.begin(), ids.end());
  if (const auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end()) {
    return "persona id " + std::to_string(*dup) + " appears more than once";
  }
  return std::nullopt;
}

SimulationResult simulate(const SimulationInput& input) {
  if (auto error = validate_simulation_input(input)) throw std::invalid_argument(*error);

  SimulationResult result;
  result.counts = zero_counts();
  const std::size_t n = input.personas.size();
  if (n < 2) return result;

  // Ordered by id so the run does not depend on the order storage returned.
  std::vector<Persona> personas = input.personas;
  std::sort(personas.begin(), personas.end(),
            [](const Persona& x, const Persona& y) { return x.id < y.id; });

  Random rng(input.seed);
  Bonds bonds(n);
  // The tick in which each persona last interacted: "busy this tick" without
  // clearing an array every tick.
  std::vector<int> busy_tick(n, 0);
  std::vector<std::uint64_t> weights(n, 0);

  for (int tick = 1; tick <= input.ticks; ++tick) {
    // A random starting point, so the per-tick cap never favours low ids.
    const auto start = static_cast<std::size_t>(rng.below(n));
    int interactions = 0;
    for (std::size_t step = 0; step < n && interactions < max_interactions_per_tick; ++step) {
      const std::size_t i = (start + step) % n;
      if (busy_tick[i] == tick) continue;
      const Traits& self = personas[i].traits;
      if (!rng.percent_chance(seek_percent(self))) continue;

      std::uint64_t total = 0;
      for (std::size_t j = 0; j < n; ++j) {
        weights[j] = (j == i || busy_tick[j] == tick) ? 0 : partner_weight(self, bonds.at(i, j));
        total += weights[j];
      }
      if (total == 0) continue;  // everyone else is already busy this tick
      std::uint64_t r = rng.below(total);
      std::size_t j = 0;
      while (r >= weights[j]) r -= weights[j++];

      Bond& bond = bonds.at(i, j);
      const Kind kind = choose_kind(rng, self, personas[j].traits, bond);
      std::string text = apply(rng, kind, personas[i], personas[j], bond);
      busy_tick[i] = busy_tick[j] = tick;
      ++interactions;
      ++result.counts[index_of(kind)].count;
      result.events.push_back(Event{tick, std::string(kind_names[index_of(kind)]),
                                    {personas[i].id, personas[j].id}, std::move(text)});
    }
  }

  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const Bond& bond = bonds.at(i, j);
      if (!bond.met) continue;
      result.relationships.push_back(
          {personas[i].id, personas[j].id, bond.affinity, bond.allied, bond.interactions});
    }
  }
  return result;
}

}  // namespace pw::domain
