#include "domain/persona.hpp"

#include <array>
#include <set>
#include <stdexcept>

#include "domain/random.hpp"

namespace pw::domain {
namespace {

struct TraitSlot {
  std::string_view name;
  int Traits::*member;
};

// One table drives names, lookup and rendering so they cannot disagree.
constexpr std::array<TraitSlot, 5> trait_slots{{
    {"sociability", &Traits::sociability},
    {"generosity", &Traits::generosity},
    {"aggression", &Traits::aggression},
    {"curiosity", &Traits::curiosity},
    {"loyalty", &Traits::loyalty},
}};

constexpr std::array<std::string_view, trait_slots.size()> trait_name_list = [] {
  std::array<std::string_view, trait_slots.size()> names{};
  for (std::size_t i = 0; i < trait_slots.size(); ++i) names[i] = trait_slots[i].name;
  return names;
}();

const TraitSlot* find_slot(std::string_view name) {
  for (const auto& slot : trait_slots) {
    if (slot.name == name) return &slot;
  }
  return nullptr;
}

std::string known_traits_list() {
  std::string out;
  for (const auto name : trait_name_list) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Name parts. Changing, reordering or extending these tables changes every
// generated name for every existing seed: append a new table version instead.
constexpr std::array<std::string_view, 24> given_starts{
    "Mi", "Os", "Ta", "Ren", "Ka", "Lio", "Ve", "Su", "Bra", "Ei", "Do", "Fen",
    "Ha", "Ju", "Ny", "Qua", "Ro", "Sa", "Thi", "Ul", "Wy", "Za", "Cor", "El"};
constexpr std::array<std::string_view, 10> given_middles{
    "ra", "li", "no", "ve", "ta", "ri", "mo", "sa", "de", "lu"};
constexpr std::array<std::string_view, 16> given_ends{
    "", "n", "ra", "ssa", "k", "th", "l", "ne", "x", "s", "ia", "o", "ek", "wyn", "m", "dra"};
constexpr std::array<std::string_view, 24> family_starts{
    "Ash",    "Bright", "Cold", "Dun",  "Elder", "Fair",  "Gray", "Hollow",
    "Iron",   "Kettle", "Long", "Marsh", "North", "Oak",  "Quill", "Red",
    "Stone",  "Thorn",  "Under", "Vale", "West",  "Wild", "Yarrow", "Moss"};
constexpr std::array<std::string_view, 16> family_ends{
    "ford", "well", "wood", "brook", "field", "more", "wick", "ridge",
    "dale", "hart", "by",   "stead", "mere",  "holt", "croft", "low"};

template <std::size_t N>
std::string_view pick(Random& rng, const std::array<std::string_view, N>& table) {
  return table[rng.below(N)];
}

std::string generate_name(Random& rng) {
  std::string name(pick(rng, given_starts));
  // Two syllables usually, three sometimes: enough variety without names
  // that are hard to read.
  if (rng.percent_chance(35)) name += pick(rng, given_middles);
  name += pick(rng, given_ends);
  name += ' ';
  name += pick(rng, family_starts);
  name += pick(rng, family_ends);
  return name;
}

int generate_trait(Random& rng) {
  // The mean of two uniform draws: a triangular shape, so most personas are
  // moderate and the extremes that drive dramatic events stay notable.
  const auto a = rng.between(trait_min, trait_max);
  const auto b = rng.between(trait_min, trait_max);
  return static_cast<int>((a + b) / 2);
}

}  // namespace

std::span<const std::string_view> trait_names() { return trait_name_list; }

std::vector<std::pair<std::string_view, int>> trait_entries(const Traits& traits) {
  std::vector<std::pair<std::string_view, int>> out;
  out.reserve(trait_slots.size());
  for (const auto& slot : trait_slots) out.emplace_back(slot.name, traits.*slot.member);
  return out;
}

std::optional<int> trait_value(const Traits& traits, std::string_view name) {
  const auto* slot = find_slot(name);
  if (slot == nullptr) return std::nullopt;
  return traits.*slot->member;
}

std::optional<std::string> validate_trait(std::string_view name, std::int64_t value) {
  if (find_slot(name) == nullptr) {
    return "unknown trait '" + std::string(name) + "' (known: " + known_traits_list() + ")";
  }
  if (value < trait_min || value > trait_max) {
    return "trait '" + std::string(name) + "' must be an integer from " +
           std::to_string(trait_min) + " to " + std::to_string(trait_max);
  }
  return std::nullopt;
}

TraitsResult traits_from_fields(std::span<const TraitField> fields) {
  TraitsResult result;
  std::array<bool, trait_slots.size()> seen{};
  for (const auto& field : fields) {
    const auto* slot = find_slot(field.name);
    if (slot == nullptr) {
      result.error = validate_trait(field.name, trait_default);
      return result;
    }
    const auto index = static_cast<std::size_t>(slot - trait_slots.data());
    if (seen[index]) {
      result.error = "trait '" + field.name + "' is given more than once";
      return result;
    }
    seen[index] = true;
    // A non-integer gets the same message as an out-of-range integer: both
    // break the one rule "an integer from 0 to 100".
    const std::int64_t value = field.value.value_or(trait_min - 1);
    if (auto error = validate_trait(field.name, value)) {
      result.error = std::move(error);
      return result;
    }
    result.traits.*slot->member = static_cast<int>(value);
  }
  return result;
}

std::optional<std::string> validate_persona_name(std::string_view name) {
  if (name.empty()) return "name must not be empty";
  if (name.size() > max_persona_name_bytes) {
    return "name must be at most " + std::to_string(max_persona_name_bytes) + " bytes";
  }
  bool blank = true;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    // Control characters would corrupt event texts and log lines built from
    // names; bytes >= 0x80 are UTF-8 and welcome.
    if (byte < 0x20 || byte == 0x7f) return "name must not contain control characters";
    if (byte != ' ') blank = false;
  }
  if (blank) return "name must not be blank";
  return std::nullopt;
}

std::vector<NewPersona> generate_personas(std::uint64_t world_seed,
                                          std::int64_t generation_number, int count) {
  if (count < 0 || count > max_generate_count) {
    throw std::invalid_argument("generate_personas: count must be from 0 to " +
                                std::to_string(max_generate_count));
  }
  Random rng(derive_stream_seed(world_seed, "persona.generate", generation_number));
  std::vector<NewPersona> out;
  out.reserve(static_cast<std::size_t>(count));
  std::set<std::string> used;
  for (int i = 0; i < count; ++i) {
    NewPersona persona;
    persona.name = generate_name(rng);
    // Over a million combinations make a repeat rare; a few redraws make it
    // practically impossible, and the numbered fallback makes it certain.
    for (int attempt = 0; attempt < 8 && used.contains(persona.name); ++attempt) {
      persona.name = generate_name(rng);
    }
    if (used.contains(persona.name)) {
      const std::string base = persona.name;
      for (int n = 2; used.contains(persona.name); ++n) {
        persona.name = base + " " + std::to_string(n);
      }
    }
    used.insert(persona.name);
    for (const auto& slot : trait_slots) persona.traits.*slot.member = generate_trait(rng);
    out.push_back(std::move(persona));
  }
  return out;
}

}  // namespace pw::domain
