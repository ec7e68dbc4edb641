// A user's bearer tokens: every SQL statement about the tokens table. Like
// Store, no method opens a transaction; SQLite errors propagate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/connection.hpp"
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
  explicit Tokens(db::Connection& connection) : m_connection(connection) {}

  Token create(const NewToken& token, std::int64_t now_ms);
  // The user's tokens, expired ones included, in id order.
  Page<Token> list(std::int64_t user_id, std::int64_t after_id, int limit);
  std::int64_t count(std::int64_t user_id);
  // Deletes the user's token: false when the user has no such token
  // (another user's token included).
  bool revoke(std::int64_t user_id, std::int64_t token_id);
  // Records a use at now_ms unless one within token_use_resolution_ms is
  // recorded already; writes nothing then.
  void record_use(const Token& token, std::int64_t now_ms);

 private:
  db::Connection& m_connection;
};

}  // namespace pw::store
