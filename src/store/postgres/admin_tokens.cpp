#include "store/postgres/admin_tokens.hpp"

#include "store/tokens.hpp"

namespace pw::store {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

AdminToken read_admin_token(const Rows& rows, int row) {
  AdminToken token;
  token.id = rows.int64(row, 0);
  token.name = rows.text(row, 1);
  token.created_at_ms = rows.int64(row, 2);
  token.last_used_at_ms = rows.optional_int64(row, 3);
  return token;
}

}  // namespace

AdminToken PostgresAdminTokens::create(const std::string& name, const std::string& token_hash,
                                       std::int64_t now_ms) {
  auto inserted = m_connection.prepared(
      "store_admin_create_token",
      "INSERT INTO admin_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
      Params().add(name).add(token_hash).add(now_ms));
  return AdminToken{inserted.int64(0, 0), name, now_ms, std::nullopt};
}

std::vector<AdminToken> PostgresAdminTokens::list() {
  auto rows = m_connection.prepared("store_admin_list_tokens",
                                    "SELECT id, name, created_at, last_used_at FROM admin_tokens ORDER BY id", Params());
  std::vector<AdminToken> tokens;
  for (int row = 0; row < rows.size(); ++row) tokens.push_back(read_admin_token(rows, row));
  return tokens;
}

bool PostgresAdminTokens::revoke(std::int64_t id) {
  return m_connection
             .prepared("store_admin_revoke_token", "DELETE FROM admin_tokens WHERE id = $1", Params().add(id))
             .affected() > 0;
}

std::optional<AdminCredential> PostgresAdminTokens::find(const std::string& token_hash) {
  auto rows = m_connection.prepared(
      "store_admin_find_token",
      "SELECT id, name, created_at, last_used_at, token_hash FROM admin_tokens WHERE token_hash = $1",
      Params().add(token_hash));
  if (rows.size() == 0) return std::nullopt;
  return AdminCredential{read_admin_token(rows, 0), rows.text(0, 4)};
}

bool PostgresAdminTokens::any() {
  return m_connection
      .prepared("store_admin_any_token", "SELECT EXISTS (SELECT 1 FROM admin_tokens)", Params())
      .boolean(0, 0);
}

void PostgresAdminTokens::record_use(const AdminToken& token, std::int64_t now_ms) {
  if (token.last_used_at_ms && now_ms - *token.last_used_at_ms < token_use_resolution_ms) return;
  m_connection.prepared("store_admin_record_token_use", "UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2",
                        Params().add(now_ms).add(token.id));
}

}  // namespace pw::store
