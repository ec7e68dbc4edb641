#include <doctest/doctest.h>

#include "http/router.hpp"

using pw::http::Router;

namespace {
pw::http::Handler nothing() {
  return [](const pw::http::Request&) { return pw::http::Response{}; };
}
}  // namespace

TEST_CASE("router: templates match one segment per parameter") {
  Router router;
  router.add("GET", "/v1/worlds/{id}", nothing());
  router.add("DELETE", "/v1/worlds/{id}", nothing());
  router.add("POST", "/v1/worlds/{id}/personas:generate", nothing());
  auto m = router.match("GET", "/v1/worlds/42");
  REQUIRE(m.route != nullptr);
  CHECK(m.route->pattern == "/v1/worlds/{id}");
  CHECK(m.params.at("id") == "42");
  auto g = router.match("POST", "/v1/worlds/7/personas:generate");
  REQUIRE(g.route != nullptr);
  CHECK(g.params.at("id") == "7");
  CHECK(router.match("GET", "/v1/worlds/42/").route == nullptr);
  CHECK(router.match("GET", "/v1/worlds/").route == nullptr);
  CHECK(router.match("GET", "/v1/worlds/../../etc").route == nullptr);
  CHECK(router.match("GET", "v1/worlds/1").route == nullptr);
}

TEST_CASE("router: a known path with another method lists the allowed methods") {
  Router router;
  router.add("GET", "/v1/worlds/{id}", nothing());
  router.add("DELETE", "/v1/worlds/{id}", nothing());
  auto m = router.match("PUT", "/v1/worlds/1");
  CHECK(m.route == nullptr);
  CHECK(m.allowed == std::vector<std::string>{"GET", "DELETE"});
  CHECK(router.match("HEAD", "/v1/worlds/1").route != nullptr);
  CHECK(router.match("GET", "/nope").allowed.empty());
}

TEST_CASE("router: duplicate and malformed routes are refused") {
  Router router;
  router.add("GET", "/a", nothing());
  CHECK_THROWS_AS(router.add("GET", "/a", nothing()), std::invalid_argument);
  CHECK_THROWS_AS(router.add("GET", "/a//b", nothing()), std::invalid_argument);
}

TEST_CASE("router: a template with a trailing slash matches only the path with it") {
  Router router;
  router.add("GET", "/admin/", nothing());
  router.add("GET", "/admin", nothing());
  auto with = router.match("GET", "/admin/");
  REQUIRE(with.route != nullptr);
  CHECK(with.route->pattern == "/admin/");
  auto without = router.match("GET", "/admin");
  REQUIRE(without.route != nullptr);
  CHECK(without.route->pattern == "/admin");
  CHECK(router.match("GET", "/admin//").route == nullptr);
  CHECK_THROWS_AS(router.add("GET", "/", nothing()), std::invalid_argument);
  CHECK_THROWS_AS(router.add("GET", "/a//", nothing()), std::invalid_argument);
}
