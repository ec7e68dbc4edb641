-- On SQLite this migration drops jobs_finished, because jobs_finished_counts
-- (type, state, finished_at) answers what it did. PostgreSQL never had
-- jobs_finished_counts (its counts scan finished rows in parallel, see
-- migration 0006), so jobs_finished stays its one index of finished jobs:
-- the numbering is shared, the change is SQLite's alone.
COMMENT ON INDEX jobs_finished IS
  'Finished jobs by finished_at: pruning and the console''s per-minute counts read it';
