-- Uniqueness windows (NewJob::unique, docs/job-queue.md): the key a job was
-- enqueued under, NULL for jobs enqueued without one (almost all of them).
--
-- An enqueue with a window asks "is there a job of this type and key, in one
-- of these states, created after this instant?" before it inserts, in the
-- same write transaction. jobs_unique answers that with one seek per state
-- asked for: key and type first (equality), state next (the IN list of the
-- window's states), created_at last (the range). Partial: jobs without a key
-- cost the index nothing, so the common enqueue, claim and settle write no
-- entry here. A keyed job's entry moves with its state, which is why state
-- is in the key rather than read from the table row.
--
-- Not a unique index: the window is the enqueuer's (a duration, a set of
-- states), so which rows conflict changes with time and from one enqueue to
-- the next, which no index predicate can express.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
CREATE INDEX jobs_unique ON jobs (unique_key, type, state, created_at) WHERE unique_key IS NOT NULL;
