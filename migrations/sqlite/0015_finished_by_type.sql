-- Every job that finishes wrote an entry into two indexes of finished
-- jobs: jobs_finished (finished_at, state) and jobs_finished_counts (type,
-- state, finished_at). The second answers all the first did: pruning and
-- the console's per-minute counts now read it one (type, state) range at a
-- time, the types found by seeking from one to the next
-- (src/queue/job_queue.cpp). One b-tree fewer per finished job.
DROP INDEX jobs_finished;
