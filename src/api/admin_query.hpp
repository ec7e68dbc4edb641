// What an operator's request to /admin/v1 asks for: the job filter of
// GET /admin/v1/jobs (query parameters) and of the bulk actions (a JSON
// body), checked field by field. Pure functions of the request; a bad value
// throws Refusal (400 invalid_parameter naming the query parameter, or 400
// invalid_request naming the body's field, as the /v1 bodies do).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/message.hpp"
#include "queue/job_table.hpp"

namespace pw::api {

inline constexpr int default_admin_page_limit = 50;
inline constexpr int max_admin_page_limit = 200;
inline constexpr int max_bulk_jobs = 1000;
inline constexpr std::size_t max_admin_body_bytes = 64 * 1024;

// RFC 3339 (2026-12-03T17:30:00Z, 2026-12-03T18:30:00.250+01:00; `T`/`Z` in
// either case; seconds 00..59; a fraction of up to 9 digits, cut to
// milliseconds) as Unix milliseconds; nothing when not of that form or not a
// real date.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

// GET /admin/v1/jobs: state, type, created_after, created_before, error,
// trace_id, cursor and limit (filter.limit), each at most once; an empty
// filter value is no filter (a form's blank field); any other parameter is
// refused.
queue::JobFilter admin_job_query(const http::Request& request);

struct BulkRequest {
  queue::JobFilter filter;
  int max = max_bulk_jobs;
};

// POST /admin/v1/jobs:retry and :cancel: a JSON object with the same filter
// (as strings) and max (1..1000); 413 past max_admin_body_bytes.
BulkRequest admin_bulk_request(const http::Request& request);

}  // namespace pw::api
