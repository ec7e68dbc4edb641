-- Indexes for the operator console (/admin): it lists jobs newest first by
-- state, type, trace id, creation time and error text, counts them by type
-- and state, and charts finished jobs per minute, on tables of millions of
-- jobs. The same indexes as on SQLite, for the same questions, but one
-- (jobs_finished_counts, see below).
--
-- What they cost the worker's hot path differs from SQLite: every claim,
-- renew and settle changes a column an index already covers (state,
-- lease_expires_at), so those updates are never HOT and PostgreSQL adds an
-- entry to EVERY index whose predicate the new row version meets, changed
-- column or not. So each full index here (jobs_type, jobs_created, and
-- jobs_trace for jobs with a trace id) costs one index insertion per claim,
-- renew and settle, until vacuum removes the dead entries. The partial ones
-- (jobs_stopped, jobs_errors) cost only for the rows in them: dead or
-- canceled, failed.

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
-- ones are in jobs_ready/jobs_due and jobs_leases.
CREATE INDEX jobs_stopped ON jobs (state, id) WHERE state = 'dead' OR state = 'canceled';

-- "The newest jobs whose last error contains X" (a substring: no index can
-- find it, but only jobs that ever failed are searched).
CREATE INDEX jobs_errors ON jobs (id) WHERE last_error IS NOT NULL;

-- "How many jobs of each type and state" (counts()) has no index of its own
-- here, unlike on SQLite: PostgreSQL counts a million rows with a parallel
-- sequential scan about as fast as with an index-only scan of such an index
-- (measured: 0.39 s against 0.30 s), and its planner picks the scan, so the
-- index would only cost every settle an entry.

-- "How many jobs finished per minute and state lately" (finished_per_minute):
-- jobs_finished gains state, so a range of it answers without table rows.
-- Pruning walks it by finished_at as before.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at, state) WHERE finished_at IS NOT NULL;
