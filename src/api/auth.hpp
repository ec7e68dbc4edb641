// Bearer tokens: `pw_` + 64 hex characters (256 random bits), shown once
// when made (at sign-up, by POST /v1/tokens or `personaworlds users token`)
// and stored only as their SHA-256.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "store/records.hpp"
#include "storage/storage.hpp"
#include "store/store.hpp"

namespace pw::api {

// A fresh token from OpenSSL's generator.
std::string new_token();
// What the users table stores for a token.
std::string token_hash(std::string_view token);
// ^pw_[0-9a-f]{64}$
bool is_well_formed_token(std::string_view token);

// The token of an `Authorization: Bearer <token>` header; nothing when the
// header is absent or not of that form.
std::optional<std::string> bearer_token(std::string_view authorization);

// The caller and the token they presented, or a 401 Refusal (also for an
// expired token). Sets request.user_id for the access log, and records the
// token's use (at most once a minute). Looked up in the database on every
// request, never cached: a revoked token is refused by every API process on
// its next request.
store::Store::Credential authenticate_token(const http::Request& request, storage::Session& session,
                                            std::int64_t now_ms);
store::User authenticate(const http::Request& request, storage::Session& session, std::int64_t now_ms);

}  // namespace pw::api
