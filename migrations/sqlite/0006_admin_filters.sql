-- Indexes for the operator console (/admin): it lists jobs newest first by
-- state, type, trace id, creation time and error text, counts them by type
-- and state, and charts finished jobs per minute, on tables of millions of
-- jobs.
--
-- The worker's hot path (claim: queued -> running; settle: running -> a
-- final state) must not pay for them. SQLite rewrites an index entry only
-- when an UPDATE changes one of its columns or a column of its WHERE clause,
-- so:
-- - type, trace_id and created_at never change after insert: indexes on
--   them cost one entry per insert and per delete (prune), nothing per claim
--   or settle;
-- - anything on state is partial, over states a job rarely enters (dead,
--   canceled) or over finished rows only (one entry added per settle, none
--   per claim, like jobs_finished already);
-- - still no index on state as a whole (see 0001_jobs.sql).

-- "The newest jobs of type X" (list with type, and bulk actions by type).
CREATE INDEX jobs_type ON jobs (type, id);

-- "The jobs of request X" (list by trace id). Jobs enqueued without one
-- cost no entry.
CREATE INDEX jobs_trace ON jobs (trace_id, id) WHERE trace_id IS NOT NULL;

-- "The jobs created between A and B" (list by creation time).
CREATE INDEX jobs_created ON jobs (created_at);

-- "The newest dead (or canceled) jobs" (list by state, and bulk retry, which
-- acts on exactly these states). Succeeded jobs need no index: they are most
-- rows, so walking ids newest first finds them at once; queued and running
-- ones are in jobs_ready/jobs_due and jobs_leases. A job enters this index
-- only when it dies or is canceled.
CREATE INDEX jobs_stopped ON jobs (state, id) WHERE state = 'dead' OR state = 'canceled';

-- "The newest jobs whose last error contains X" (a substring: no index can
-- find it, but only jobs that ever failed are searched). last_error is set
-- only by a failure or a lapsed lease, never by a claim or a success.
CREATE INDEX jobs_errors ON jobs (id) WHERE last_error IS NOT NULL;

-- "How many finished jobs of each type and state" (counts()): answered from
-- this index alone, in group order, without reading a table row. Queued jobs
-- are counted from jobs_due (which holds type), running ones (few) through
-- jobs_leases. One entry per settle, none per claim. finished_at is in the
-- key only so that SQLite sees the index covers the query's WHERE clause.
CREATE INDEX jobs_finished_counts ON jobs (type, state, finished_at) WHERE finished_at IS NOT NULL;

-- "How many jobs finished per minute and state lately" (finished_per_minute):
-- jobs_finished gains state, so a range of it answers without table rows.
-- finished_at and state change together, so the entry costs what it did;
-- pruning walks it by finished_at as before.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at, state) WHERE finished_at IS NOT NULL;
