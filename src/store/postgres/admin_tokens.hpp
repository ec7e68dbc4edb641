// Admin tokens on PostgreSQL (store/admin_tokens.hpp), statements prepared
// once per connection (named store_admin_*).
#pragma once

#include "db/postgres/connection.hpp"
#include "store/admin_tokens.hpp"

namespace pw::store {

class PostgresAdminTokens final : public AdminTokens {
 public:
  explicit PostgresAdminTokens(db::postgres::Connection& connection) : m_connection(connection) {}

  AdminToken create(const std::string& name, const std::string& token_hash, std::int64_t now_ms) override;
  std::vector<AdminToken> list() override;
  bool revoke(std::int64_t id) override;
  std::optional<AdminCredential> find(const std::string& token_hash) override;
  bool any() override;
  void record_use(const AdminToken& token, std::int64_t now_ms) override;

 private:
  db::postgres::Connection& m_connection;
};

}  // namespace pw::store
