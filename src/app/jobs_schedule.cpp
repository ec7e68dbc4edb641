#include "app/jobs_schedule.hpp"

#include <iomanip>
#include <iostream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "api/job_json.hpp"
#include "db/error.hpp"
#include "observability/log_line.hpp"
#include "schedule/cron.hpp"
#include "schedule/firing.hpp"

namespace pw::app {
namespace {

using ScheduleAction = config::JobsConfig::ScheduleAction;

nlohmann::json to_json(const schedule::Schedule& schedule) {
  nlohmann::json next = nullptr;
  if (schedule.next_tick_at_ms) next = observability::format_rfc3339_ms(*schedule.next_tick_at_ms);
  return {{"id", schedule.id},
          {"name", schedule.name},
          {"type", schedule.job_type},
          {"payload", schedule.payload},
          {"cron", schedule.cron},
          {"time_zone", schedule.time_zone},
          {"next_tick_at", next},
          {"created_at", observability::format_rfc3339_ms(schedule.created_at_ms)}};
}

void print_schedule(const schedule::Schedule& schedule) {
  const std::string next =
      schedule.next_tick_at_ms ? observability::format_rfc3339_ms(*schedule.next_tick_at_ms) : "-";
  std::cout << std::left << std::setw(24) << observability::sanitize_utf8(schedule.name) << std::setw(20)
            << schedule.job_type << std::setw(20) << schedule.cron << std::setw(20) << schedule.time_zone << next
            << "\n";
}

}  // namespace

int run_schedule_action(const config::JobsConfig& config, storage::Session& session) {
  auto& schedules = session.schedules();
  switch (config.schedule) {
    case ScheduleAction::add: {
      if (config.schedule_name.empty() || config.schedule_name.size() > 100) {
        throw std::runtime_error("invalid --name: 1 to 100 bytes");
      }
      if (!config.type || config.type->empty()) throw std::runtime_error("invalid --type: a job type is needed");
      if (!nlohmann::json::accept(config.payload)) throw std::runtime_error("invalid --payload: not JSON");
      auto parsed = schedule::Cron::parse(config.cron, config.time_zone);
      if (!parsed.cron) throw std::runtime_error("invalid --cron / --time-zone: " + parsed.error);
      schedule::Schedule wanted;
      wanted.kind = schedule::ScheduleKind::operator_job;
      wanted.name = config.schedule_name;
      wanted.job_type = config.type.value_or("");
      wanted.payload = config.payload;
      wanted.cron = config.cron;
      wanted.time_zone = config.time_zone;
      wanted.created_at_ms = queue::SystemClock().now_ms();
      wanted.next_tick_at_ms = schedule::first_tick_after(*parsed.cron, wanted.created_at_ms);
      if (!wanted.next_tick_at_ms) throw std::runtime_error("invalid --cron: it never fires");
      schedule::Schedule created;
      try {
        created = session.write([&] { return schedules.create(wanted); });
      } catch (const db::Error& e) {
        if (e.fault() != db::Fault::constraint) throw;
        throw std::runtime_error("a schedule named '" + config.schedule_name + "' exists already");
      }
      if (config.json) {
        std::cout << api::dump_json(to_json(created)) << "\n";
      } else {
        std::cout << "added schedule " << created.name << ", next tick at "
                  << observability::format_rfc3339_ms(*created.next_tick_at_ms) << "\n";
      }
      return 0;
    }
    case ScheduleAction::list: {
      auto all = schedules.list_operator();
      if (config.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& schedule : all) out.push_back(to_json(schedule));
        std::cout << api::dump_json(out) << "\n";
      } else {
        std::cout << std::left << std::setw(24) << "NAME" << std::setw(20) << "TYPE" << std::setw(20) << "CRON"
                  << std::setw(20) << "TIME_ZONE" << "NEXT_TICK\n";
        for (const auto& schedule : all) print_schedule(schedule);
        std::cout << all.size() << (all.size() == 1 ? " schedule\n" : " schedules\n");
      }
      return 0;
    }
    case ScheduleAction::remove: {
      if (!session.write([&] { return schedules.remove_operator(config.schedule_name); })) {
        throw std::runtime_error("schedule '" + config.schedule_name + "' not found");
      }
      if (config.json) {
        std::cout << api::dump_json({{"removed", config.schedule_name}}) << "\n";
      } else {
        std::cout << "removed schedule " << config.schedule_name << "\n";
      }
      return 0;
    }
    case ScheduleAction::none:
      break;
  }
  return 1;
}

}  // namespace pw::app
