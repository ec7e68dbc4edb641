#include "api/auth.hpp"

#include <algorithm>
#include <cctype>

#include "api/input.hpp"
#include "crypto/digest.hpp"
#include "db/error.hpp"

namespace pw::api {
namespace {

constexpr std::string_view kPrefix = "pw_";
constexpr std::size_t kTokenBytes = 32;

}  // namespace

std::string new_token() { return std::string(kPrefix) + crypto::random_hex(kTokenBytes); }

std::string token_hash(std::string_view token) { return crypto::sha256_hex(token); }

bool is_well_formed_token(std::string_view token) {
  if (token.size() != kPrefix.size() + 2 * kTokenBytes || !token.starts_with(kPrefix)) return false;
  return std::all_of(token.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()), token.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return std::nullopt;
  }
  std::string_view token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

store::Store::Credential authenticate_token(const http::Request& request, storage::Session& session,
                                            std::int64_t now_ms) {
  if (!request.has_header("authorization")) {
    throw Refusal(401, "unauthorized", "missing Authorization: Bearer <token>");
  }
  auto token = bearer_token(request.header("authorization"));
  if (!token || !is_well_formed_token(*token)) {
    throw Refusal(401, "invalid_token", "the Authorization header does not carry a valid bearer token");
  }
  const std::string hash = token_hash(*token);
  auto credential = session.store().find_credential(hash);
  // The lookup goes through an index on the hash; the final comparison is in
  // constant time all the same, so no timing depends on a stored secret.
  if (!credential || !crypto::constant_time_equal(credential->token_hash, hash)) {
    throw Refusal(401, "invalid_token", "the bearer token is not valid");
  }
  if (credential->token.expires_at_ms && *credential->token.expires_at_ms <= now_ms) {
    throw Refusal(401, "invalid_token", "the bearer token has expired");
  }
  request.user_id = credential->user.id;
  try {
    session.tokens().record_use(credential->token, now_ms);
  } catch (const std::exception& e) {
    // The last-use time is advice to the user, not a condition of the
    // request: a database that cannot take the write now (busy, read-only,
    // full) must not turn a read into a failure. It is recorded next time.
    if (!db::is_unavailable(e)) throw;
  }
  return *credential;
}

store::User authenticate(const http::Request& request, storage::Session& session, std::int64_t now_ms) {
  return authenticate_token(request, session, now_ms).user;
}

}  // namespace pw::api
