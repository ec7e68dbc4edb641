#include "api/api.hpp"

#include <chrono>
#include <limits>

#include "api/auth.hpp"
#include "api/input.hpp"
#include "api/quota.hpp"
#include "api/render.hpp"
#include "crypto/digest.hpp"
#include "domain/persona.hpp"
#include "domain/simulation.hpp"
#include "jobs/contract.hpp"
#include "jobs/simulation_start.hpp"
#include "webhook/destination.hpp"

namespace pw::api {
namespace {

// Largest seed a caller may choose: exact in every JSON parser, including
// those that read numbers as doubles.
constexpr std::int64_t max_seed = (std::int64_t{1} << 53) - 1;
constexpr int max_generate_per_request = 100;

const TextRule kHandleRule{3, 32, true, true};
const TextRule kWorldNameRule{1, 100, true, true};
const TextRule kDescriptionRule{0, 2000, false, false};
const TextRule kPersonaNameRule{1, domain::max_persona_name_bytes, true, true};
const TextRule kCallbackRule{1, webhook::max_url_bytes, true, true};

// The job as stored, read back in the transaction that enqueued it.
queue::Job enqueued_job(queue::JobTable& queue, std::int64_t job_id) {
  auto job = queue.find(job_id);
  if (!job) throw std::runtime_error("job " + std::to_string(job_id) + " vanished after enqueue");
  return std::move(*job);
}

// A random world seed when the caller gives none.
std::uint64_t random_seed() {
  const std::string hex = crypto::random_hex(8);
  return std::stoull(hex, nullptr, 16) & static_cast<std::uint64_t>(max_seed);
}

domain::Traits read_traits(const nlohmann::json* object) {
  if (object == nullptr) return domain::Traits{};
  std::vector<domain::TraitField> fields;
  for (const auto& [name, value] : object->items()) {
    domain::TraitField field{name, std::nullopt};
    if (value.is_number_unsigned()) {
      auto v = value.get<std::uint64_t>();
      field.value = v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                        ? std::numeric_limits<std::int64_t>::max()
                        : static_cast<std::int64_t>(v);
    } else if (value.is_number_integer()) {
      field.value = value.get<std::int64_t>();
    }
    fields.push_back(std::move(field));
  }
  auto result = domain::traits_from_fields(fields);
  if (result.error) refuse_field("traits", *result.error);
  return result.traits;
}

}  // namespace

std::int64_t Api::now_ms() const { return m_deps.clock.now_ms(); }

http::Response Api::with_session(const Work& work) {
  return m_deps.storage.with_session([&](storage::Session& session) { return work(session); });
}

http::Response Api::run_post(const http::Request& request, const nlohmann::json& body,
                             std::optional<std::int64_t> user_id, storage::Session& session,
                             const Effect& effect) {
  auto key = idempotency_key(request);
  const std::int64_t now = now_ms();
  const std::int64_t not_before = now - idempotency_ttl_ms;
  // The parsed body, dumped with sorted keys: the same JSON spelled with other
  // whitespace or member order is the same request.
  const std::string request_hash = crypto::sha256_hex(request.method + "\n" + request.path + "\n" + body.dump());
  store::IdempotencyScope scope{user_id, key.value_or("")};

  // Without a key nothing of the response is stored: it is rendered after
  // the commit, here, off the writer's thread.
  std::optional<Created> created;
  auto answered = m_deps.storage.write(session, [&](storage::Session& writer) -> std::optional<http::Response> {
    auto& store = writer.store();
    if (key) {
      if (auto record = store.find_idempotency(scope, not_before)) {
        if (record->request_hash != request_hash) {
          throw Refusal(422, "idempotency_key_reused",
                        "this Idempotency-Key was already used with a different request");
        }
        auto replay = http::Response::text(record->status, record->response, "application/json");
        replay.with_header("Idempotent-Replayed", "true");
        return replay;
      }
    }
    created = effect(writer);
    if (!key) return std::nullopt;
    auto response = http::Response::json(created->status, created->body());
    store::IdempotencyRecord record;
    record.method = request.method;
    record.route = request.route;
    record.request_hash = request_hash;
    record.status = created->status;
    record.response = created->stored ? http::Response::json(created->status, created->stored()).body : response.body;
    record.created_at_ms = now;
    store.save_idempotency(scope, record, not_before);
    return response;
  });
  if (answered) return std::move(*answered);
  return http::Response::json(created->status, created->body());
}

store::World Api::owned_world(store::Store& store, std::int64_t user_id, std::int64_t world_id) {
  auto world = store.find_world(user_id, world_id);
  if (!world) refuse_not_found("world");
  return *world;
}

// ---- users ----

http::Response Api::create_user(const http::Request& request) {
  auto body = parse_json_object(request);
  ObjectReader reader(body);
  std::string handle = reader.required_text("handle", kHandleRule);
  reader.refuse_unknown_fields();
  if (!is_valid_handle(handle)) refuse_field("handle", "must be 3 to 32 characters of a-z, 0-9 and _");
  return with_session([&](storage::Session& session) {
    return run_post(request, body, std::nullopt, session, [&](storage::Session& writer) {
      auto& store = writer.store();
      if (store.handle_exists(handle)) throw Refusal(409, "handle_taken", "handle '" + handle + "' is taken");
      const std::string token = new_token();
      auto user = store.create_user(handle, token_hash(token), now_ms());
      // The token is shown once: a replay of this request returns the user
      // with "token": null, because the token itself is never stored.
      return Created{201, [user, token] { return nlohmann::json{{"user", render(user)}, {"token", token}}; },
                     [user] { return nlohmann::json{{"user", render(user)}, {"token", nullptr}}; }};
    });
  });
}

http::Response Api::get_me(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    return http::Response::json(200, render(authenticate(request, session, now_ms())));
  });
}

