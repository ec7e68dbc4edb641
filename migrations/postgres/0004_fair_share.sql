-- Fair share between tenants: worlds deleted by a mark and purged later,
-- simulations writing their events in batches, and the pending persona
-- generations a world's cap counts. What each column and rule is for is told
-- in migrations/sqlite/0004_fair_share.sql.
ALTER TABLE worlds ADD COLUMN deleted_at bigint;

ALTER TABLE simulations ADD COLUMN events_written bigint NOT NULL DEFAULT 0 CHECK (events_written >= 0);
ALTER TABLE simulations ADD COLUMN max_events bigint NOT NULL DEFAULT 0 CHECK (max_events >= 0);
UPDATE simulations SET events_written = COALESCE(event_count, 0), max_events = COALESCE(event_count, ticks * 16);
CREATE INDEX simulations_pending_user ON simulations (user_id, id) WHERE completed_at IS NULL;
CREATE INDEX simulations_pending_world ON simulations (world_id, id) WHERE completed_at IS NULL;

CREATE TABLE persona_generations (
  world_id     bigint NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
  number       bigint NOT NULL CHECK (number >= 1),
  count        bigint NOT NULL CHECK (count >= 1),
  job_id       bigint NOT NULL,
  created_at   bigint NOT NULL,
  finished_at  bigint,
  PRIMARY KEY (world_id, number)
);
CREATE INDEX persona_generations_open ON persona_generations (world_id) WHERE finished_at IS NULL;
