-- The durable job table on PostgreSQL: the same columns, states and meaning
-- as migrations/sqlite/0001_jobs.sql (read it for each column). Times are
-- bigint milliseconds since the Unix epoch, as on SQLite, but the job SQL
-- takes "now" from the server's clock, never a host's: leases and due times
-- then mean the same to workers on hosts whose clocks disagree.
--
-- The server's time in those milliseconds (now(): the transaction's start,
-- so every row a transaction writes carries the same instant).
CREATE FUNCTION pw_now_ms() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$;

-- bigserial (a sequence): a pruned job's id is never handed out again.
CREATE TABLE jobs (
  id               bigserial PRIMARY KEY,
  type             text      NOT NULL,
  payload          text      NOT NULL DEFAULT '{}',  -- JSON text, checked before insert
  trace_id         text,
  user_id          bigint,
  priority         integer   NOT NULL DEFAULT 0,
  state            text      NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'canceled')),
  attempts         integer   NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer   NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
  run_at           bigint    NOT NULL,
  lease_owner      text,
  lease_expires_at bigint,
  last_error       text,
  result           text,
  idempotency_key  text,
  created_at       bigint    NOT NULL,
  updated_at       bigint    NOT NULL,
  started_at       bigint,
  finished_at      bigint
)
-- A hot queue table: every job is inserted, updated two or three times and
-- deleted by pruning. Room left on each page (fillfactor) lets an update
-- stay on its page (a HOT update: no new index entries when no indexed
-- column changes), and autovacuum starts after a fixed number of dead rows
-- rather than a fifth of the table, so dead rows are reclaimed within
-- seconds under a burn-down instead of piling up by the million.
WITH (fillfactor = 70,
      autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
      autovacuum_vacuum_insert_scale_factor = 0.0, autovacuum_vacuum_insert_threshold = 20000,
      autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 10000,
      autovacuum_vacuum_cost_delay = 0);

-- The partial indexes of the SQLite schema, for the same reasons: only rows
-- that can still change state are indexed for the worker's hot paths.
CREATE INDEX jobs_ready ON jobs (priority, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_due ON jobs (run_at, type) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
