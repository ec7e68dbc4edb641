-- Fair share between tenants: deleting a world and writing a simulation's
-- events no longer hold the write lock for seconds, and what one account may
-- ask for is bounded (the per-user limits of README.md).

-- A deleted world is marked at once and purged later. DELETE /v1/worlds/{id}
-- sets deleted_at in one short transaction: from then on the world, its
-- personas, simulations and events are gone from every read and route. A
-- world.purge job then deletes its rows in small batches, each its own
-- transaction, and the world row last, so a crash mid-purge leaves a marked
-- world whose rerun carries on. (Before, one DELETE cascaded through every
-- event of the world in one transaction: 1.3 s of write lock for 640,000
-- events, during which no other user could write.)
ALTER TABLE worlds ADD COLUMN deleted_at INTEGER;

-- A simulation's events are written in batches, each its own transaction.
-- events_written counts those committed so far, in the order the simulation
-- produced them: the events are a pure function of the simulation, so a
-- rerun of its job recomputes them and appends from there, and the timeline
-- never holds a copy twice or loses one. max_events is the most the
-- simulation can write (ticks x min(16, personas / 2)), what it reserves of
-- its world's event limit until it completes.
ALTER TABLE simulations ADD COLUMN events_written INTEGER NOT NULL DEFAULT 0 CHECK (events_written >= 0);
ALTER TABLE simulations ADD COLUMN max_events INTEGER NOT NULL DEFAULT 0 CHECK (max_events >= 0);
-- Simulations so far were written in one transaction: complete or not begun.
UPDATE simulations SET events_written = COALESCE(event_count, 0), max_events = COALESCE(event_count, ticks * 16);
-- Pending simulations, per user (the pending-simulations limit) and per
-- world (the events limit): completed ones cost these indexes nothing.
CREATE INDEX simulations_pending_user ON simulations (user_id, id) WHERE completed_at IS NULL;
CREATE INDEX simulations_pending_world ON simulations (world_id, id) WHERE completed_at IS NULL;

-- Every persona.generate request a world accepted: how many personas it
-- will create and the job that creates them. The persona cap counts these
-- while they are pending, so a request past the cap is refused up front
-- (409 world_full) instead of being accepted and its job going dead.
--
-- A row per generation rather than a counter on the world: a counter raised
-- by the API and lowered by the job leaks whenever the job never runs to the
-- end (it went dead, an operator canceled it, it was pruned), and nothing
-- could tell a leaked unit from a pending one. With the job named here, the
-- API counts a generation as pending only while its job is still queued or
-- running, so a dead, canceled or pruned job releases its room by itself,
-- with no hook in the worker. finished_at is set in the transaction that
-- creates the personas, so the cap never counts them twice (as personas and
-- as pending) in the moment before the worker records the job's success.
CREATE TABLE persona_generations (
  world_id     INTEGER NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
  number       INTEGER NOT NULL CHECK (number >= 1),
  count        INTEGER NOT NULL CHECK (count >= 1),
  job_id       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  finished_at  INTEGER,
  PRIMARY KEY (world_id, number)
);
-- The generations a world still waits for.
CREATE INDEX persona_generations_open ON persona_generations (world_id) WHERE finished_at IS NULL;
