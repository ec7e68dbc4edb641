// A job as the operator sees it, everything the row holds: the one rendering
// of `personaworlds jobs show --json` / `jobs list --json` and of the admin
// API (/admin/v1/jobs), so the two never drift apart. (A user's view of
// their job, GET /v1/jobs/{id}, is render() in render.hpp.)
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>

#include "queue/job.hpp"

namespace pw::api {

// Every field; times as RFC 3339 UTC strings with milliseconds, or null.
// payload and result are their JSON (the text itself when not JSON).
nlohmann::json job_detail(const queue::Job& job);

// A list item: job_detail without payload and result, last_error cut to
// max_listed_error_chars characters (then "last_error_truncated": true).
inline constexpr std::size_t max_listed_error_chars = 300;
nlohmann::json job_summary(const queue::Job& job);

// Text as a JSON string value, invalid UTF-8 replaced, so dump() never throws.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace pw::api
