#include "jobs/contract.hpp"

#include <limits>

#include "domain/persona.hpp"

namespace pw::jobs {
namespace {

constexpr std::int64_t max_id = std::numeric_limits<std::int64_t>::max();

const nlohmann::json* member(const nlohmann::json& payload, const char* name) {
  auto found = payload.find(name);
  return found == payload.end() ? nullptr : &*found;
}

std::int64_t integer(const nlohmann::json& payload, const char* name, std::int64_t min, std::int64_t max) {
  const auto* value = member(payload, name);
  if (value == nullptr || !value->is_number_integer()) {
    throw ContractError(std::string("payload.") + name + " is missing or not an integer");
  }
  // A number past INT64_MAX is unsigned in nlohmann: out of range, not wrapped.
  if (value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(max_id)) {
    throw ContractError(std::string("payload.") + name + " is out of range");
  }
  const auto number = value->get<std::int64_t>();
  if (number < min || number > max) throw ContractError(std::string("payload.") + name + " is out of range");
  return number;
}

std::int64_t id(const nlohmann::json& payload, const char* name) { return integer(payload, name, 1, max_id); }

}  // namespace

nlohmann::json to_json(const NoopArgs&) { return nlohmann::json::object(); }

nlohmann::json to_json(const SleepArgs& args) {
  nlohmann::json payload = {{"ms", args.ms}};
  if (args.ignore_stop) payload["ignore_stop"] = true;
  return payload;
}

nlohmann::json to_json(const GeneratePersonasArgs& args) {
  return {{"world_id", args.world_id}, {"generation", args.generation}, {"count", args.count}};
}

nlohmann::json to_json(const SimulateWorldArgs& args) {
  return {{"simulation_id", args.simulation_id}, {"world_id", args.world_id}};
}

nlohmann::json to_json(const DeliverWebhookArgs& args) {
  nlohmann::json payload = {{"url", args.url}, {"body", args.body}};
  if (args.simulation_id) payload["simulation_id"] = *args.simulation_id;
  return payload;
}

nlohmann::json to_json(const PurgeWorldArgs& args) { return {{"world_id", args.world_id}}; }

void from_json(const nlohmann::json&, NoopArgs&) {}

void from_json(const nlohmann::json& payload, SleepArgs& args) {
  args.ms = integer(payload, "ms", 0, SleepArgs::max_ms);
  const auto* ignore_stop = member(payload, "ignore_stop");
  args.ignore_stop = ignore_stop != nullptr && *ignore_stop == true;
}

void from_json(const nlohmann::json& payload, GeneratePersonasArgs& args) {
  args.world_id = id(payload, "world_id");
  args.generation = id(payload, "generation");
  args.count = static_cast<int>(integer(payload, "count", 1, domain::max_generate_count));
}

void from_json(const nlohmann::json& payload, SimulateWorldArgs& args) {
  args.simulation_id = id(payload, "simulation_id");
  // Jobs enqueued before the world id was recorded in the payload still run.
  if (member(payload, "world_id") != nullptr) args.world_id = id(payload, "world_id");
}

void from_json(const nlohmann::json& payload, DeliverWebhookArgs& args) {
  const auto* url = member(payload, "url");
  if (url == nullptr || !url->is_string()) throw ContractError("payload.url is missing or not a string");
  const auto* body = member(payload, "body");
  if (body == nullptr) throw ContractError("payload.body is missing");
  args.url = url->get<std::string>();
  args.body = *body;
  args.simulation_id.reset();
  if (member(payload, "simulation_id") != nullptr) args.simulation_id = id(payload, "simulation_id");
}

void from_json(const nlohmann::json& payload, PurgeWorldArgs& args) { args.world_id = id(payload, "world_id"); }

const std::vector<std::string>& job_kinds() {
  static const std::vector<std::string> kinds = {
      std::string(NoopArgs::kind),          std::string(SleepArgs::kind),
      std::string(GeneratePersonasArgs::kind), std::string(SimulateWorldArgs::kind),
      std::string(DeliverWebhookArgs::kind),   std::string(PurgeWorldArgs::kind)};
  return kinds;
}

}  // namespace pw::jobs
