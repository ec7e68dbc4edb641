// Operator tokens for /admin/v1, one driver each like Tokens
// (store/sqlite/, store/postgres/). Only their SHA-256 is stored. No method
// opens a transaction; database errors propagate as db::Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pw::store {

// What an operator sees of an admin token: never the secret, nor its hash.
struct AdminToken {
  std::int64_t id = 0;
  std::string name;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> last_used_at_ms;
};

struct AdminCredential {
  AdminToken token;
  std::string token_hash;
};

class AdminTokens {
 public:
  virtual ~AdminTokens() = default;

  virtual AdminToken create(const std::string& name, const std::string& token_hash, std::int64_t now_ms) = 0;
  // Every admin token, in id order (an operator holds a handful).
  virtual std::vector<AdminToken> list() = 0;
  // Deletes the token: false when there is none with that id.
  virtual bool revoke(std::int64_t id) = 0;
  virtual std::optional<AdminCredential> find(const std::string& token_hash) = 0;
  // Whether any admin token exists: the console is on while one does.
  virtual bool any() = 0;
  // Records a use at now_ms unless one within token_use_resolution_ms
  // (tokens.hpp) is recorded already; writes nothing then.
  virtual void record_use(const AdminToken& token, std::int64_t now_ms) = 0;
};

}  // namespace pw::store
