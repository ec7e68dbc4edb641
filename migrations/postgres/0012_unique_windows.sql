-- Uniqueness windows: the key a job was enqueued under (NULL for jobs
-- enqueued without one) and the partial index an enqueue's check seeks in,
-- as on SQLite (read migrations/sqlite/0012_unique_windows.sql for the
-- column order and why it is not a unique index). Concurrent enqueues of
-- one key are serialised by a transaction-scoped advisory lock taken before
-- the check (queue/postgres_job_queue.cpp), not by this index.
ALTER TABLE jobs ADD COLUMN unique_key text;
CREATE INDEX jobs_unique ON jobs (unique_key, type, state, created_at) WHERE unique_key IS NOT NULL;
