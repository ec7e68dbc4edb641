// Personas: characters with a fixed set of integer traits, added by hand or
// generated deterministically from a world's seed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pw::domain {

inline constexpr int trait_min = 0;
inline constexpr int trait_max = 100;
// A trait a caller leaves out takes this value: the middle of the scale, so an
// unspecified persona is unremarkable rather than extreme.
inline constexpr int trait_default = 50;

// Persona names are stored and shown as given; this bounds their size.
inline constexpr std::size_t max_persona_name_bytes = 100;
// The most personas one generate request may create.
inline constexpr int max_generate_count = 1000;

struct Traits {
  int sociability = trait_default;  // how often the persona seeks company
  int generosity = trait_default;   // inclination to trade and to forgive
  int aggression = trait_default;   // inclination to quarrel and to betray
  int curiosity = trait_default;    // preference for strangers over friends
  int loyalty = trait_default;      // inclination to ally and to stay allied

  friend bool operator==(const Traits&, const Traits&) = default;
};

// Trait names in their fixed, documented order (the order of Traits' fields).
std::span<const std::string_view> trait_names();

// (name, value) for every trait in trait_names() order, for rendering.
std::vector<std::pair<std::string_view, int>> trait_entries(const Traits& traits);

// The value of the named trait, or nothing when the name is unknown.
std::optional<int> trait_value(const Traits& traits, std::string_view name);

struct Persona {
  std::int64_t id = 0;
  std::string name;
  Traits traits;

  friend bool operator==(const Persona&, const Persona&) = default;
};

// A persona before storage has given it an id.
struct NewPersona {
  std::string name;
  Traits traits;

  friend bool operator==(const NewPersona&, const NewPersona&) = default;
};

// One member of a hand-given traits object. `value` is empty when the given
// value was not an integer (a string, a fraction, null...): the caller only
// reports what it saw, the policy below decides.
struct TraitField {
  std::string name;
  std::optional<std::int64_t> value;
};

struct TraitsResult {
  Traits traits;                     // meaningful only when error is empty
  std::optional<std::string> error;  // why the fields were refused
};

// Why a single trait setting is refused, or nothing when it is acceptable:
// the name must be one of trait_names() and the value within 0..100.
std::optional<std::string> validate_trait(std::string_view name, std::int64_t value);

// Builds Traits from a hand-given object. Policy: each known trait is
// optional and defaults to 50; an unknown name, a repeated name, a value that
// is not an integer, or an integer outside 0..100 refuses the whole object
// with a message naming the offending trait.
TraitsResult traits_from_fields(std::span<const TraitField> fields);

// Why a hand-given name is refused, or nothing when it is acceptable: 1 to
// max_persona_name_bytes bytes, not blank, no control characters.
std::optional<std::string> validate_persona_name(std::string_view name);

// `count` personas for the world's `generation_number`-th generate request.
// Deterministic: the same three arguments give the same names and traits on
// every build. Names are unique within one call (not across calls). Traits
// lean toward the middle of the scale, with extremes rarer.
// Throws std::invalid_argument unless 0 <= count <= max_generate_count.
std::vector<NewPersona> generate_personas(std::uint64_t world_seed,
                                          std::int64_t generation_number, int count);

}  // namespace pw::domain
