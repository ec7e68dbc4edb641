-- The holdings triggers of migration 0009 ran their body for every job
-- that started or stopped being able to run: two UPDATEs that open cursors
-- on worlds, users and simulations and build a list of ids, for nothing
-- when the job runs no simulation (most jobs). That was about a sixth of
-- the worker's time per job when the jobs are quick. Their WHEN now asks
-- the pending-simulations index first, one seek; the body is as before.
DROP TRIGGER jobs_holdings_state;
DROP TRIGGER jobs_holdings_delete;

CREATE TRIGGER jobs_holdings_state AFTER UPDATE OF state ON jobs
WHEN (OLD.state = 'queued' OR OLD.state = 'running') <> (NEW.state = 'queued' OR NEW.state = 'running')
  AND EXISTS (SELECT 1 FROM simulations WHERE job_id = NEW.id AND completed_at IS NULL)
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
WHEN (OLD.state = 'queued' OR OLD.state = 'running')
  AND EXISTS (SELECT 1 FROM simulations WHERE job_id = OLD.id AND completed_at IS NULL)
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
