-- The durable job table. Times are integer milliseconds since the Unix epoch.
--
-- States: queued -> running -> succeeded; a failed attempt goes back to
-- queued (run_at pushed out by the backoff) until max_attempts, then dead;
-- canceled on request. `attempts` counts claims, including the running one.
-- `lease_owner` is the worker holding a running job (kept on finished jobs as
-- the one that finished it); every state change made by a worker is guarded
-- by state = 'running' AND lease_owner = <itself>.
--
-- AUTOINCREMENT: a pruned job's id is never handed out again, so a client
-- still polling GET /v1/jobs/{id} for it gets 404, never another job.
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  type             TEXT    NOT NULL,
  payload          TEXT    NOT NULL DEFAULT '{}',  -- JSON text, checked by JobQueue before insert
  trace_id         TEXT,
  user_id          INTEGER,
  priority         INTEGER NOT NULL DEFAULT 0,
  state            TEXT    NOT NULL DEFAULT 'queued'
                   -- ORs, not IN (...): SQLite builds a temporary table for an IN
                   -- list on every insert, which halves the enqueue rate.
                   CHECK (state = 'queued' OR state = 'running' OR state = 'succeeded' OR
                          state = 'dead' OR state = 'canceled'),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     INTEGER NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
  run_at           INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  last_error       TEXT,
  result           TEXT,
  idempotency_key  TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  started_at       INTEGER,  -- when the latest attempt was claimed
  finished_at      INTEGER   -- set exactly when state is succeeded, dead or canceled
);

-- Only rows that can still change state are indexed for the worker's hot
-- paths (partial indexes): a million finished jobs cost claims nothing, and
-- each state change touches few index entries.

-- Claiming walks this index in claim order.
CREATE INDEX jobs_ready ON jobs (priority, run_at, id) WHERE state = 'queued';
-- The other question asked of queued jobs, by time: when does the next
-- scheduled one come due (an idle worker sleeps until then instead of
-- polling), and per type how many are ready and since when (queue depth and
-- oldest ready age, read at metrics scrape time).
CREATE INDEX jobs_due ON jobs (run_at, type) WHERE state = 'queued';
-- Expired leases of crashed workers, and the next lease to expire.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
-- Pruning old finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Idempotency keys are unique where given; jobs without one cost no entry.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- No index on state as a whole on purpose: every transition would update
-- it. Listing by state walks the partial indexes above or the ids, newest
-- first; counting all states is a table scan (operators only).
