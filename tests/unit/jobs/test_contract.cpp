#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "jobs/contract.hpp"

using namespace pw::jobs;
using nlohmann::json;

namespace {

// What the handler reads back from what the enqueuing side wrote.
template <class Args>
Args round_trip(const Args& args) {
  const auto job = new_job(args);
  CHECK(job.type == Args::kind);
  return read_args<Args>(job.payload);
}

// The payload of `args` without `field`, read back: must be refused.
template <class Args>
void check_refused_without(const Args& args, const std::string& field) {
  CAPTURE(field);
  auto payload = to_json(args);
  REQUIRE(payload.contains(field));
  payload.erase(field);
  CHECK_THROWS_AS(read_args<Args>(payload.dump()), ContractError);
}

}  // namespace

TEST_CASE("job contract: every kind's args come back as they were enqueued") {
  CHECK(round_trip(SleepArgs{250, true}).ms == 250);
  CHECK(round_trip(SleepArgs{250, true}).ignore_stop);
  CHECK_FALSE(round_trip(SleepArgs{0, false}).ignore_stop);
  round_trip(NoopArgs{});

  const auto generate = round_trip(GeneratePersonasArgs{7, 3, 25});
  CHECK(generate.world_id == 7);
  CHECK(generate.generation == 3);
  CHECK(generate.count == 25);

  const auto simulate = round_trip(SimulateWorldArgs{11, 7});
  CHECK(simulate.simulation_id == 11);
  CHECK(simulate.world_id == 7);

  const auto deliver = round_trip(DeliverWebhookArgs{11, "https://example.com/hook", json{{"events", 4}}});
  CHECK(deliver.simulation_id == 11);
  CHECK(deliver.url == "https://example.com/hook");
  CHECK(deliver.body == json{{"events", 4}});
  CHECK_FALSE(round_trip(DeliverWebhookArgs{std::nullopt, "https://example.com/", json::object()}).simulation_id);

  CHECK(round_trip(PurgeWorldArgs{7}).world_id == 7);
}

TEST_CASE("job contract: a payload missing a field is refused, whatever the kind") {
  check_refused_without(SleepArgs{5, false}, "ms");
  for (const char* field : {"world_id", "generation", "count"}) {
    check_refused_without(GeneratePersonasArgs{7, 3, 25}, field);
  }
  check_refused_without(SimulateWorldArgs{11, 7}, "simulation_id");
  for (const char* field : {"url", "body"}) {
    check_refused_without(DeliverWebhookArgs{11, "https://example.com/hook", json::object()}, field);
  }
  check_refused_without(PurgeWorldArgs{7}, "world_id");
  CHECK_THROWS_AS(read_args<PurgeWorldArgs>("[1]"), ContractError);
  CHECK_THROWS_AS(read_args<PurgeWorldArgs>("not json"), ContractError);
}

TEST_CASE("job contract: wrong types and out-of-range values are refused, and unknown members are ignored") {
  CHECK_THROWS_AS(read_args<PurgeWorldArgs>(R"({"world_id":"7"})"), ContractError);
  CHECK_THROWS_AS(read_args<PurgeWorldArgs>(R"({"world_id":0})"), ContractError);
  CHECK_THROWS_AS(read_args<PurgeWorldArgs>(R"({"world_id":9223372036854775808})"), ContractError);
  CHECK_THROWS_AS(read_args<GeneratePersonasArgs>(R"({"world_id":1,"generation":1,"count":0})"), ContractError);
  CHECK_THROWS_AS(read_args<SleepArgs>(R"({"ms":-1})"), ContractError);
  CHECK_THROWS_AS(read_args<SleepArgs>(R"({"ms":3600001})"), ContractError);
  CHECK_THROWS_AS(read_args<DeliverWebhookArgs>(R"({"url":5,"body":{}})"), ContractError);
  // What the queue layer adds to a payload (a trace id) is not the handler's business.
  CHECK(read_args<PurgeWorldArgs>(R"({"world_id":7,"trace_id":"req-1"})").world_id == 7);
}

TEST_CASE("job contract: the kinds this build runs, each once") {
  const auto& kinds = job_kinds();
  CHECK(kinds == std::vector<std::string>{"noop", "sleep", "persona.generate", "world.simulate", "webhook.deliver",
                                          "world.purge"});
}