// ---- worlds ----

http::Response Api::create_world(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    auto body = parse_json_object(request);
    ObjectReader reader(body);
    store::NewWorld world;
    world.name = reader.required_text("name", kWorldNameRule);
    world.description = reader.optional_text("description", kDescriptionRule).value_or("");
    auto seed = reader.optional_integer("seed", 0, max_seed);
    reader.refuse_unknown_fields();
    world.seed = seed ? static_cast<std::uint64_t>(*seed) : random_seed();
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      auto& store = writer.store();
      admit_world(m_deps.config.limits, store, user.id);
      auto created = store.create_world(user.id, world, now_ms());
      return Created{201, [created] { return render(created); }, {}};
    });
  });
}

http::Response Api::list_worlds(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const int limit = page_limit(request);
    const std::int64_t after = query_id(request, "cursor");
    return http::Response::json(200, render_page(store.list_worlds(user.id, after, limit)));
  });
}

http::Response Api::get_world(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    return http::Response::json(200, render(owned_world(store, user.id, world_id)));
  });
}

http::Response Api::delete_world(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    // The world is marked deleted at once, so it vanishes from every read
    // and route, and a world.purge job deletes its rows in short batches:
    // deleting them here would hold the write lock for as long as the world
    // is large, and every other user's writes would wait.
    m_deps.storage.write(session, [&](storage::Session& writer) {
      if (!writer.store().mark_world_deleted(user.id, world_id, now_ms())) refuse_not_found("world");
      auto& queue = writer.jobs();
      auto job = jobs::new_job(jobs::PurgeWorldArgs{world_id});
      job.trace_id = request.request_id;
      job.user_id = user.id;
      queue.enqueue_in_transaction(job);
    });
    return http::Response::text(204, "", "application/json");
  });
}

// ---- personas ----

http::Response Api::create_persona(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    auto body = parse_json_object(request);
    ObjectReader reader(body);
    domain::NewPersona persona;
    persona.name = reader.required_text("name", kPersonaNameRule);
    if (auto problem = domain::validate_persona_name(persona.name)) refuse_field("name", *problem);
    persona.traits = read_traits(reader.optional_object("traits"));
    reader.refuse_unknown_fields();
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      auto& store = writer.store();
      owned_world(store, user.id, world_id);
      admit_personas(store, world_id, 1);
      auto created = store.add_persona(world_id, persona, store::PersonaOrigin{}, now_ms());
      return Created{201, [created] { return render(created); }, {}};
    });
  });
}

http::Response Api::generate_personas(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    auto body = parse_json_object(request);
    ObjectReader reader(body);
    const auto count = reader.required_integer("count", 1, max_generate_per_request);
    reader.refuse_unknown_fields();
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      auto& store = writer.store();
      owned_world(store, user.id, world_id);
      // Generations accepted but not yet run count against the cap too, so
      // a request past it is refused here rather than left to go dead.
      auto& queue = writer.jobs();
      admit_personas(store, world_id, count);
      const std::int64_t generation = store.next_generation(world_id);
      auto job = jobs::new_job(jobs::GeneratePersonasArgs{world_id, generation, static_cast<int>(count)});
      job.trace_id = request.request_id;
      job.user_id = user.id;
      auto enqueued = queue.enqueue_in_transaction(job);
      store.record_generation(world_id, generation, count, enqueued.id, now_ms());
      return Created{202, [job = enqueued_job(queue, enqueued.id)] { return nlohmann::json{{"job", render(job)}}; },
                     {}};
    });
  });
}

