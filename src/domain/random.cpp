#include "domain/random.hpp"

#include <stdexcept>

namespace pw::domain {
namespace {

constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr std::uint64_t splitmix64_finalize(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) {
  state += golden_gamma;
  return splitmix64_finalize(state);
}

std::uint64_t mix64(std::uint64_t x) { return splitmix64_finalize(x + golden_gamma); }

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t derive_stream_seed(std::uint64_t world_seed, std::string_view stream,
                                 std::int64_t number) {
  // Each input goes through a full mix before the next is folded in, so
  // neighbouring worlds or numbers give unrelated seeds rather than seeds that
  // differ in a few bits.
  std::uint64_t x = mix64(world_seed);
  x = mix64(x ^ fnv1a64(stream));
  return mix64(x ^ static_cast<std::uint64_t>(number));
}

std::uint64_t derive_seed(std::uint64_t world_seed, std::int64_t simulation_number) {
  return derive_stream_seed(world_seed, "simulation", simulation_number);
}

Random::Random(std::uint64_t seed) {
  std::uint64_t sm = seed;
  for (auto& word : m_state) word = splitmix64(sm);
  // The four words are a bijection (which maps only 0 to 0) applied to four
  // distinct inputs, so at most one can be zero: the all-zero state, the one
  // xoshiro can never leave, cannot occur.
}

Random Random::from_state(const std::array<std::uint64_t, 4>& state) {
  if (state[0] == 0 && state[1] == 0 && state[2] == 0 && state[3] == 0) {
    throw std::invalid_argument("xoshiro256** state must not be all zero");
  }
  Random r;
  r.m_state = state;
  return r;
}

std::uint64_t Random::next_u64() {
  auto& s = m_state;
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

std::uint64_t Random::below(std::uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("Random::below: bound must be positive");
  // Rejection: 2^64 mod bound values at the bottom of the range would make
  // small results slightly likelier; drawing again over them removes the bias.
  // Portable, unlike Lemire's method which needs a 128-bit multiply.
  const std::uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t r = next_u64();
    if (r >= threshold) return r % bound;
  }
}

std::int64_t Random::between(std::int64_t lo, std::int64_t hi) {
  if (lo > hi) throw std::invalid_argument("Random::between: lo must not exceed hi");
  // Unsigned arithmetic: hi - lo can exceed INT64_MAX.
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  const std::uint64_t offset = span == UINT64_MAX ? next_u64() : below(span + 1);
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + offset);
}

bool Random::percent_chance(std::int64_t percent) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return below(100) < static_cast<std::uint64_t>(percent);
}

double Random::next_double() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

}  // namespace pw::domain
