#include "http/request_id.hpp"

#include <array>
#include <cstdint>
#include <random>

#include "crypto/digest.hpp"

namespace pw::http {
namespace {

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view text) { return text.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> trace_id_from_traceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags; only version 00 is defined.
  if (header.size() != 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') {
    return std::nullopt;
  }
  std::string_view version = header.substr(0, 2);
  std::string_view trace_id = header.substr(3, 32);
  std::string_view parent_id = header.substr(36, 16);
  std::string_view flags = header.substr(53, 2);
  if (version != "00" || !is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags) ||
      all_zero(trace_id) || all_zero(parent_id)) {
    return std::nullopt;
  }
  return std::string(trace_id);
}

// Request ids must be unique and look like W3C trace ids; they are not
// secrets (every response echoes its own). So each thread draws from its own
// generator, seeded once from the system's secure source, instead of
// taking OpenSSL's generator lock on every request.
std::string generate_request_id() {
  thread_local std::mt19937_64 generator = [] {
    const auto seed_hex = crypto::random_hex(32);
    std::array<std::uint32_t, 8> seed{};
    for (std::size_t i = 0; i < seed.size(); ++i) {
      seed[i] = static_cast<std::uint32_t>(std::stoul(seed_hex.substr(i * 8, 8), nullptr, 16));
    }
    std::seed_seq sequence(seed.begin(), seed.end());
    return std::mt19937_64(sequence);
  }();
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  do {  // an all-zero trace id is invalid
    high = generator();
    low = generator();
  } while (high == 0 && low == 0);
  for (int i = 0; i < 16; ++i) {
    id[static_cast<std::size_t>(15 - i)] = kDigits[(high >> (4 * i)) & 0xf];
    id[static_cast<std::size_t>(31 - i)] = kDigits[(low >> (4 * i)) & 0xf];
  }
  return id;
}

std::string choose_request_id(std::string_view x_request_id, std::string_view traceparent) {
  if (is_valid_request_id(x_request_id)) return std::string(x_request_id);
  if (auto trace = trace_id_from_traceparent(traceparent)) return *trace;
  return generate_request_id();
}

}  // namespace pw::http