http::Response Api::list_personas(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    const int limit = page_limit(request);
    const std::int64_t after = query_id(request, "cursor");
    owned_world(store, user.id, world_id);
    return http::Response::json(200, render_page(store.list_personas(world_id, after, limit)));
  });
}

// ---- simulations and events ----

void Api::check_callback(const std::string& url) {
  const auto& settings = m_deps.config.webhook;
  // An address literal needs no lookup and takes no lookup slot.
  const bool lookup = webhook::needs_lookup(url).value_or(false);
  const auto slot = lookup ? m_lookups.try_acquire() : std::nullopt;
  if (lookup && !slot) throw Refusal(503, "overloaded", "too many callback_url lookups are running; retry shortly");
  const webhook::DestinationPolicy policy{settings.allow_private, webhook::ResolverSettings{settings.dns_servers}};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings.dns_timeout_ms);
  auto destination = webhook::check_destination(url, policy, deadline);
  switch (destination.verdict) {
    case webhook::Verdict::allowed:
      return;
    case webhook::Verdict::lookup_failed:
      // No verdict on the URL: the answer may come next time. A 4xx would
      // tell the caller to change the request, which may be fine.
      throw Refusal(503, "callback_lookup_failed", "callback_url: " + destination.reason + "; retry later");
    case webhook::Verdict::invalid_url:
    case webhook::Verdict::no_such_host:
    case webhook::Verdict::forbidden:
      refuse_field("callback_url", destination.reason);
  }
}

http::Response Api::create_simulation(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    auto body = parse_json_object(request);
    ObjectReader reader(body);
    store::NewSimulation simulation;
    simulation.world_id = world_id;
    simulation.user_id = user.id;
    simulation.ticks = static_cast<int>(reader.required_integer("ticks", domain::min_ticks, domain::max_ticks));
    simulation.callback_url = reader.optional_text("callback_url", kCallbackRule);
    reader.refuse_unknown_fields();
    if (simulation.callback_url) {
      // Another user's world is 404 before any lookup: a token alone must
      // not buy DNS queries. Resolved outside the write transaction (with a
      // deadline), and again by the webhook.deliver job, since the answer can change.
      owned_world(store, user.id, world_id);
      check_callback(*simulation.callback_url);
    }
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      auto world = owned_world(writer.store(), user.id, world_id);
      const jobs::SimulationRequest wanted{simulation.ticks, simulation.callback_url, request.request_id, std::nullopt};
      auto started = jobs::start_simulation(writer, m_deps.config.limits, world, user.id, wanted, now_ms());
      if (started.breach) refuse_limit(*started.breach);
      auto job = enqueued_job(writer.jobs(), *started.simulation->job_id);
      return Created{202,
                     [simulation = std::move(*started.simulation), job = std::move(job)] {
                       return nlohmann::json{{"simulation", render(simulation)}, {"job", render(job)}};
                     },
                     {}};
    });
  });
}

http::Response Api::list_simulations(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    const int limit = page_limit(request);
    const std::int64_t after = query_id(request, "cursor");
    owned_world(store, user.id, world_id);
    return http::Response::json(200, render_page(store.list_simulations(world_id, after, limit)));
  });
}

http::Response Api::get_simulation(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    const auto simulation_id = path_id(request, "simulation_id", "simulation");
    owned_world(store, user.id, world_id);
    auto simulation = store.find_simulation(world_id, simulation_id);
    if (!simulation) refuse_not_found("simulation");
    return http::Response::json(200, render(*simulation));
  });
}

http::Response Api::list_events(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto& store = session.store();
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    const int limit = page_limit(request);
    const std::int64_t after = query_id(request, "after");
    const auto simulation_id = optional_query_id(request, "simulation_id");
    owned_world(store, user.id, world_id);
    return http::Response::json(200, render_page(store.list_events(world_id, after, limit, simulation_id), "next_after"));
  });
}

// ---- jobs ----

http::Response Api::get_job(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto job_id = path_id(request, "id", "job");
    auto& queue = session.jobs();
    auto job = queue.find(job_id);
    // Jobs without an owner (operator jobs) and other users' jobs alike: 404.
    if (!job || job->user_id != user.id) refuse_not_found("job");
    return http::Response::json(200, render(*job));
  });
}

}  // namespace pw::api
