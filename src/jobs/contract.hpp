// The job contract: each job kind is one args struct that names its kind and
// carries its payload's fields, read and written here only. The enqueuing
// side (src/api, src/jobs for follow-up jobs) builds a job with new_job(args);
// the handler reads it back with read_args<Args>(payload). A renamed or
// retyped field fails to compile on both sides at once.
//
// The payload also carries what the queue layer adds at enqueue time (a trace
// id, say): readers ignore members they do not know.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "queue/job.hpp"

namespace pw::jobs {

// A payload that does not fit its kind: a field is missing, of the wrong
// type or out of range. Running the job again cannot help.
class ContractError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Does nothing and returns null (smoke tests, benchmarks).
struct NoopArgs {
  static constexpr std::string_view kind = "noop";
};

// Sleeps `ms`; with ignore_stop, even through a stop (shutdown drills).
struct SleepArgs {
  static constexpr std::string_view kind = "sleep";
  static constexpr std::int64_t max_ms = 3'600'000;
  std::int64_t ms = 0;
  bool ignore_stop = false;
};

// Creates the world's generation-th batch of `count` personas.
struct GeneratePersonasArgs {
  static constexpr std::string_view kind = "persona.generate";
  std::int64_t world_id = 0;
  std::int64_t generation = 0;
  int count = 0;
};

// Runs the simulation and writes its events.
struct SimulateWorldArgs {
  static constexpr std::string_view kind = "world.simulate";
  std::int64_t simulation_id = 0;
  std::int64_t world_id = 0;
};

// POSTs `body` to `url`. simulation_id names the simulation it reports (no
// delivery once its world is deleted); a delivery enqueued by hand has none.
struct DeliverWebhookArgs {
  static constexpr std::string_view kind = "webhook.deliver";
  std::optional<std::int64_t> simulation_id;
  std::string url;
  nlohmann::json body;
};

// Deletes what is left of a world marked deleted.
struct PurgeWorldArgs {
  static constexpr std::string_view kind = "world.purge";
  std::int64_t world_id = 0;
};

nlohmann::json to_json(const NoopArgs& args);
nlohmann::json to_json(const SleepArgs& args);
nlohmann::json to_json(const GeneratePersonasArgs& args);
nlohmann::json to_json(const SimulateWorldArgs& args);
nlohmann::json to_json(const DeliverWebhookArgs& args);
nlohmann::json to_json(const PurgeWorldArgs& args);

// Each throws ContractError when the payload does not fit.
void from_json(const nlohmann::json& payload, NoopArgs& args);
void from_json(const nlohmann::json& payload, SleepArgs& args);
void from_json(const nlohmann::json& payload, GeneratePersonasArgs& args);
void from_json(const nlohmann::json& payload, SimulateWorldArgs& args);
void from_json(const nlohmann::json& payload, DeliverWebhookArgs& args);
void from_json(const nlohmann::json& payload, PurgeWorldArgs& args);

// The args of a job's payload text; ContractError when it is not a JSON
// object or does not fit Args.
template <class Args>
Args read_args(std::string_view payload) {
  const auto parsed = nlohmann::json::parse(payload, nullptr, false);
  if (!parsed.is_object()) throw ContractError("payload is not a JSON object");
  Args args;
  from_json(parsed, args);
  return args;
}

// A job of Args's kind carrying `args` (the caller sets the rest: trace id,
// user, idempotency key).
template <class Args>
queue::NewJob new_job(const Args& args) {
  queue::NewJob job;
  job.type = std::string(Args::kind);
  job.payload = to_json(args).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return job;
}

// Every kind this build runs, for metrics (each shown at zero from the start).
const std::vector<std::string>& job_kinds();

}  // namespace pw::jobs
