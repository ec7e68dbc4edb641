#include "store/postgres/read_page.hpp"
#include "store/postgres/store.hpp"

namespace pw::store {

using db::postgres::Params;
using db::postgres::Rows;

namespace {

const std::string kTokenColumns = "id, user_id, name, created_at, last_used_at, expires_at";

Token read_token(const Rows& rows, int row) {
  Token token;
  token.id = rows.int64(row, 0);
  token.user_id = rows.int64(row, 1);
  token.name = rows.text(row, 2);
  token.created_at_ms = rows.int64(row, 3);
  token.last_used_at_ms = rows.optional_int64(row, 4);
  token.expires_at_ms = rows.optional_int64(row, 5);
  return token;
}

}  // namespace

Token PostgresTokens::create(const NewToken& token, std::int64_t now_ms) {
  auto inserted = m_connection.prepared(
      "store_create_token",
      "INSERT INTO tokens (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
      Params().add(token.user_id).add(token.name).add(token.token_hash).add(now_ms).add(token.expires_at_ms));
  return Token{inserted.int64(0, 0), token.user_id, token.name, now_ms, std::nullopt, token.expires_at_ms};
}

Page<Token> PostgresTokens::list(std::int64_t user_id, std::int64_t after_id, int limit) {
  static const std::string sql =
      "SELECT " + kTokenColumns + " FROM tokens WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3";
  auto rows = m_connection.prepared("store_list_tokens", sql, Params().add(user_id).add(after_id).add(limit + 1));
  return read_page<Token>(rows, limit, read_token, [](const Token& t) { return t.id; });
}

std::int64_t PostgresTokens::count(std::int64_t user_id) {
  return m_connection
      .prepared("store_count_tokens", "SELECT COUNT(*) FROM tokens WHERE user_id = $1", Params().add(user_id))
      .int64(0, 0);
}

bool PostgresTokens::revoke(std::int64_t user_id, std::int64_t token_id) {
  return m_connection
             .prepared("store_revoke_token", "DELETE FROM tokens WHERE id = $1 AND user_id = $2",
                       Params().add(token_id).add(user_id))
             .affected() > 0;
}

void PostgresTokens::record_use(const Token& token, std::int64_t now_ms) {
  // Decided on the row as read, as on SQLite: a request that reads with a
  // fresh token writes nothing, so it neither locks the row nor leaves a
  // dead row version behind.
  if (token.last_used_at_ms && now_ms - *token.last_used_at_ms < token_use_resolution_ms) return;
  m_connection.prepared("store_record_token_use", "UPDATE tokens SET last_used_at = $1 WHERE id = $2",
                        Params().add(now_ms).add(token.id));
}

}  // namespace pw::store
