#include "queue/job_table.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace pw::queue {

std::optional<std::string> payload_to_store(const NewJob& job) {
  if (!job.trace_id) {
    if (!nlohmann::json::accept(job.payload)) {
      throw std::invalid_argument("job payload is not valid JSON (type " + job.type + ")");
    }
    return std::nullopt;
  }
  // The contract: the request id travels in the payload as `trace_id`, so
  // whoever reads a job's payload (a handler, an operator's
  // `jq .payload.trace_id`) sees it. The column stays, for indexing. Set
  // where every job is written, so it always agrees with the column. Key
  // order is kept; a payload that is not an object is left as is.
  auto parsed = nlohmann::ordered_json::parse(job.payload, nullptr, false);
  if (parsed.is_discarded()) throw std::invalid_argument("job payload is not valid JSON (type " + job.type + ")");
  if (!parsed.is_object()) return std::nullopt;
  parsed["trace_id"] = *job.trace_id;
  return parsed.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<std::string> unique_states(const Uniqueness& unique) {
  if (unique.key.empty()) throw std::invalid_argument("a uniqueness window needs a key");
  if (unique.for_ms && *unique.for_ms <= 0) {
    throw std::invalid_argument("a uniqueness window's duration must be positive");
  }
  std::vector<std::string> out;
  if (unique.states.empty()) {
    for (auto state : {JobState::queued, JobState::running, JobState::succeeded, JobState::dead, JobState::canceled}) {
      out.emplace_back(to_string(state));
    }
    return out;
  }
  for (auto state : unique.states) {
    std::string name(to_string(state));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

void sort_in_claim_order(ClaimResult& result) {
  std::sort(result.jobs.begin(), result.jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    return std::tie(a.job.priority, a.job.run_at_ms, a.job.id) < std::tie(b.job.priority, b.job.run_at_ms, b.job.id);
  });
}

}  // namespace pw::queue
