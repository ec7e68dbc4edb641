#include "store/tokens.hpp"

namespace pw::store {
namespace {

constexpr const char* kTokenColumns = "id, user_id, name, created_at, last_used_at, expires_at";

std::optional<std::int64_t> optional_int64(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

Token read_token(SQLite::Statement& query) {
  Token token;
  token.id = query.getColumn(0).getInt64();
  token.user_id = query.getColumn(1).getInt64();
  token.name = query.getColumn(2).getString();
  token.created_at_ms = query.getColumn(3).getInt64();
  token.last_used_at_ms = optional_int64(query.getColumn(4));
  token.expires_at_ms = optional_int64(query.getColumn(5));
  return token;
}

}  // namespace

Token Tokens::create(const NewToken& token, std::int64_t now_ms) {
  auto timer = m_connection.time_query();
  SQLite::Statement insert(m_connection.sql(),
                           "INSERT INTO tokens (user_id, name, token_hash, created_at, expires_at) "
                           "VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, token.user_id);
  insert.bind(2, token.name);
  insert.bind(3, token.token_hash);
  insert.bind(4, now_ms);
  if (token.expires_at_ms) {
    insert.bind(5, *token.expires_at_ms);
  } else {
    insert.bind(5);
  }
  insert.exec();
  return Token{m_connection.sql().getLastInsertRowid(), token.user_id, token.name, now_ms, std::nullopt,
               token.expires_at_ms};
}

Page<Token> Tokens::list(std::int64_t user_id, std::int64_t after_id, int limit) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), std::string("SELECT ") + kTokenColumns +
                                                  " FROM tokens WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?");
  query.bind(1, user_id);
  query.bind(2, after_id);
  query.bind(3, limit + 1);
  Page<Token> page;
  while (query.executeStep()) page.items.push_back(read_token(query));
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.pop_back();
    page.next_after = page.items.back().id;
  }
  return page;
}

std::int64_t Tokens::count(std::int64_t user_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement query(m_connection.sql(), "SELECT COUNT(*) FROM tokens WHERE user_id = ?");
  query.bind(1, user_id);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

bool Tokens::revoke(std::int64_t user_id, std::int64_t token_id) {
  auto timer = m_connection.time_query();
  SQLite::Statement remove(m_connection.sql(), "DELETE FROM tokens WHERE id = ? AND user_id = ?");
  remove.bind(1, token_id);
  remove.bind(2, user_id);
  return remove.exec() > 0;
}

void Tokens::record_use(const Token& token, std::int64_t now_ms) {
  // Decided on the row as read, not by the UPDATE's WHERE: an UPDATE takes
  // the write lock even when it changes nothing.
  if (token.last_used_at_ms && now_ms - *token.last_used_at_ms < token_use_resolution_ms) return;
  auto timer = m_connection.time_query();
  SQLite::Statement update(m_connection.sql(), "UPDATE tokens SET last_used_at = ? WHERE id = ?");
  update.bind(1, now_ms);
  update.bind(2, token.id);
  update.exec();
}

}  // namespace pw::store
