-- Bearer tokens a user manages: any number per user, each with a name, an
-- optional expiry and the time it was last used. A user's first token is
-- the one handed out at sign-up; POST /v1/tokens and the operator command
-- `personaworlds users token HANDLE` add more, DELETE /v1/tokens/{id}
-- revokes one by deleting its row. Every request looks its token up here
-- (nothing caches it), so a revocation holds at once on every API process
-- that shares the database.
CREATE TABLE tokens (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name          TEXT    NOT NULL,
  -- SHA-256 hex of the bearer token; the token itself is never stored.
  token_hash    TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  -- Refreshed at most once a minute, so reads do not become writes.
  last_used_at  INTEGER,
  -- NULL: never expires.
  expires_at    INTEGER
);
-- Authentication looks a token up by its hash.
CREATE UNIQUE INDEX tokens_hash ON tokens (token_hash);
-- A user's tokens, in id order.
CREATE INDEX tokens_user ON tokens (user_id, id);

-- Every existing user keeps the token they signed up with.
INSERT INTO tokens (user_id, name, token_hash, created_at)
  SELECT id, 'sign-up', token_hash, created_at FROM users;

DROP INDEX users_token_hash;
ALTER TABLE users DROP COLUMN token_hash;
