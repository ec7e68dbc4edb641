// /admin/v1 queue controls (queue/controls.hpp): the paused and rate-limited
// job types, and the operator's actions on them. Audited as the job actions
// are: one `admin_action` log line naming the type, and admin_actions_total.
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/admin.hpp"
#include "api/input.hpp"
#include "config/config.hpp"
#include "observability/log_line.hpp"

namespace pw::api {
namespace {

nlohmann::json control_json(const queue::TypeControl& control) {
  nlohmann::json out{{"type", control.type},
                     {"paused", control.paused},
                     {"rate_per_second", nullptr},
                     {"updated_at", observability::format_rfc3339_ms(control.updated_at_ms)}};
  if (control.rate_per_second) out["rate_per_second"] = *control.rate_per_second;
  return out;
}

// The {type} of the path: any job type an enqueuer could have used.
std::string path_type(const http::Request& request) {
  auto found = request.path_params.find("type");
  const std::string type = found == request.path_params.end() ? std::string() : found->second;
  check_text("type", type, TextRule{1, 200, true, true});
  return type;
}

// {"rate_per_second": N} (jobs per second, 0 or null: no limit).
std::optional<double> rate_of(const http::Request& request) {
  const auto body = parse_json_object(request);
  for (const auto& [name, _] : body.items()) {
    if (name != "rate_per_second") throw Refusal(400, "invalid_request", name + ": unknown field");
  }
  if (!body.contains("rate_per_second")) throw Refusal(400, "invalid_request", "rate_per_second: required");
  const auto& value = body["rate_per_second"];
  if (value.is_null()) return std::nullopt;
  if (!value.is_number()) throw Refusal(400, "invalid_request", "rate_per_second: a number or null");
  const double rate = value.get<double>();
  std::ostringstream text;
  text.precision(17);
  text << rate;
  auto parsed = config::parse_rate_limit(text.str());
  if (!parsed) {
    throw Refusal(400, "invalid_request", "rate_per_second: 0 (no limit) or from 0.001 to 1000000 jobs per second");
  }
  return *parsed;
}

}  // namespace

http::Response AdminApi::controls(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    authenticate(request, session);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& control : session.jobs().controls()) items.push_back(control_json(control));
    return http::Response::json(200, {{"controls", std::move(items)}});
  });
}

http::Response AdminApi::control_action(const http::Request& request, std::string_view action) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    const auto admin = authenticate(request, session);
    const std::string type = path_type(request);
    auto& jobs = session.jobs();
    if (action == "rate_limit") {
      jobs.set_rate_limit(type, rate_of(request));
    } else {
      jobs.set_paused(type, action == "pause");
    }
    m_deps.metrics.count_admin_action(action);
    m_deps.logger.info("admin_action", {{"admin", admin},
                                        {"action", action},
                                        {"type", type},
                                        {"request_id", request.request_id}});
    queue::TypeControl now_in_force;
    now_in_force.type = type;
    for (const auto& control : jobs.controls()) {
      if (control.type == type) now_in_force = control;
    }
    return http::Response::json(200, control_json(now_in_force));
  });
}

http::Response AdminApi::pause_type(const http::Request& request) { return control_action(request, "pause"); }
http::Response AdminApi::resume_type(const http::Request& request) { return control_action(request, "resume"); }
http::Response AdminApi::rate_limit_type(const http::Request& request) {
  return control_action(request, "rate_limit");
}

}  // namespace pw::api
