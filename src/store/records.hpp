// The stored shapes of the domain: what a row of each table says, as the
// handlers and jobs see it. Plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/persona.hpp"

namespace pw::store {

struct User {
  std::int64_t id = 0;
  std::string handle;
  std::int64_t created_at_ms = 0;
};

struct NewWorld {
  std::string name;
  std::string description;
  std::uint64_t seed = 0;
};

struct World {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string name;
  std::string description;
  std::uint64_t seed = 0;
  std::int64_t persona_count = 0;
  std::int64_t generations = 0;
  std::int64_t simulations = 0;
  std::int64_t created_at_ms = 0;
};

enum class PersonaSource { manual, generated };

// Where a persona came from: by hand, or from a world's n-th generate request.
struct PersonaOrigin {
  PersonaSource source = PersonaSource::manual;
  std::optional<std::int64_t> generation;
  std::optional<std::int64_t> job_id;
};

struct StoredPersona {
  std::int64_t id = 0;
  std::int64_t world_id = 0;
  std::string name;
  domain::Traits traits;
  PersonaSource source = PersonaSource::manual;
  std::optional<std::int64_t> generation;  // generated: the world's generate request number
  std::optional<std::int64_t> job_id;      // generated: the persona.generate job
  std::int64_t created_at_ms = 0;
};

struct NewSimulation {
  std::int64_t world_id = 0;
  std::int64_t user_id = 0;
  int ticks = 0;
  std::optional<std::string> callback_url;
  std::int64_t max_events = 0;  // the most events it can write (domain::max_simulation_events)
};

struct Simulation {
  std::int64_t id = 0;
  std::int64_t world_id = 0;
  std::int64_t user_id = 0;
  std::int64_t number = 0;  // 1 for the world's first simulation
  int ticks = 0;
  std::optional<std::string> callback_url;
  std::int64_t persona_bound = 0;
  std::optional<std::int64_t> job_id;
  std::optional<std::int64_t> webhook_job_id;
  std::optional<std::int64_t> event_count;  // set once the events are written
  std::int64_t events_written = 0;          // committed so far, in the simulation's order
  std::int64_t max_events = 0;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> completed_at_ms;
};

// Work accepted and not yet done, with the job that does it: it counts
// against a limit only while that job can still run (queued or running).
struct PendingWork {
  std::optional<std::int64_t> job_id;
  std::int64_t amount = 0;  // personas still to create, or events still to write
};

// The PendingWork whose job can still run, added up by the database: how
// many pieces, and what they will still create.
struct PendingTotal {
  std::int64_t count = 0;
  std::int64_t amount = 0;
};

// A world's events: written, and reserved by its simulations whose job can
// still run (what they may still write).
struct WorldHoldings {
  std::int64_t events = 0;
  std::int64_t reserved_events = 0;
};

// A world row's standing: in use, marked deleted (its rows await the
// world.purge job), or gone altogether.
enum class WorldState { live, deleted, absent };

// One bounded step of purging a deleted world.
struct PurgeStep {
  std::int64_t rows = 0;   // rows this step deleted
  bool finished = false;   // the world row itself is gone
};

struct StoredEvent {
  std::int64_t id = 0;
  std::int64_t world_id = 0;
  std::int64_t simulation_id = 0;
  int tick = 0;
  std::string kind;
  std::vector<std::int64_t> actors;
  std::string text;
};

// A page of a listing in id order. `next_after` is the id to continue after,
// empty on the last page.
template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::int64_t> next_after;
};

// The scope of an idempotency key: a user, or no user (sign-up).
struct IdempotencyScope {
  std::optional<std::int64_t> user_id;
  std::string key;
};

struct IdempotencyRecord {
  std::string method;
  std::string route;
  std::string request_hash;
  int status = 0;
  std::string response;
  std::int64_t created_at_ms = 0;
};

}  // namespace pw::store
