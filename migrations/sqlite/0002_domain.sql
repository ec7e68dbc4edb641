-- The PersonaWorlds domain: users, worlds, personas, simulations, events, and
-- the records that make POST requests idempotent. Times are integer
-- milliseconds since the Unix epoch. Every statement about these tables lives
-- in src/store/.
--
-- Ids of users, worlds, personas and simulations are AUTOINCREMENT: an id is
-- never handed out again after its row is deleted, so a job queued for a
-- deleted world can never act on a newer world that reused its id.

CREATE TABLE users (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  handle      TEXT    NOT NULL UNIQUE,
  -- SHA-256 hex of the bearer token; the token itself is never stored.
  token_hash  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL
);
-- Authentication looks a token up by its hash.
CREATE UNIQUE INDEX users_token_hash ON users (token_hash);

CREATE TABLE worlds (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT    NOT NULL,
  description  TEXT    NOT NULL DEFAULT '',
  seed         INTEGER NOT NULL CHECK (seed >= 0),
  -- persona.generate requests so far: the n-th one generates from stream n.
  generations  INTEGER NOT NULL DEFAULT 0,
  -- simulations so far: the n-th one is seeded from stream n.
  simulations  INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL
);
-- A user's worlds, in id order (pagination).
CREATE INDEX worlds_user ON worlds (user_id, id);

CREATE TABLE personas (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  world_id     INTEGER NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
  name         TEXT    NOT NULL,
  sociability  INTEGER NOT NULL CHECK (sociability BETWEEN 0 AND 100),
  generosity   INTEGER NOT NULL CHECK (generosity BETWEEN 0 AND 100),
  aggression   INTEGER NOT NULL CHECK (aggression BETWEEN 0 AND 100),
  curiosity    INTEGER NOT NULL CHECK (curiosity BETWEEN 0 AND 100),
  loyalty      INTEGER NOT NULL CHECK (loyalty BETWEEN 0 AND 100),
  source       TEXT    NOT NULL CHECK (source IN ('manual', 'generated')),
  -- For generated personas: the world's generate request that made them
  -- (its number), and the persona.generate job that ran it. A rerun of the
  -- job finds its generation already there and creates nothing.
  generation   INTEGER,
  job_id       INTEGER,
  created_at   INTEGER NOT NULL
);
CREATE INDEX personas_world ON personas (world_id, id);
CREATE INDEX personas_generation ON personas (world_id, generation) WHERE generation IS NOT NULL;

CREATE TABLE simulations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  world_id        INTEGER NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
  user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The simulation's number within its world (1, 2, ...): with the world's
  -- seed it determines the random stream, so it fixes the events.
  number          INTEGER NOT NULL,
  ticks           INTEGER NOT NULL CHECK (ticks BETWEEN 1 AND 10000),
  callback_url    TEXT,
  -- The world's largest persona id at submission: the simulation covers the
  -- personas that existed then, however late or often its job runs.
  persona_bound   INTEGER NOT NULL,
  job_id          INTEGER,
  webhook_job_id  INTEGER,
  event_count     INTEGER,
  created_at      INTEGER NOT NULL,
  completed_at    INTEGER,
  UNIQUE (world_id, number)
);

CREATE TABLE events (
  id             INTEGER PRIMARY KEY,
  world_id       INTEGER NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
  simulation_id  INTEGER NOT NULL REFERENCES simulations (id) ON DELETE CASCADE,
  tick           INTEGER NOT NULL,
  kind           TEXT    NOT NULL,
  actors         TEXT    NOT NULL,  -- JSON array of persona ids, initiator first
  text           TEXT    NOT NULL
);
-- The world's timeline, paged by event id.
CREATE INDEX events_world ON events (world_id, id);
-- One simulation's events (replaced as a whole when its job reruns).
CREATE INDEX events_simulation ON events (simulation_id, id);

-- One row per POST that carried an Idempotency-Key and took effect: replaying
-- the key returns the stored status and body.
CREATE TABLE idempotency_keys (
  id            INTEGER PRIMARY KEY,
  -- 0 for requests made without a user (POST /v1/users).
  user_id       INTEGER NOT NULL,
  key           TEXT    NOT NULL,
  method        TEXT    NOT NULL,
  route         TEXT    NOT NULL,
  -- SHA-256 of method, path and body: the same key with another request is refused.
  request_hash  TEXT    NOT NULL,
  status        INTEGER NOT NULL,
  response      TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  UNIQUE (user_id, key)
);
-- Expiring old records.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
