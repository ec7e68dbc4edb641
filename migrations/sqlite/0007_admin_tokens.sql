-- Operator tokens for /admin/v1 (the operator console): made by
-- `personaworlds admin token create`, listed by `admin token list`, revoked
-- by `admin token revoke ID` (the row is deleted). Every admin request looks
-- its token up here, and the API asks on every /admin request whether any
-- row exists (no ADMIN_TOKEN_FILE: the console is off while the table is
-- empty), so a token made or revoked while the API runs counts at once.
CREATE TABLE admin_tokens (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT    NOT NULL,
  -- SHA-256 hex of the bearer token; the token itself is never stored.
  token_hash    TEXT    NOT NULL UNIQUE,
  created_at    INTEGER NOT NULL,
  -- Refreshed at most once a minute, so reads do not become writes.
  last_used_at  INTEGER
);
