-- The durable job table. Times are integer milliseconds since the Unix epoch.
--
-- States: queued -> running -> succeeded; a failed attempt goes back to
-- queued (run_at pushed out by the backoff) until max_attempts, then dead;
-- canceled on request. `attempts` counts claims, including the running one.
-- `lease_owner` is the worker holding a running job (kept on finished jobs as
-- the one that finished it); every state change made by a worker is guarded
-- by state = 'running' AND lease_owner = <itself>.
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  type             TEXT    NOT NULL,
  payload          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
  trace_id         TEXT,
  user_id          INTEGER,
  priority         INTEGER NOT NULL DEFAULT 0,
  state            TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'canceled')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     INTEGER NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
  run_at           INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  last_error       TEXT,
  result           TEXT,
  idempotency_key  TEXT UNIQUE,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  started_at       INTEGER,  -- when the latest attempt was claimed
  finished_at      INTEGER   -- set exactly when state is succeeded, dead or canceled
);

-- Claiming walks this partial index in claim order and never touches
-- finished rows, however many there are.
CREATE INDEX jobs_ready ON jobs (priority, run_at, id) WHERE state = 'queued';
-- When does the next scheduled job come due (min(run_at) over queued jobs)?
-- Lets an idle worker sleep until then instead of polling for it.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
-- Expired leases of crashed workers, and the next lease to expire.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
-- Counting by state and type (queue depth, oldest ready job, operator listings).
CREATE INDEX jobs_state_type ON jobs (state, type, run_at);
-- Pruning old finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
