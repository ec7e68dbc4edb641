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

void sort_in_claim_order(ClaimResult& result) {
  std::sort(result.jobs.begin(), result.jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    return std::tie(a.job.priority, a.job.run_at_ms, a.job.id) < std::tie(b.job.priority, b.job.run_at_ms, b.job.id);
  });
}

}  // namespace pw::queue
