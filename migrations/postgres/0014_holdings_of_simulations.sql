-- As on SQLite, a job that runs no pending simulation (most jobs) returns
-- before the two UPDATEs of migration 0009: one probe of
-- simulations_pending_job. A trigger's WHEN cannot hold a subquery here, so
-- the probe is in the function.
CREATE OR REPLACE FUNCTION jobs_holdings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  direction bigint;
  job bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    direction := -1;
    job := OLD.id;
  ELSE
    IF (OLD.state IN ('queued', 'running')) = (NEW.state IN ('queued', 'running')) THEN
      RETURN NULL;
    END IF;
    direction := CASE WHEN NEW.state IN ('queued', 'running') THEN 1 ELSE -1 END;
    job := NEW.id;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM simulations WHERE job_id = job AND completed_at IS NULL) THEN
    RETURN NULL;
  END IF;
  UPDATE worlds AS w SET reserved_events = w.reserved_events + direction * s.amount
  FROM (SELECT world_id, SUM(GREATEST(0, max_events - events_written))::bigint AS amount
        FROM simulations WHERE job_id = job AND completed_at IS NULL GROUP BY world_id) AS s
  WHERE w.id = s.world_id;
  UPDATE users AS u SET pending_simulations = u.pending_simulations + direction * s.n
  FROM (SELECT user_id, COUNT(*) AS n FROM simulations WHERE job_id = job AND completed_at IS NULL
        GROUP BY user_id) AS s
  WHERE u.id = s.user_id;
  RETURN NULL;
END
$$;
