-- Operator controls per job type: a pause and a rate limit, read and kept
-- by every claim in its own write transaction, so all workers of all hosts
-- obey one stored answer (no worker's memory decides). A type with no row
-- has neither; a row is deleted once it holds neither.
--
-- Whole numbers only (rates in thousandths, tokens in millionths): the
-- values then mean the same on both drivers and `migrate copy` carries them
-- exactly. The integer id is for the copy too, which pages by one.
--
--   paused            1: claims (and the completer's refills) take no job of
--                     the type. Running jobs finish; queued ones wait.
--   rate_per_1000s    at most this many claims of the type per 1000 seconds
--                     (jobs per second x 1000) across all workers, or NULL
--                     for no limit.
--   token_millionths, refilled_at   the token bucket behind the limit: that
--                     many millionths of a job could be claimed at
--                     `refilled_at` (ms). It refills at the rate up to a
--                     tenth of a second's worth (at least one job), so a
--                     burst after a quiet spell stays small and the rate
--                     over any second stays close to the limit. Written by
--                     the claims that spend it, under the claim's write lock.
--   held              1: the last claim that looked left ready jobs of the
--                     type for want of tokens; next_due_ms then names the
--                     moment the next token arrives, so an idle worker comes
--                     back for them then, without a commit to wake it.
--   updated_at        when an operator last changed the row (ms).
CREATE TABLE job_type_controls (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  type             TEXT    NOT NULL UNIQUE,
  paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  rate_per_1000s   INTEGER CHECK (rate_per_1000s IS NULL OR rate_per_1000s > 0),
  token_millionths INTEGER NOT NULL DEFAULT 0,
  refilled_at      INTEGER NOT NULL DEFAULT 0,
  held             INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
  updated_at       INTEGER NOT NULL
);
