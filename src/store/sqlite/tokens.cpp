#include "store/sqlite/store.hpp"

#include "db/statement.hpp"
#include "store/sqlite/read_page.hpp"

namespace pw::store {
namespace {

constexpr const char* kTokenColumns = "id, user_id, name, created_at, last_used_at, expires_at";

Token read_token(const db::Statement& query) {
  Token token;
  token.id = query.int64(0);
  token.user_id = query.int64(1);
  token.name = query.text(2);
  token.created_at_ms = query.int64(3);
  token.last_used_at_ms = query.optional_int64(4);
  token.expires_at_ms = query.optional_int64(5);
  return token;
}

}  // namespace

Token SqliteTokens::create(const NewToken& token, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  db::Statement insert(m_connection,
                       "INSERT INTO tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, token.user_id);
  insert.bind(2, token.name);
  insert.bind(3, token.token_hash);
  insert.bind(4, now_ms);
  insert.bind(5, token.expires_at_ms);
  insert.exec();
  return Token{m_connection.last_insert_rowid(), token.user_id, token.name, now_ms, std::nullopt,
               token.expires_at_ms};
}

Page<Token> SqliteTokens::list(std::int64_t user_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, std::string("SELECT ") + kTokenColumns +
                                        " FROM tokens WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, user_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  return read_page<Token>(query, limit, read_token, [](const Token& t) { return t.id; });
}

std::int64_t SqliteTokens::count(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  db::Statement query(m_connection, "SELECT COUNT(*) FROM tokens WHERE user_id = ?");
  query.bind(1, user_id);
  query.step();
  return query.int64(0);
}

bool SqliteTokens::revoke(std::int64_t user_id, std::int64_t token_id) {
  auto timer = m_connection.time_query();
  db::Statement remove(m_connection, "DELETE FROM tokens WHERE id = ? AND user_id = ?");
  remove.bind(1, token_id);
  remove.bind(2, user_id);
  return remove.exec() > 0;
}

void SqliteTokens::record_use(const Token& token, std::int64_t now_ms) {
  // Decided on the row as read, not by the UPDATE's WHERE: an UPDATE takes
  // the write lock even when it changes nothing.
  if (token.last_used_at_ms && now_ms - *token.last_used_at_ms < token_use_resolution_ms) return;
  auto timer = m_connection.time_query();
  db::Statement update(m_connection, "UPDATE tokens SET last_used_at = ? WHERE id = ?");
  update.bind(1, now_ms);
  update.bind(2, token.id);
  update.exec();
}

}  // namespace pw::store
