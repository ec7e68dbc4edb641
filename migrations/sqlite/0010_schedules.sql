-- Periodic jobs from cron expressions (src/schedule/). Two kinds share the
-- table, so one scheduler loop and one compare-and-set fire both:
--   operator  a named job (job_type, payload) from `jobs schedule add`
--   world     a simulation of a user's world (user_id, world_id, ticks)
--             from POST /v1/worlds/{id}/schedules
-- The CHECK keeps each kind's columns set and the other kind's empty.
--
-- next_tick_at is the next tick in ms; NULL when the expression has no tick
-- left within the parser's horizon. A worker fires a tick by moving it on
-- with `UPDATE ... WHERE id = ? AND next_tick_at = <the tick>` in the
-- transaction that enqueues the job: whoever changes the row enqueues, any
-- other worker changes nothing and enqueues nothing.
--
-- A world's schedules go with the world when it is purged, and with their
-- owner (the foreign keys cascade); a world deleted but not yet purged keeps
-- them, and their ticks are skipped.
CREATE TABLE schedules (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT    NOT NULL CHECK (kind IN ('operator', 'world')),
  name          TEXT    UNIQUE,
  job_type      TEXT,
  payload       TEXT,
  user_id       INTEGER REFERENCES users (id) ON DELETE CASCADE,
  world_id      INTEGER REFERENCES worlds (id) ON DELETE CASCADE,
  ticks         INTEGER,
  cron          TEXT    NOT NULL,
  time_zone     TEXT    NOT NULL DEFAULT 'UTC',
  next_tick_at  INTEGER,
  created_at    INTEGER NOT NULL,
  CHECK ((kind = 'operator' AND name IS NOT NULL AND job_type IS NOT NULL AND payload IS NOT NULL
          AND user_id IS NULL AND world_id IS NULL AND ticks IS NULL)
      OR (kind = 'world' AND name IS NULL AND job_type IS NULL AND payload IS NULL
          AND user_id IS NOT NULL AND world_id IS NOT NULL AND ticks IS NOT NULL))
);
-- The scheduler's poll: due ticks, oldest first, from the index alone.
CREATE INDEX schedules_due ON schedules (next_tick_at) WHERE next_tick_at IS NOT NULL;
-- A world's schedules in id order (the API's list); a user's count (the cap).
CREATE INDEX schedules_world ON schedules (world_id, id) WHERE world_id IS NOT NULL;
CREATE INDEX schedules_user ON schedules (user_id) WHERE user_id IS NOT NULL;
