// The /v1 handlers. Each one parses the request, calls the store and the job
// table on one pooled session (storage/storage.hpp), and renders the result;
// writes happen in one write transaction per request, so a failure leaves
// nothing behind.
//
// Handlers throw Refusal for anything the caller must fix (4xx); the route
// boundary in routes.cpp renders it. A database that cannot serve becomes a
// 503 there too; anything else reaches the server's 500 boundary.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "api/routes.hpp"
#include "http/message.hpp"
#include "storage/storage.hpp"
#include "webhook/lookup_limit.hpp"

namespace pw::api {

// Idempotency records outlive their request by this long.
inline constexpr std::int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;

class Api {
 public:
  explicit Api(const Dependencies& deps) : m_deps(deps), m_lookups(deps.config.webhook.max_lookups) {}

  http::Response create_user(const http::Request& request);
  http::Response get_me(const http::Request& request);

  http::Response create_world(const http::Request& request);
  http::Response list_worlds(const http::Request& request);
  http::Response get_world(const http::Request& request);
  http::Response delete_world(const http::Request& request);

  http::Response create_persona(const http::Request& request);
  http::Response generate_personas(const http::Request& request);
  http::Response list_personas(const http::Request& request);

  http::Response create_simulation(const http::Request& request);
  http::Response list_simulations(const http::Request& request);
  http::Response get_simulation(const http::Request& request);
  http::Response list_events(const http::Request& request);

  // A world's schedules (schedules.cpp).
  http::Response create_schedule(const http::Request& request);
  http::Response list_schedules(const http::Request& request);
  http::Response delete_schedule(const http::Request& request);

  http::Response get_job(const http::Request& request);

  // Bearer tokens of the caller (tokens.cpp).
  http::Response create_token(const http::Request& request);
  http::Response list_tokens(const http::Request& request);
  http::Response delete_token(const http::Request& request);

 private:
  // What a POST's effect produced, as renderers of the response's body: the
  // effect runs on the group commit's writer thread, which every write of
  // the process waits for, so what it read is rendered after the commit on
  // the request's own thread (inside the transaction only when an
  // Idempotency-Key stores the response with the writes). `stored` renders
  // what an idempotent replay returns instead of `body`, when the two must
  // differ (a secret shown once); empty, the replay returns `body`.
  using Render = std::function<nlohmann::json()>;
  struct Created {
    int status = 201;
    Render body;
    Render stored;
  };
  // Reads and writes through the session it is given, the writer's (see
  // storage::Storage::write), never the caller's.
  using Effect = std::function<Created(storage::Session&)>;

  // Runs `work` on a pooled session. A session that met an unavailable
  // database is dropped, not returned to the pool.
  using Work = std::function<http::Response(storage::Session&)>;
  http::Response with_session(const Work& work);

  // One write transaction around `effect`, with Idempotency-Key handling:
  // a key seen before with the same request replays the stored response; with
  // a different request it is 422. The record commits with the effect.
  // `session` is the caller's, for the reads before the write.
  http::Response run_post(const http::Request& request, const nlohmann::json& body,
                          std::optional<std::int64_t> user_id, storage::Session& session, const Effect& effect);

  // The caller's world, or a 404 Refusal (also for another user's world).
  store::World owned_world(store::Store& store, std::int64_t user_id, std::int64_t world_id);

  std::int64_t now_ms() const;

  // A callback_url the API accepts, or a Refusal: 400 for the URL, 503 when
  // its host cannot be looked up now (or too many lookups are running).
  void check_callback(const std::string& url);

  Dependencies m_deps;
  webhook::LookupLimit m_lookups;
};

}  // namespace pw::api
