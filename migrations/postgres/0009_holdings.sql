-- What the per-user limits count, kept on the rows they are counted for:
-- worlds.events_written, worlds.reserved_events and users.pending_simulations,
-- kept exact by triggers as simulations and their jobs' states change, and
-- users.live_worlds, kept by the store as worlds are created and deleted. What
-- each column means and why is told in migrations/sqlite/0009_holdings.sql.
--
-- The triggers lock a world row before a user row, as the API's writes do
-- (the world's simulation counter first), so two transactions never wait
-- for each other's rows in opposite orders.
ALTER TABLE worlds ADD COLUMN events_written bigint NOT NULL DEFAULT 0,
                   ADD COLUMN reserved_events bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pending_simulations bigint NOT NULL DEFAULT 0,
                  ADD COLUMN live_worlds bigint NOT NULL DEFAULT 0;

CREATE INDEX simulations_pending_job ON simulations (job_id) WHERE completed_at IS NULL;

UPDATE worlds SET
  events_written = (SELECT COALESCE(SUM(s.events_written), 0) FROM simulations AS s WHERE s.world_id = worlds.id),
  reserved_events = (SELECT COALESCE(SUM(GREATEST(0, s.max_events - s.events_written)), 0)
                     FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id
                     WHERE s.world_id = worlds.id AND s.completed_at IS NULL AND j.state IN ('queued', 'running'));
UPDATE users SET
  pending_simulations = (SELECT COUNT(*) FROM simulations AS s JOIN jobs AS j ON j.id = s.job_id
                         WHERE s.user_id = users.id AND s.completed_at IS NULL AND j.state IN ('queued', 'running')),
  live_worlds = (SELECT COUNT(*) FROM worlds AS w WHERE w.user_id = users.id AND w.deleted_at IS NULL);

CREATE FUNCTION job_can_run(job bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM jobs WHERE id = job AND state IN ('queued', 'running'))
$$;

-- A simulation's share: taken out as the row was, put back as it is. An
-- insert changes no sum (see the SQLite migration: migrate copy brings the
-- sums on the world and user rows).
CREATE FUNCTION simulations_holdings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_pending boolean := false;
  new_pending boolean := false;
  old_written bigint := 0;
  new_written bigint := 0;
  old_reserved bigint := 0;
  new_reserved bigint := 0;
  world bigint;
  account bigint;
BEGIN
  old_pending := OLD.completed_at IS NULL AND job_can_run(OLD.job_id);
  old_written := OLD.events_written;
  IF old_pending THEN old_reserved := GREATEST(0, OLD.max_events - OLD.events_written); END IF;
  world := OLD.world_id;
  account := OLD.user_id;
  IF TG_OP = 'UPDATE' THEN
    new_pending := NEW.completed_at IS NULL AND job_can_run(NEW.job_id);
    new_written := NEW.events_written;
    IF new_pending THEN new_reserved := GREATEST(0, NEW.max_events - NEW.events_written); END IF;
  END IF;
  IF new_written <> old_written OR new_reserved <> old_reserved THEN
    UPDATE worlds SET events_written = events_written + new_written - old_written,
                      reserved_events = reserved_events + new_reserved - old_reserved
    WHERE id = world;
  END IF;
  IF new_pending <> old_pending THEN
    UPDATE users SET pending_simulations = pending_simulations + (CASE WHEN new_pending THEN 1 ELSE -1 END)
    WHERE id = account;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER simulations_holdings
AFTER DELETE OR UPDATE OF job_id, events_written, max_events, completed_at ON simulations
FOR EACH ROW EXECUTE FUNCTION simulations_holdings();

-- A job that starts or stops being able to run gives or takes the share of
-- the simulations it runs (see the SQLite migration).
CREATE FUNCTION jobs_holdings() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER jobs_holdings_state AFTER UPDATE OF state ON jobs
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION jobs_holdings();
CREATE TRIGGER jobs_holdings_delete AFTER DELETE ON jobs
FOR EACH ROW WHEN (OLD.state IN ('queued', 'running')) EXECUTE FUNCTION jobs_holdings();
