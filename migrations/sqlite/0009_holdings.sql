-- What the per-user limits count, kept on the rows they are counted for, so
-- a POST reads one row instead of adding up every simulation of its world
-- and user (which grew with the world's history and with the queue: 100,000
-- pending simulations made every request read 100,000 rows).
--
--   worlds.events_written    SUM(simulations.events_written) of the world
--   worlds.reserved_events   SUM(MAX(0, max_events - events_written)) of its
--                            simulations not completed whose job is queued
--                            or running (what they may still write)
--   users.pending_simulations  COUNT of the user's simulations not completed
--                            whose job is queued or running
--   users.live_worlds        COUNT of the user's worlds not deleted (kept by
--                            the store: create_world, mark_world_deleted)
--
-- The meaning is unchanged (see 0004_fair_share.sql): a simulation counts
-- while its job can still run, so a job that goes dead, is canceled or is
-- pruned gives its share back by itself, and a dead job retried by hand
-- takes it again. The triggers below keep the sums exact whichever
-- statement changes a simulation or its job's state, in the same
-- transaction. A job is never referenced before it is inserted (ids are
-- never reused), so inserting a job changes nothing. A table rebuild (as
-- 0003 did to jobs) must create these triggers again.
ALTER TABLE worlds ADD COLUMN events_written INTEGER NOT NULL DEFAULT 0;
ALTER TABLE worlds ADD COLUMN reserved_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pending_simulations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN live_worlds INTEGER NOT NULL DEFAULT 0;

-- A job's pending simulations, for the job triggers.
CREATE INDEX simulations_pending_job ON simulations (job_id) WHERE completed_at IS NULL;

UPDATE worlds SET
  events_written = (SELECT COALESCE(SUM(s.events_written), 0) FROM simulations AS s WHERE s.world_id = worlds.id),
  reserved_events = (SELECT COALESCE(SUM(MAX(0, s.max_events - s.events_written)), 0)
                     FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id
                     WHERE s.world_id = worlds.id AND s.completed_at IS NULL
                       AND (j.state = 'queued' OR j.state = 'running'));
UPDATE users SET
  pending_simulations = (SELECT COUNT(*) FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id
                         WHERE s.user_id = users.id AND s.completed_at IS NULL
                           AND (j.state = 'queued' OR j.state = 'running')),
  live_worlds = (SELECT COUNT(*) FROM worlds AS w WHERE w.user_id = users.id AND w.deleted_at IS NULL);

-- A simulation's share: taken out as the row was, put back as it is. Only
-- job_id, events_written, max_events and completed_at change a share. A
-- simulation is inserted with nothing written and no job yet
-- (create_simulation), a share of nothing, so an insert changes no sum;
-- rows copied whole (migrate copy) come with their world's and user's sums
-- already on the rows copied before them.
-- A simulation never moves to another world or user.
CREATE TRIGGER simulations_holdings_update
AFTER UPDATE OF job_id, events_written, max_events, completed_at ON simulations
BEGIN
  UPDATE worlds SET
    events_written = events_written + NEW.events_written - OLD.events_written,
    reserved_events = reserved_events +
      (CASE WHEN NEW.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = NEW.job_id
                                                      AND (state = 'queued' OR state = 'running'))
            THEN MAX(0, NEW.max_events - NEW.events_written) ELSE 0 END) -
      (CASE WHEN OLD.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id
                                                      AND (state = 'queued' OR state = 'running'))
            THEN MAX(0, OLD.max_events - OLD.events_written) ELSE 0 END)
  WHERE id = NEW.world_id;
  UPDATE users SET pending_simulations = pending_simulations +
    (NEW.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = NEW.job_id
                                          AND (state = 'queued' OR state = 'running'))) -
    (OLD.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id
                                          AND (state = 'queued' OR state = 'running')))
  WHERE id = NEW.user_id AND
    (NEW.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = NEW.job_id
                                          AND (state = 'queued' OR state = 'running'))) <>
    (OLD.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id
                                          AND (state = 'queued' OR state = 'running')));
END;

CREATE TRIGGER simulations_holdings_delete AFTER DELETE ON simulations
BEGIN
  UPDATE worlds SET
    events_written = events_written - OLD.events_written,
    reserved_events = reserved_events -
      (CASE WHEN OLD.completed_at IS NULL AND EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id
                                                      AND (state = 'queued' OR state = 'running'))
            THEN MAX(0, OLD.max_events - OLD.events_written) ELSE 0 END)
  WHERE id = OLD.world_id;
  UPDATE users SET pending_simulations = pending_simulations - 1
  WHERE id = OLD.user_id AND OLD.completed_at IS NULL
    AND EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id AND (state = 'queued' OR state = 'running'));
END;

-- A job that starts or stops being able to run (queued or running on one
-- side, succeeded, dead or canceled on the other) gives or takes the share
-- of the simulations it runs. Claims (queued -> running) change nothing and
-- skip the body; a job that runs no simulation finds none in the index.
CREATE TRIGGER jobs_holdings_state AFTER UPDATE OF state ON jobs
WHEN (OLD.state = 'queued' OR OLD.state = 'running') <> (NEW.state = 'queued' OR NEW.state = 'running')
BEGIN
  UPDATE worlds SET reserved_events = reserved_events +
    (CASE WHEN NEW.state = 'queued' OR NEW.state = 'running' THEN 1 ELSE -1 END) *
    (SELECT COALESCE(SUM(MAX(0, s.max_events - s.events_written)), 0) FROM simulations AS s
     WHERE s.job_id = NEW.id AND s.completed_at IS NULL AND s.world_id = worlds.id)
  WHERE id IN (SELECT world_id FROM simulations WHERE job_id = NEW.id AND completed_at IS NULL);
  UPDATE users SET pending_simulations = pending_simulations +
    (CASE WHEN NEW.state = 'queued' OR NEW.state = 'running' THEN 1 ELSE -1 END) *
    (SELECT COUNT(*) FROM simulations AS s
     WHERE s.job_id = NEW.id AND s.completed_at IS NULL AND s.user_id = users.id)
  WHERE id IN (SELECT user_id FROM simulations WHERE job_id = NEW.id AND completed_at IS NULL);
END;

CREATE TRIGGER jobs_holdings_delete AFTER DELETE ON jobs
WHEN OLD.state = 'queued' OR OLD.state = 'running'
BEGIN
  UPDATE worlds SET reserved_events = reserved_events -
    (SELECT COALESCE(SUM(MAX(0, s.max_events - s.events_written)), 0) FROM simulations AS s
     WHERE s.job_id = OLD.id AND s.completed_at IS NULL AND s.world_id = worlds.id)
  WHERE id IN (SELECT world_id FROM simulations WHERE job_id = OLD.id AND completed_at IS NULL);
  UPDATE users SET pending_simulations = pending_simulations -
    (SELECT COUNT(*) FROM simulations AS s
     WHERE s.job_id = OLD.id AND s.completed_at IS NULL AND s.user_id = users.id)
  WHERE id IN (SELECT user_id FROM simulations WHERE job_id = OLD.id AND completed_at IS NULL);
END;
