// /admin: the operator console's page (src/admin/page/, embedded) and its
// API, /admin/v1 (admin.hpp). Both exist only while the console is on (a
// server gate): otherwise every /admin path answers like one no route has.
#include <memory>

#include "admin/assets.hpp"
#include "api/admin.hpp"
#include "api/input.hpp"

namespace pw::api {
namespace {

using AdminMethod = http::Response (AdminApi::*)(const http::Request&);

constexpr const char* kRealm = "personaworlds-admin";

// The page holds no data and runs only its own script and style.
http::Response page_response(std::string_view name) {
  auto asset = admin::find_asset(name);
  if (!asset) refuse_not_found("page");
  auto response = http::Response::text(200, std::string(asset->body), std::string(asset->content_type));
  response.with_header("Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  response.with_header("X-Content-Type-Options", "nosniff");
  response.with_header("Referrer-Policy", "no-referrer");
  response.with_header("X-Frame-Options", "DENY");
  response.with_header("Cache-Control", "no-cache");
  return response;
}

}  // namespace

void register_admin_routes(http::Server& server, const Dependencies& deps) {
  auto admin = std::make_shared<AdminApi>(deps);
  const observability::Logger& logger = deps.logger;
  observability::Metrics& metrics = deps.metrics;
  server.gate("/admin", [admin] { return admin->enabled(); });

  auto add = [&](const char* method, const char* pattern, AdminMethod handler) {
    server.route(method, pattern, [admin, handler, &logger, &metrics](const http::Request& request) {
      auto response = guarded([&] { return ((*admin).*handler)(request); }, request, logger, metrics, kRealm);
      // Job data, errors included, is never kept by a cache.
      response.with_header("Cache-Control", "no-store");
      return response;
    });
  };
  // Keep in step with docs/openapi.yaml: a unit test compares the two.
  add("GET", "/admin/v1/jobs", &AdminApi::list_jobs);
  add("GET", "/admin/v1/jobs/{id}", &AdminApi::get_job);
  add("DELETE", "/admin/v1/jobs/{id}", &AdminApi::delete_job);
  add("POST", "/admin/v1/jobs/{id}/retry", &AdminApi::retry_job);
  add("POST", "/admin/v1/jobs/{id}/cancel", &AdminApi::cancel_job);
  add("POST", "/admin/v1/jobs:retry", &AdminApi::retry_jobs);
  add("POST", "/admin/v1/jobs:cancel", &AdminApi::cancel_jobs);
  add("GET", "/admin/v1/overview", &AdminApi::overview);
  add("GET", "/admin/v1/workers", &AdminApi::workers);
  add("GET", "/admin/v1/controls", &AdminApi::controls);
  add("POST", "/admin/v1/types/{type}/pause", &AdminApi::pause_type);
  add("POST", "/admin/v1/types/{type}/resume", &AdminApi::resume_type);
  add("POST", "/admin/v1/types/{type}/rate-limit", &AdminApi::rate_limit_type);

  auto page = [&](const char* pattern, std::string_view asset) {
    server.route("GET", pattern, [asset, &logger, &metrics](const http::Request& request) {
      return guarded([&] { return page_response(asset); }, request, logger, metrics, kRealm);
    });
  };
  server.route("GET", "/admin", [](const http::Request&) {
    auto response = http::Response::text(308, "", "text/plain; charset=utf-8");
    response.with_header("Location", "/admin/");
    return response;
  });
  page("/admin/", "index.html");
  page("/admin/app.js", "app.js");
  page("/admin/app.css", "app.css");
}

}  // namespace pw::api
