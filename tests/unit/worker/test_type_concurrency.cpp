// --type-concurrency / WORKER_TYPE_CONCURRENCY and the per-type defaults.
#include <doctest/doctest.h>

#include "config/config.hpp"
#include "support/temp_dir.hpp"

using pw::config::WorkerConfig;

TEST_CASE("type concurrency: the CPU-bound types default to the cores, webhooks to half of --concurrency") {
  WorkerConfig config;
  CHECK(config.concurrency == 128);
  auto limits = pw::config::type_concurrency(config);
  const int cores = pw::config::default_concurrency();
  CHECK(limits["world.simulate"] == std::min(cores, 128));
  CHECK(limits["persona.generate"] == std::min(cores, 128));
  CHECK(limits["world.purge"] == std::min(cores, 128));
  CHECK(limits["webhook.deliver"] == 64);
  CHECK(limits.count("noop") == 0);  // not named: up to --concurrency

  config.concurrency = 1;
  limits = pw::config::type_concurrency(config);
  CHECK(limits["webhook.deliver"] == 1);
  CHECK(limits["world.simulate"] == 1);  // every limit within the overall cap
}

TEST_CASE("type concurrency: TYPE=N,... overrides the defaults and adds types, each capped at --concurrency") {
  WorkerConfig config;
  config.concurrency = 32;
  config.type_concurrency = "webhook.deliver=200,noop=7,world.simulate=1";
  auto limits = pw::config::type_concurrency(config);
  CHECK(limits["webhook.deliver"] == 32);
  CHECK(limits["noop"] == 7);
  CHECK(limits["world.simulate"] == 1);
  CHECK(limits["persona.generate"] == std::min(pw::config::default_concurrency(), 32));
}

TEST_CASE("type concurrency: a value that is not TYPE=N, or out of 1..1024, is refused naming the setting") {
  pw::test::TempDir dir;
  for (const char* bad : {"noop", "noop=", "=2", "noop=0", "noop=1025", "noop=-1", "noop=2,", "noop=2,,x=1",
                          "noop=1x", "noop=99999999999"}) {
    WorkerConfig config;
    config.db.path = dir.file("a.db");
    config.type_concurrency = bad;
    auto problem = pw::config::validate(config);
    REQUIRE_MESSAGE(problem.has_value(), bad);
    CHECK_MESSAGE(problem->find("WORKER_TYPE_CONCURRENCY") != std::string::npos, *problem);
  }
  WorkerConfig fine;
  fine.db.path = dir.file("a.db");
  for (const char* good : {"", "noop=1", "noop=1024,webhook.deliver=3"}) {
    fine.type_concurrency = good;
    CHECK_FALSE_MESSAGE(pw::config::validate(fine).has_value(), good);
  }
}
