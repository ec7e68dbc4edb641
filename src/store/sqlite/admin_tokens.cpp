#include "store/sqlite/admin_tokens.hpp"

#include "db/statement.hpp"
#include "store/tokens.hpp"

namespace pw::store {
namespace {

AdminToken read_admin_token(const db::Statement& query) {
  AdminToken token;
  token.id = query.int64(0);
  token.name = query.text(1);
  token.created_at_ms = query.int64(2);
  token.last_used_at_ms = query.optional_int64(3);
  return token;
}

}  // namespace

AdminToken SqliteAdminTokens::create(const std::string& name, const std::string& token_hash, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection, "INSERT INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)");
  insert.bind(1, name);
  insert.bind(2, token_hash);
  insert.bind(3, now_ms);
  insert.exec();
  return AdminToken{m_connection.last_insert_rowid(), name, now_ms, std::nullopt};
}

std::vector<AdminToken> SqliteAdminTokens::list() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT id, name, created_at, last_used_at FROM admin_tokens ORDER BY id");
  std::vector<AdminToken> tokens;
  while (query.step()) tokens.push_back(read_admin_token(query));
  return tokens;
}

bool SqliteAdminTokens::revoke(std::int64_t id) {
  auto timer = m_connection.time_query();
  db::Statement remove(m_connection, "DELETE FROM admin_tokens WHERE id = ?");
  remove.bind(1, id);
  return remove.exec() > 0;
}

std::optional<AdminCredential> SqliteAdminTokens::find(const std::string& token_hash) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection,
                      "SELECT id, name, created_at, last_used_at, token_hash FROM admin_tokens WHERE token_hash = ?");
  query.bind(1, token_hash);
  if (!query.step()) return std::nullopt;
  return AdminCredential{read_admin_token(query), query.text(4)};
}

bool SqliteAdminTokens::any() {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT EXISTS (SELECT 1 FROM admin_tokens)");
  query.step();
  return query.int64(0) != 0;
}

void SqliteAdminTokens::record_use(const AdminToken& token, std::int64_t now_ms) {
  // Decided on the row as read, as for user tokens: an UPDATE takes the
  // write lock even when it changes nothing.
  if (token.last_used_at_ms && now_ms - *token.last_used_at_ms < token_use_resolution_ms) return;
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE admin_tokens SET last_used_at = ? WHERE id = ?");
  update.bind(1, now_ms);
  update.bind(2, token.id);
  update.exec();
}

}  // namespace pw::store
