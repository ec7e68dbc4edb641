-- Every claim of a job gets its own fencing token (see
-- migrations/sqlite/0003_job_claims.sql for what it guards). PostgreSQL's
-- columns are typed already, so unlike SQLite nothing is rebuilt: the column
-- is added in place, a running job's current claim being 1.
ALTER TABLE jobs ADD COLUMN claim bigint NOT NULL DEFAULT 0 CHECK (claim >= 0);
UPDATE jobs SET claim = 1 WHERE state = 'running';
