// Where a request's id comes from: a valid X-Request-ID, else the trace id of a
// valid W3C traceparent, else a fresh one. Pure functions, fuzzed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pw::http {

// ^[A-Za-z0-9._-]{1,128}$
bool is_valid_request_id(std::string_view id);

// The 32-hex trace id of a version-00 traceparent
// ("00-<32 hex>-<16 hex>-<2 hex>"), rejecting all-zero ids.
std::optional<std::string> trace_id_from_traceparent(std::string_view header);

// 32 lowercase hex characters from a cryptographic source.
std::string generate_request_id();

std::string choose_request_id(std::string_view x_request_id, std::string_view traceparent);

}  // namespace pw::http
