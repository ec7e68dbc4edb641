// The small things a caller sends besides a body: the pagination cursor and
// limit, the events cursor, an optional id filter, a path id, the
// Idempotency-Key and the Content-Type. Each is accepted exactly when it
// matches the documented pattern, and refused with its documented status
// (400, or 404 for a path id) otherwise; nothing else may be thrown. An
// accepted cursor is the id it spells, so passing back a next_cursor (an id
// printed in decimal) always reads the same page boundary.
//
// Input: newline-separated fields: limit, cursor, simulation_id, path id,
// Idempotency-Key, Content-Type. A field that is absent from the input is
// absent from the request (the default applies).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/input.hpp"

namespace {

using pw::api::Refusal;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "fuzz_request_params: " << why << "\n";
  std::abort();
}

// ^(0|[1-9][0-9]*)$ within int64; the contract's decimal id.
std::optional<std::int64_t> decimal(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Runs `read`; returns the refusal status (0 when it returned normally).
template <class Read>
int refusal_status(Read&& read) {
  try {
    read();
  } catch (const Refusal& refusal) {
    if (std::string(refusal.what()).empty() || refusal.code().empty()) fail("a refusal without code or message");
    return refusal.status();
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::optional<std::string>> fields(6);
  for (std::size_t i = 0; i < fields.size() && !input.empty(); ++i) {
    const auto newline = input.find('\n');
    fields[i] = std::string(input.substr(0, newline));
    input = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
  }
  const auto& [limit, cursor, simulation_id, path_id, key, content_type] =
      std::tie(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]);

  pw::http::Request request;
  request.method = "GET";
  if (limit) request.query.emplace_back("limit", *limit);
  if (cursor) {
    request.query.emplace_back("cursor", *cursor);
    request.query.emplace_back("after", *cursor);
  }
  if (simulation_id) request.query.emplace_back("simulation_id", *simulation_id);
  if (path_id) request.path_params["id"] = *path_id;
  if (key) request.headers.emplace_back("idempotency-key", *key);
  if (content_type) request.headers.emplace_back("content-type", *content_type);

  // ?limit=: 1..100, default 20.
  int got_limit = 0;
  const int limit_status = refusal_status([&] { got_limit = pw::api::page_limit(request); });
  if (!limit) {
    if (limit_status != 0 || got_limit != 20) fail("an absent limit is not 20");
  } else {
    auto expected = decimal(*limit);
    const bool ok = expected && *expected >= 1 && *expected <= 100;
    if (ok != (limit_status == 0)) fail("limit '" + *limit + "' judged wrongly");
    if (!ok && limit_status != 400) fail("a bad limit is not 400");
    if (ok && got_limit != *expected) fail("limit read as another number");
  }

  // ?cursor= and ?after=: a non-negative id; 0 when absent.
  for (const char* name : {"cursor", "after"}) {
    std::int64_t got = -1;
    const int status = refusal_status([&] { got = pw::api::query_id(request, name); });
    if (!cursor) {
      if (status != 0 || got != 0) fail("an absent cursor is not 0");
      continue;
    }
    auto expected = decimal(*cursor);
    if (expected.has_value() != (status == 0)) fail(std::string(name) + " '" + *cursor + "' judged wrongly");
    if (!expected && status != 400) fail("a bad cursor is not 400");
    if (expected && (got != *expected || std::to_string(got) != *cursor)) fail("a cursor does not round-trip");
  }

  // ?simulation_id=: a positive id, or nothing.
  std::optional<std::int64_t> got_filter;
  const int filter_status = refusal_status([&] { got_filter = pw::api::optional_query_id(request, "simulation_id"); });
  if (!simulation_id) {
    if (filter_status != 0 || got_filter) fail("an absent filter is not nothing");
  } else {
    auto expected = decimal(*simulation_id);
    const bool ok = expected && *expected > 0;
    if (ok != (filter_status == 0)) fail("simulation_id '" + *simulation_id + "' judged wrongly");
    if (!ok && filter_status != 400) fail("a bad simulation_id is not 400");
    if (ok && got_filter != expected) fail("simulation_id read as another number");
  }

  // {id} in a path: a positive id, else 404 (it names nothing).
  std::int64_t got_id = 0;
  const int path_status = refusal_status([&] { got_id = pw::api::path_id(request, "id", "world"); });
  {
    auto expected = path_id ? decimal(*path_id) : std::nullopt;
    const bool ok = expected && *expected > 0;
    if (ok != (path_status == 0)) fail("path id judged wrongly");
    if (!ok && path_status != 404) fail("a bad path id is not 404");
    if (ok && got_id != *expected) fail("path id read as another number");
  }

  // Idempotency-Key: 1..255 bytes of 0x21..0x7e.
  std::optional<std::string> got_key;
  const int key_status = refusal_status([&] { got_key = pw::api::idempotency_key(request); });
  if (!key) {
    if (key_status != 0 || got_key) fail("an absent key is not nothing");
  } else {
    bool ok = !key->empty() && key->size() <= 255;
    for (char c : *key) ok = ok && static_cast<unsigned char>(c) >= 0x21 && static_cast<unsigned char>(c) <= 0x7e;
    if (ok != (key_status == 0)) fail("Idempotency-Key judged wrongly");
    if (!ok && key_status != 400) fail("a bad Idempotency-Key is not 400");
    if (ok && got_key != *key) fail("Idempotency-Key changed on the way");
  }

  // Content-Type: whatever is accepted is application/json (any case) before
  // its parameters.
  if (content_type && pw::api::is_json_content_type(*content_type)) {
    std::string media = content_type->substr(0, content_type->find(';'));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.erase(0, 1);
    for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (media != "application/json") fail("Content-Type '" + *content_type + "' accepted");
  }
  return 0;
}
