-- Every claim of a job gets its own fencing token, and the job table refuses
-- values of the wrong type.
--
-- `claim` counts the claims of a job over its whole life: each claim adds 1,
-- and nothing else changes it (a retry resets `attempts`, never `claim`).
-- A worker's every later change to the job (renew, complete, fail, release)
-- is guarded by state = 'running' AND claim = <the claim it holds>, so a run
-- whose lease lapsed, or that was canceled and retried, can never record its
-- outcome over a newer claim's, even under the same worker id.
--
-- STRICT: an INTEGER column holds integers only (an operator's hand-written
-- run_at = 'soon' is refused instead of making every idle worker spin on a
-- row no claim can take). Existing rows are kept: values of the wrong type
-- are converted (an integer column's text becomes its integer value, or 0:
-- due at once). The table is rebuilt (SQLite cannot make a table STRICT in
-- place); its AUTOINCREMENT sequence and every index are carried over.
CREATE TABLE jobs_strict (
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
  finished_at      INTEGER,  -- set exactly when state is succeeded, dead or canceled
  claim            INTEGER NOT NULL DEFAULT 0 CHECK (claim >= 0)  -- claims so far: the fencing token
) STRICT;

INSERT INTO jobs_strict (id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts, run_at,
                         lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at,
                         updated_at, started_at, finished_at, claim)
SELECT id, CAST(type AS TEXT), CAST(payload AS TEXT), CAST(trace_id AS TEXT), CAST(user_id AS INTEGER),
       CAST(priority AS INTEGER), CAST(state AS TEXT), max(0, CAST(attempts AS INTEGER)),
       max(1, CAST(max_attempts AS INTEGER)), CAST(run_at AS INTEGER), CAST(lease_owner AS TEXT),
       CAST(lease_expires_at AS INTEGER), CAST(last_error AS TEXT), CAST(result AS TEXT),
       CAST(idempotency_key AS TEXT), CAST(created_at AS INTEGER), CAST(updated_at AS INTEGER),
       CAST(started_at AS INTEGER), CAST(finished_at AS INTEGER),
       -- A running job's current claim is 1, so its worker's guard (which
       -- reads the token back from the row) keeps matching.
       CASE WHEN state = 'running' THEN 1 ELSE 0 END
FROM jobs;

-- Ids are never handed out again: the new table continues the old sequence,
-- past ids of pruned jobs included.
DELETE FROM sqlite_sequence WHERE name = 'jobs_strict';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_strict', seq FROM sqlite_sequence WHERE name = 'jobs';

DROP TABLE jobs;
ALTER TABLE jobs_strict RENAME TO jobs;

-- The indexes of 0001_jobs.sql, unchanged (see there for why each exists).
CREATE INDEX jobs_ready ON jobs (priority, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_due ON jobs (run_at, type) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
