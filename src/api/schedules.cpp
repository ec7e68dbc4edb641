// /v1/worlds/{id}/schedules: a simulation of the world on every tick of a
// cron expression (src/schedule/). Owner-scoped like the world's other
// routes: another user's world or schedule is as absent as a missing one
// (404). Each user holds at most --max-schedules-per-user schedules (409
// too_many_schedules); the workers fire the ticks (schedule/firing.hpp).
#include "api/api.hpp"
#include "api/auth.hpp"
#include "api/input.hpp"
#include "api/quota.hpp"
#include "domain/simulation.hpp"
#include "observability/log_line.hpp"
#include "schedule/cron.hpp"
#include "schedule/firing.hpp"

namespace pw::api {
namespace {

const TextRule kCronRule{1, schedule::max_cron_bytes, true, true};
// The longest IANA name is 30 bytes (America/Argentina/ComodRivadavia).
const TextRule kTimeZoneRule{1, 64, true, true};

nlohmann::json render(const schedule::Schedule& schedule) {
  nlohmann::json next = nullptr;
  if (schedule.next_tick_at_ms) next = observability::format_rfc3339_ms(*schedule.next_tick_at_ms);
  return {{"id", schedule.id},
          {"world_id", schedule.world_id},
          {"cron", schedule.cron},
          {"time_zone", schedule.time_zone},
          {"ticks", schedule.ticks},
          {"next_tick_at", next},
          {"created_at", observability::format_rfc3339_ms(schedule.created_at_ms)}};
}

}  // namespace

http::Response Api::create_schedule(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    auto body = parse_json_object(request);
    ObjectReader reader(body);
    schedule::Schedule wanted;
    wanted.kind = schedule::ScheduleKind::world;
    wanted.user_id = user.id;
    wanted.world_id = world_id;
    wanted.cron = reader.required_text("cron", kCronRule);
    wanted.ticks = static_cast<int>(reader.required_integer("ticks", domain::min_ticks, domain::max_ticks));
    wanted.time_zone = reader.optional_text("time_zone", kTimeZoneRule).value_or("UTC");
    reader.refuse_unknown_fields();
    auto zone = schedule::TimeZone::load(wanted.time_zone);
    if (!zone.zone) refuse_field("time_zone", zone.error);
    auto parsed = schedule::Cron::parse(wanted.cron, *zone.zone);
    if (!parsed.cron) refuse_field("cron", parsed.error);
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      owned_world(writer.store(), user.id, world_id);
      admit_schedule(m_deps.config.limits, writer.schedules(), user.id);
      wanted.created_at_ms = now_ms();
      wanted.next_tick_at_ms = schedule::first_tick_after(*parsed.cron, wanted.created_at_ms);
      if (!wanted.next_tick_at_ms) refuse_field("cron", "has no tick in the next " +
                                                            std::to_string(schedule::cron_horizon.count()) + " days");
      return Created{201, [schedule = writer.schedules().create(wanted)] { return render(schedule); }, {}};
    });
  });
}

http::Response Api::list_schedules(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    owned_world(session.store(), user.id, world_id);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& schedule : session.schedules().list_world(world_id)) items.push_back(render(schedule));
    return http::Response::json(200, {{"items", std::move(items)}});
  });
}

http::Response Api::delete_schedule(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto world_id = path_id(request, "id", "world");
    const auto schedule_id = path_id(request, "schedule_id", "schedule");
    owned_world(session.store(), user.id, world_id);
    if (!session.schedules().remove_world(world_id, schedule_id)) refuse_not_found("schedule");
    return http::Response::text(204, "", "application/json");
  });
}

}  // namespace pw::api
