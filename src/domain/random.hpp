// Deterministic randomness for the domain: the same seed gives the same
// numbers on every platform, compiler and standard library.
//
// Why not <random>: the engines are portable but the distributions
// (uniform_int_distribution and friends) are implementation-defined, so a
// world simulated on one build would diverge on another. Everything here is a
// published algorithm plus integer arithmetic we control.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace pw::domain {

// The SplitMix64 generator step: advances `state` and returns its next output.
// Used to expand one 64-bit seed into a full generator state.
std::uint64_t splitmix64(std::uint64_t& state);

// A stateless 64-bit mixer (the SplitMix64 output function applied to
// x + golden gamma): a bijection, so distinct inputs never collide.
std::uint64_t mix64(std::uint64_t x);

// FNV-1a 64-bit hash of the bytes. Stable forever: seeds are derived from it.
std::uint64_t fnv1a64(std::string_view bytes);

// A seed for one independent stream of a world, named by purpose and number:
// ("simulation", 3) and ("persona.generate", 3) never share numbers.
std::uint64_t derive_stream_seed(std::uint64_t world_seed, std::string_view stream,
                                 std::int64_t number);

// The seed of a world's n-th simulation (stream "simulation").
std::uint64_t derive_seed(std::uint64_t world_seed, std::int64_t simulation_number);

// xoshiro256** (Blackman & Vigna, 2018), seeded through SplitMix64 as its
// authors recommend. Not for secrets: tokens come from pw::crypto.
class Random {
 public:
  explicit Random(std::uint64_t seed);

  // Starts from an explicit generator state, for checking against the
  // reference implementation. The state must not be all zero.
  static Random from_state(const std::array<std::uint64_t, 4>& state);

  std::uint64_t next_u64();

  // Uniform in [0, bound), without modulo bias. Throws std::invalid_argument
  // when bound is 0.
  std::uint64_t below(std::uint64_t bound);

  // Uniform in [lo, hi], both inclusive. Throws std::invalid_argument when
  // lo > hi.
  std::int64_t between(std::int64_t lo, std::int64_t hi);

  // True with probability percent/100; percent is clamped to 0..100.
  // Integer-only, so no floating point rounding can differ between builds.
  bool percent_chance(std::int64_t percent);

  // Uniform in [0, 1) from the top 53 bits: every value is a multiple of 2^-53.
  double next_double();

 private:
  Random() = default;

  std::array<std::uint64_t, 4> m_state{};
};

}  // namespace pw::domain
