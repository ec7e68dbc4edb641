#include "api/render.hpp"

#include "observability/log_line.hpp"
#include "store/store.hpp"

namespace pw::api {
namespace {

std::string time_text(std::int64_t ms) { return observability::format_rfc3339_ms(ms); }

nlohmann::json optional_time(const std::optional<std::int64_t>& ms) {
  if (!ms) return nullptr;
  return time_text(*ms);
}

template <class T>
nlohmann::json optional_value(const std::optional<T>& value) {
  if (!value) return nullptr;
  return *value;
}

// Stored JSON text back to JSON; text that does not parse is returned as a string.
nlohmann::json json_text(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  auto parsed = nlohmann::json::parse(*text, nullptr, false);
  if (parsed.is_discarded()) return *text;
  return parsed;
}

}  // namespace

nlohmann::json render(const store::User& user) {
  return {{"id", user.id}, {"handle", user.handle}, {"created_at", time_text(user.created_at_ms)}};
}

nlohmann::json render(const store::Token& token) {
  return {{"id", token.id},
          {"name", token.name},
          {"created_at", time_text(token.created_at_ms)},
          {"last_used_at", optional_time(token.last_used_at_ms)},
          {"expires_at", optional_time(token.expires_at_ms)}};
}

nlohmann::json render(const store::World& world) {
  return {{"id", world.id},
          {"name", world.name},
          {"description", world.description},
          {"seed", world.seed},
          {"persona_count", world.persona_count},
          {"simulation_count", world.simulations},
          {"created_at", time_text(world.created_at_ms)}};
}

nlohmann::json render(const store::StoredPersona& persona) {
  nlohmann::json traits = nlohmann::json::object();
  for (const auto& [name, value] : domain::trait_entries(persona.traits)) traits[std::string(name)] = value;
  return {{"id", persona.id},
          {"world_id", persona.world_id},
          {"name", persona.name},
          {"traits", std::move(traits)},
          {"source", std::string(store::to_string(persona.source))},
          {"generation", optional_value(persona.generation)},
          {"job_id", optional_value(persona.job_id)},
          {"created_at", time_text(persona.created_at_ms)}};
}

nlohmann::json render(const store::Simulation& simulation) {
  std::string state = simulation.completed_at_ms ? "completed" : "pending";
  return {{"id", simulation.id},
          {"world_id", simulation.world_id},
          {"number", simulation.number},
          {"ticks", simulation.ticks},
          {"callback_url", optional_value(simulation.callback_url)},
          {"state", state},
          {"job_id", optional_value(simulation.job_id)},
          {"webhook_job_id", optional_value(simulation.webhook_job_id)},
          {"event_count", optional_value(simulation.event_count)},
          {"created_at", time_text(simulation.created_at_ms)},
          {"completed_at", optional_time(simulation.completed_at_ms)}};
}

nlohmann::json render(const store::StoredEvent& event) {
  return {{"id", event.id},
          {"simulation_id", event.simulation_id},
          {"tick", event.tick},
          {"kind", event.kind},
          {"actors", event.actors},
          {"text", event.text}};
}

nlohmann::json render(const queue::Job& job) {
  const auto errors = queue::errors_of(job);
  return {{"id", job.id},
          {"type", job.type},
          {"state", std::string(queue::to_string(job.state))},
          {"attempts", job.attempts},
          {"max_attempts", job.max_attempts},
          {"last_error", optional_value(errors.last_error)},
          {"earlier_error", optional_value(errors.earlier_error)},
          {"result", json_text(job.result)},
          {"trace_id", optional_value(job.trace_id)},
          {"run_at", time_text(job.run_at_ms)},
          {"created_at", time_text(job.created_at_ms)},
          {"updated_at", time_text(job.updated_at_ms)},
          {"finished_at", optional_time(job.finished_at_ms)}};
}

}  // namespace pw::api
