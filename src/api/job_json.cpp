#include "api/job_json.hpp"

#include "observability/log_line.hpp"

namespace pw::api {
namespace {

nlohmann::json json_or_text(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

nlohmann::json optional_time(std::optional<std::int64_t> ms) {
  return ms ? nlohmann::json(observability::format_rfc3339_ms(*ms)) : nlohmann::json(nullptr);
}

nlohmann::json optional_text(const std::optional<std::string>& text) {
  return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
}

// The first `limit` characters (code points) of UTF-8 text; a cut never
// splits a character.
std::string first_characters(const std::string& text, std::size_t limit) {
  std::size_t characters = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) != 0x80) {
      if (characters == limit) return text.substr(0, i);
      ++characters;
    }
  }
  return text;
}

nlohmann::json without_payloads(const queue::Job& job) {
  const auto errors = queue::errors_of(job);
  return {
      {"id", job.id},
      {"type", job.type},
      {"state", queue::to_string(job.state)},
      {"priority", job.priority},
      {"attempts", job.attempts},
      {"max_attempts", job.max_attempts},
      {"last_error", optional_text(errors.last_error)},
      {"earlier_error", optional_text(errors.earlier_error)},
      {"trace_id", optional_text(job.trace_id)},
      {"user_id", job.user_id ? nlohmann::json(*job.user_id) : nlohmann::json(nullptr)},
      {"idempotency_key", optional_text(job.idempotency_key)},
      {"unique_key", optional_text(job.unique_key)},
      {"lease_owner", optional_text(job.lease_owner)},
      {"lease_expires_at", optional_time(job.lease_expires_at_ms)},
      {"run_at", observability::format_rfc3339_ms(job.run_at_ms)},
      {"created_at", observability::format_rfc3339_ms(job.created_at_ms)},
      {"updated_at", observability::format_rfc3339_ms(job.updated_at_ms)},
      {"started_at", optional_time(job.started_at_ms)},
      {"finished_at", optional_time(job.finished_at_ms)},
      {"claim", job.claim},
  };
}

}  // namespace

nlohmann::json job_detail(const queue::Job& job) {
  auto out = without_payloads(job);
  out["payload"] = json_or_text(job.payload);
  out["result"] = job.result ? json_or_text(*job.result) : nlohmann::json(nullptr);
  return out;
}

nlohmann::json job_summary(const queue::Job& job) {
  auto out = without_payloads(job);
  if (out["last_error"].is_string()) {
    const auto& error = out["last_error"].get_ref<const std::string&>();
    std::string cut = first_characters(error, max_listed_error_chars);
    if (cut.size() < error.size()) {
      out["last_error"] = std::move(cut);
      out["last_error_truncated"] = true;
    }
  }
  return out;
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pw::api
