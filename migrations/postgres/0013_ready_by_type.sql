-- Claims that pass over some job types (a worker holding a type's limit,
-- paused and rate-limited types; docs/job-queue.md) lock and read the ready
-- jobs of each other type from here, in claim order within the type (one
-- LATERAL subquery per type), and merge them. Walking jobs_ready instead
-- passes every queued row of the skipped types, and those rows collect at
-- the head of the line (they are the oldest), so each such claim cost more
-- the longer the type stayed full. The types themselves are found by a
-- recursive query seeking from one to the next here (a handful of index
-- probes, not a scan).
--
-- It takes over from jobs_due (run_at, type), so that enqueues and claims
-- keep writing the same number of index entries: the counts per type read
-- it instead, and the next run_at is the least of each priority's first
-- entry in jobs_ready (src/queue/postgres_job_queue.cpp).
CREATE INDEX jobs_ready_by_type ON jobs (type, priority, run_at, id) WHERE state = 'queued';
DROP INDEX jobs_due;
