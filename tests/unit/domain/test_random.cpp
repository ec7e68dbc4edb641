#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include "domain/random.hpp"

using pw::domain::derive_seed;
using pw::domain::derive_stream_seed;
using pw::domain::fnv1a64;
using pw::domain::mix64;
using pw::domain::Random;
using pw::domain::splitmix64;

// The known answers below guard reproducibility across compilers, platforms
// and standard libraries: a saved world must simulate the same way forever.
// If one of them changes, every stored world's future runs change with it.

TEST_CASE("Random: splitmix64 matches the published reference outputs") {
  std::uint64_t state = 0;
  CHECK(splitmix64(state) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64(state) == 0x6e789e6aa1b965f4ULL);
  CHECK(splitmix64(state) == 0x06c45d188009454fULL);
}

TEST_CASE("Random: xoshiro256** matches the reference implementation from a known state") {
  auto rng = Random::from_state({1, 2, 3, 4});
  CHECK(rng.next_u64() == 11520ULL);
  CHECK(rng.next_u64() == 0ULL);
  CHECK(rng.next_u64() == 1509978240ULL);
  CHECK(rng.next_u64() == 1215971899390074240ULL);
}

TEST_CASE("Random: an all-zero generator state is refused") {
  CHECK_THROWS_AS(Random::from_state({0, 0, 0, 0}), std::invalid_argument);
}

TEST_CASE("Random: a seed gives the same numbers on every build") {
  Random zero(0);
  CHECK(zero.next_u64() == 0x99ec5f36cb75f2b4ULL);
  CHECK(zero.next_u64() == 0xbf6e1f784956452aULL);
  CHECK(zero.next_u64() == 0x1a5f849d4933e6e0ULL);

  Random answer(42);
  CHECK(answer.next_u64() == 0x15780b2e0c2ec716ULL);
  CHECK(answer.next_u64() == 0x6104d9866d113a7eULL);
  CHECK(answer.next_u64() == 0xae17533239e499a1ULL);

  Random bounded(42);
  std::vector<std::uint64_t> draws;
  for (int i = 0; i < 8; ++i) draws.push_back(bounded.below(10));
  CHECK(draws == std::vector<std::uint64_t>{2, 2, 9, 3, 6, 4, 4, 7});

  Random unit(42);
  CHECK(unit.next_double() == 0.083862971059882163);
}

TEST_CASE("Random: two generators with the same seed stay in step") {
  Random a(123456789);
  Random b(123456789);
  for (int i = 0; i < 1000; ++i) REQUIRE(a.next_u64() == b.next_u64());
}

TEST_CASE("Random: fnv1a64 matches the published test vectors") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("Random: mix64 is the SplitMix64 output function") {
  std::uint64_t state = 0;
  CHECK(mix64(0) == splitmix64(state));
  CHECK(mix64(1) != mix64(2));
}

TEST_CASE("Random: derive_seed is pinned and separates worlds, numbers and streams") {
  CHECK(derive_seed(42, 1) == 0x6b6c06fa181e6e47ULL);
  CHECK(derive_seed(42, 1) == derive_stream_seed(42, "simulation", 1));

  std::set<std::uint64_t> seeds;
  for (std::uint64_t world = 0; world < 20; ++world) {
    for (std::int64_t number = 0; number < 20; ++number) {
      seeds.insert(derive_seed(world, number));
      seeds.insert(derive_stream_seed(world, "persona.generate", number));
    }
  }
  CHECK(seeds.size() == 20 * 20 * 2);
}

TEST_CASE("Random: below stays within its bound") {
  Random rng(7);
  const std::uint64_t bounds[] = {1, 2, 3, 7, 10, 1000, (std::uint64_t{1} << 63) + 1,
                                  std::numeric_limits<std::uint64_t>::max()};
  for (const std::uint64_t bound : bounds) {
    for (int i = 0; i < 2000; ++i) REQUIRE(rng.below(bound) < bound);
  }
  for (int i = 0; i < 100; ++i) CHECK(rng.below(1) == 0);
}

TEST_CASE("Random: below is roughly uniform") {
  Random rng(2024);
  constexpr int buckets = 10;
  constexpr int draws = 200000;
  std::array<int, buckets> counts{};
  for (int i = 0; i < draws; ++i) ++counts[rng.below(buckets)];
  // The expected count is 20,000 with a standard deviation near 134: a 5%
  // band is more than seven deviations wide.
  for (const int count : counts) {
    CHECK(count > draws / buckets * 95 / 100);
    CHECK(count < draws / buckets * 105 / 100);
  }
}

TEST_CASE("Random: between covers both ends inclusively") {
  Random rng(99);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = rng.between(-3, 3);
    REQUIRE(v >= -3);
    REQUIRE(v <= 3);
    seen.insert(v);
  }
  CHECK(seen.size() == 7);
  CHECK(rng.between(5, 5) == 5);
  const auto lowest = std::numeric_limits<std::int64_t>::min();
  const auto highest = std::numeric_limits<std::int64_t>::max();
  CHECK_NOTHROW(rng.between(lowest, highest));
  CHECK(rng.between(highest, highest) == highest);
}

TEST_CASE("Random: empty ranges are refused") {
  Random rng(1);
  CHECK_THROWS_AS(rng.below(0), std::invalid_argument);
  CHECK_THROWS_AS(rng.between(5, 4), std::invalid_argument);
}

TEST_CASE("Random: next_double is at least 0, below 1, and averages one half") {
  Random rng(5);
  double sum = 0;
  constexpr int draws = 100000;
  for (int i = 0; i < draws; ++i) {
    const double d = rng.next_double();
    REQUIRE(d >= 0.0);
    REQUIRE(d < 1.0);
    sum += d;
  }
  CHECK(sum / draws == doctest::Approx(0.5).epsilon(0.01));
}

TEST_CASE("Random: percent_chance is never below 0, always at 100, about right between") {
  Random rng(11);
  int hits = 0;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(rng.percent_chance(0));
    REQUIRE_FALSE(rng.percent_chance(-5));
    REQUIRE(rng.percent_chance(100));
    REQUIRE(rng.percent_chance(250));
  }
  constexpr int draws = 100000;
  for (int i = 0; i < draws; ++i) hits += rng.percent_chance(30) ? 1 : 0;
  CHECK(hits > draws * 29 / 100);
  CHECK(hits < draws * 31 / 100);
}
