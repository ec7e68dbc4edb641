// The operator console's API, /admin/v1 (docs/openapi.yaml; the shapes of
// src/api/job_json.hpp). Handlers as in api.hpp: parse -> call -> render on
// one pooled session, refusals thrown as Refusal for the route boundary.
//
// Who may call: the bearer of the token in ADMIN_TOKEN_FILE (compared by
// SHA-256 digest in constant time) or of an admin token in the database
// (`personaworlds admin token create`), looked up afresh on every request.
// A user's token opens nothing here. Every action that changes jobs writes
// one `admin_action` log line and counts in admin_actions_total{action}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/admin_counts.hpp"
#include "api/routes.hpp"
#include "http/message.hpp"
#include "storage/storage.hpp"

namespace pw::api {

class AdminApi {
 public:
  explicit AdminApi(const Dependencies& deps);

  // Whether /admin exists now: a token file is configured, or the database
  // holds an admin token. A database that cannot answer counts as on: the
  // request goes on and meets the same database (503), rather than /admin
  // seeming to vanish while it is away.
  bool enabled();

  http::Response list_jobs(const http::Request& request);
  http::Response get_job(const http::Request& request);
  http::Response retry_job(const http::Request& request);
  http::Response cancel_job(const http::Request& request);
  http::Response delete_job(const http::Request& request);
  http::Response retry_jobs(const http::Request& request);
  http::Response cancel_jobs(const http::Request& request);
  http::Response overview(const http::Request& request);
  http::Response workers(const http::Request& request);
  // Queue controls (admin_controls.cpp).
  http::Response controls(const http::Request& request);
  http::Response pause_type(const http::Request& request);
  http::Response resume_type(const http::Request& request);
  http::Response rate_limit_type(const http::Request& request);

 private:
  // The caller's name for the audit log ("file" for the token file's), or a
  // 401 Refusal.
  std::string authenticate(const http::Request& request, storage::Session& session);
  void audit(const std::string& admin, const http::Request& request, std::string_view action,
             const std::vector<std::int64_t>& job_ids);
  http::Response single_action(const http::Request& request, bool retry);
  http::Response bulk_action(const http::Request& request, bool retry);
  http::Response control_action(const http::Request& request, std::string_view action);

  Dependencies m_deps;
  std::string m_file_token_hash;  // empty: no token file
  // Last: its thread calls back into this object, so it stops first.
  std::unique_ptr<AdminCounts> m_finished_counts;
};

}  // namespace pw::api
