#include "app/run_jobs_controls.hpp"

#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/job_json.hpp"
#include "observability/log_line.hpp"

namespace pw::app {
namespace {

using Action = config::JobsConfig::Action;

std::string rate_text(const std::optional<double>& rate) {
  if (!rate) return "-";
  std::ostringstream out;
  out << std::setprecision(10) << *rate << "/s";
  return out.str();
}

nlohmann::json control_json(const queue::TypeControl& control) {
  nlohmann::json out{{"type", control.type}, {"paused", control.paused}, {"rate_per_second", nullptr},
                     {"updated_at", observability::format_rfc3339_ms(control.updated_at_ms)}};
  if (control.rate_per_second) out["rate_per_second"] = *control.rate_per_second;
  return out;
}

std::optional<queue::TypeControl> control_of(queue::JobTable& queue, const std::string& type) {
  for (auto& control : queue.controls()) {
    if (control.type == type) return control;
  }
  return std::nullopt;
}

}  // namespace

int run_controls_action(const config::JobsConfig& config, queue::JobTable& queue) {
  if (config.action == Action::controls) {
    auto controls = queue.controls();
    if (config.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& control : controls) out.push_back(control_json(control));
      std::cout << api::dump_json(out) << "\n";
      return 0;
    }
    std::cout << std::left << std::setw(24) << "TYPE" << std::setw(8) << "PAUSED" << "RATE LIMIT\n";
    for (const auto& control : controls) {
      std::cout << std::setw(24) << observability::sanitize_utf8(control.type) << std::setw(8)
                << (control.paused ? "yes" : "no") << rate_text(control.rate_per_second) << "\n";
    }
    std::cout << controls.size() << (controls.size() == 1 ? " controlled type\n" : " controlled types\n");
    return 0;
  }
  const std::string& type = *config.type;
  std::string done;
  if (config.action == Action::rate_limit) {
    // Checked by config::validate.
    const std::optional<double> rate = config::parse_rate_limit(config.rate).value_or(std::nullopt);
    queue.set_rate_limit(type, rate);
    done = rate ? "rate-limited to " + rate_text(rate) : "no longer rate-limited";
  } else {
    const bool pause = config.action == Action::pause;
    queue.set_paused(type, pause);
    done = pause ? "paused (running jobs finish; queued ones wait)" : "resumed";
  }
  if (config.json) {
    auto control = control_of(queue, type).value_or(queue::TypeControl{type});
    std::cout << api::dump_json(control_json(control)) << "\n";
  } else {
    std::cout << "job type " << observability::sanitize_utf8(type) << " " << done << "\n";
  }
  return 0;
}

}  // namespace pw::app
