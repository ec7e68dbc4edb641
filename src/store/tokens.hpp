// A user's bearer tokens: what the product stores about them, one driver
// each like Store (store/sqlite/, store/postgres/). Like Store, no method
// opens a transaction; database errors propagate as db::Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/records.hpp"

namespace pw::store {

// What a user sees of a token: never the secret, nor its hash.
struct Token {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string name;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> last_used_at_ms;
  std::optional<std::int64_t> expires_at_ms;
};

struct NewToken {
  std::int64_t user_id = 0;
  std::string name;
  std::string token_hash;
  std::optional<std::int64_t> expires_at_ms;
};

// last_used_at is refreshed at most this often, so that reading with a token
// is not a write on every request.
inline constexpr std::int64_t token_use_resolution_ms = 60 * 1000;

class Tokens {
 public:
  virtual ~Tokens() = default;

  virtual Token create(const NewToken& token, std::int64_t now_ms) = 0;
  // The user's tokens, expired ones included, in id order.
  virtual Page<Token> list(std::int64_t user_id, std::int64_t after_id, int limit) = 0;
  virtual std::int64_t count(std::int64_t user_id) = 0;
  // Deletes the user's token: false when the user has no such token
  // (another user's token included).
  virtual bool revoke(std::int64_t user_id, std::int64_t token_id) = 0;
  // Records a use at now_ms unless one within token_use_resolution_ms is
  // recorded already; writes nothing then.
  virtual void record_use(const Token& token, std::int64_t now_ms) = 0;
};

}  // namespace pw::store
