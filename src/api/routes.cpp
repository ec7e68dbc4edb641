#include "api/routes.hpp"

#include <memory>

#include "api/api.hpp"
#include "api/input.hpp"
#include "db/error.hpp"

namespace pw::api {
namespace {

using Method = http::Response (Api::*)(const http::Request&);

}  // namespace

// The route boundary: a Refusal becomes its JSON error; a database that
// cannot serve (db::is_unavailable: busy past every retry, read-only, full,
// I/O, missing file) becomes 503 with Retry-After, logged once, here.
// Anything else, a database error of another kind included (bad SQL, a
// missing table, a constraint no handler turned into its own 409 or 422),
// goes on to the server's boundary: 500 and an error line.
http::Response guarded(const std::function<http::Response()>& handler, const http::Request& request,
                       const observability::Logger& logger, observability::Metrics& metrics,
                       std::string_view realm) {
  try {
    return handler();
  } catch (const Refusal& refusal) {
    auto response = http::Response::failure(refusal.status(), refusal.code(), refusal.what());
    if (refusal.status() == 503) response.with_header("Retry-After", "1");
    // Too much pending work: it completes in seconds, not milliseconds.
    if (refusal.status() == 429) response.with_header("Retry-After", "5");
    if (refusal.status() == 401) {
      const std::string challenge = "Bearer realm=\"" + std::string(realm) + "\"";
      response.with_header("WWW-Authenticate", refusal.code() == "invalid_token"
                                                   ? challenge + ", error=\"invalid_token\""
                                                   : challenge);
    }
    return response;
  } catch (const std::exception& e) {
    if (!db::is_unavailable(e)) throw;
    const std::string_view reason = db::unavailable_reason(e);
    metrics.count_database_unavailable(reason);
    logger.warn("database_unavailable", {{"request_id", request.request_id},
                                         {"route", request.route},
                                         {"reason", std::string(reason)},
                                         {"error", e.what()}});
    auto response = http::Response::failure(503, "unavailable", "the database is unavailable; retry shortly");
    response.with_header("Retry-After", "1");
    return response;
  }
}

void register_routes(http::Server& server, const Dependencies& deps) {
  auto api = std::make_shared<Api>(deps);
  const observability::Logger& logger = deps.logger;
  observability::Metrics& metrics = deps.metrics;
  auto add = [&](const char* method, const char* pattern, Method handler) {
    server.route(method, pattern, [api, handler, &logger, &metrics](const http::Request& request) {
      return guarded([&] { return ((*api).*handler)(request); }, request, logger, metrics);
    });
  };
  // Keep in step with docs/openapi.yaml: a unit test compares the two.
  add("POST", "/v1/users", &Api::create_user);
  add("GET", "/v1/me", &Api::get_me);
  add("POST", "/v1/tokens", &Api::create_token);
  add("GET", "/v1/tokens", &Api::list_tokens);
  add("DELETE", "/v1/tokens/{id}", &Api::delete_token);
  add("POST", "/v1/worlds", &Api::create_world);
  add("GET", "/v1/worlds", &Api::list_worlds);
  add("GET", "/v1/worlds/{id}", &Api::get_world);
  add("DELETE", "/v1/worlds/{id}", &Api::delete_world);
  add("POST", "/v1/worlds/{id}/personas", &Api::create_persona);
  add("GET", "/v1/worlds/{id}/personas", &Api::list_personas);
  add("POST", "/v1/worlds/{id}/personas:generate", &Api::generate_personas);
  add("POST", "/v1/worlds/{id}/simulations", &Api::create_simulation);
  add("GET", "/v1/worlds/{id}/simulations", &Api::list_simulations);
  add("GET", "/v1/worlds/{id}/simulations/{simulation_id}", &Api::get_simulation);
  add("GET", "/v1/worlds/{id}/events", &Api::list_events);
  add("POST", "/v1/worlds/{id}/schedules", &Api::create_schedule);
  add("GET", "/v1/worlds/{id}/schedules", &Api::list_schedules);
  add("DELETE", "/v1/worlds/{id}/schedules/{schedule_id}", &Api::delete_schedule);
  add("GET", "/v1/jobs/{id}", &Api::get_job);
  register_admin_routes(server, deps);
}

}  // namespace pw::api
