#include "api/admin.hpp"

#include <algorithm>

#include "api/admin_query.hpp"
#include "api/auth.hpp"
#include "api/input.hpp"
#include "api/job_json.hpp"
#include "crypto/digest.hpp"
#include "db/error.hpp"
#include "observability/log_line.hpp"

namespace pw::api {
namespace {

// Ids an audit line or a bulk answer names at most.
constexpr std::size_t max_listed_ids = 100;
// GET /admin/v1/overview: finished jobs per minute over this many minutes.
constexpr std::int64_t overview_minutes = 15;
constexpr std::int64_t minute_ms = 60 * 1000;

std::string id_list(const std::vector<std::int64_t>& ids) {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < ids.size() && i < max_listed_ids; ++i) list.push_back(ids[i]);
  return list.dump();
}

nlohmann::json first_ids(const std::vector<std::int64_t>& ids) {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < ids.size() && i < max_listed_ids; ++i) list.push_back(ids[i]);
  return list;
}

std::string time_text(std::int64_t ms) { return observability::format_rfc3339_ms(ms); }

}  // namespace

AdminApi::AdminApi(const Dependencies& deps) : m_deps(deps) {
  if (!deps.config.admin_token.empty()) m_file_token_hash = crypto::sha256_hex(deps.config.admin_token);
  storage::Storage* background = deps.background_storage ? deps.background_storage : &deps.storage;
  const bool file_token = !m_file_token_hash.empty();
  m_finished_counts = std::make_unique<AdminCounts>(
      [background, file_token]() -> std::optional<JobCounts> {
        return background->with_session([&](storage::Session& session) -> std::optional<JobCounts> {
          // While the console is off nobody reads the counts: skip the scan.
          if (!file_token && !session.admin_tokens().any()) return std::nullopt;
          return session.jobs().counts();
        });
      },
      deps.clock, deps.logger, AdminCounts::Periods{});
}

bool AdminApi::enabled() {
  if (!m_file_token_hash.empty()) return true;
  try {
    return m_deps.storage.with_session([](storage::Session& session) { return session.admin_tokens().any(); });
  } catch (const std::exception& e) {
    if (!db::is_unavailable(e)) throw;
    return true;
  }
}

std::string AdminApi::authenticate(const http::Request& request, storage::Session& session) {
  if (!request.has_header("authorization")) {
    throw Refusal(401, "unauthorized", "missing Authorization: Bearer <admin token>");
  }
  auto token = bearer_token(request.header("authorization"));
  if (!token) throw Refusal(401, "invalid_token", "the Authorization header does not carry a bearer token");
  const std::string hash = token_hash(*token);
  // Digests, compared in constant time: no timing depends on the secret.
  if (!m_file_token_hash.empty() && crypto::constant_time_equal(m_file_token_hash, hash)) return "file";
  if (is_well_formed_token(*token)) {
    auto credential = session.admin_tokens().find(hash);
    if (credential && crypto::constant_time_equal(credential->token_hash, hash)) {
      try {
        session.admin_tokens().record_use(credential->token, m_deps.clock.now_ms());
      } catch (const std::exception& e) {
        // Advice to the operator, not a condition of the request.
        if (!db::is_unavailable(e)) throw;
      }
      return credential->token.name;
    }
  }
  throw Refusal(401, "invalid_token", "the bearer token is not an admin token");
}

void AdminApi::audit(const std::string& admin, const http::Request& request, std::string_view action,
                     const std::vector<std::int64_t>& job_ids) {
  m_deps.metrics.count_admin_action(action);
  m_deps.logger.info("admin_action", {{"admin", admin},
                                      {"action", action},
                                      {"job_ids", id_list(job_ids)},
                                      {"count", static_cast<std::int64_t>(job_ids.size())},
                                      {"request_id", request.request_id}});
}

http::Response AdminApi::list_jobs(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    authenticate(request, session);
    auto filter = admin_job_query(request);
    const int limit = filter.limit;
    // One more than the page: whether a next page exists, without a count.
    filter.limit = limit + 1;
    auto jobs = session.jobs().list(filter);
    nlohmann::json items = nlohmann::json::array();
    nlohmann::json next = nullptr;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (i == static_cast<std::size_t>(limit)) {
        next = std::to_string(jobs[i - 1].id);
        break;
      }
      items.push_back(job_summary(jobs[i]));
    }
    return http::Response::json(200, {{"jobs", std::move(items)}, {"next_cursor", std::move(next)}});
  });
}

http::Response AdminApi::get_job(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    authenticate(request, session);
    const auto id = path_id(request, "id", "job");
    auto job = session.jobs().find(id);
    if (!job) refuse_not_found("job");
    return http::Response::json(200, job_detail(*job));
  });
}

http::Response AdminApi::single_action(const http::Request& request, bool retry) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    const auto admin = authenticate(request, session);
    const auto id = path_id(request, "id", "job");
    auto& jobs = session.jobs();
    const bool done = retry ? jobs.retry(id) : jobs.cancel(id);
    auto job = jobs.find(id);
    if (!job) refuse_not_found("job");
    if (!done) {
      throw Refusal(409, "conflict",
                    "job " + std::to_string(id) + " is " + std::string(queue::to_string(job->state)) +
                        (retry ? ": only dead or canceled jobs can be retried"
                               : ": only queued or running jobs can be canceled"));
    }
    audit(admin, request, retry ? "retry" : "cancel", {id});
    return http::Response::json(200, job_detail(*job));
  });
}

http::Response AdminApi::retry_job(const http::Request& request) { return single_action(request, true); }
http::Response AdminApi::cancel_job(const http::Request& request) { return single_action(request, false); }

http::Response AdminApi::delete_job(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    const auto admin = authenticate(request, session);
    const auto id = path_id(request, "id", "job");
    switch (session.jobs().remove(id)) {
      case queue::RemoveResult::not_found:
        refuse_not_found("job");
      case queue::RemoveResult::running:
        throw Refusal(409, "conflict", "job " + std::to_string(id) + " is running: cancel it first");
      case queue::RemoveResult::removed:
        break;
    }
    audit(admin, request, "delete", {id});
    return http::Response::text(204, "", "application/json");
  });
}

http::Response AdminApi::bulk_action(const http::Request& request, bool retry) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    const auto admin = authenticate(request, session);
    const auto bulk = admin_bulk_request(request);
    auto& jobs = session.jobs();
    const auto changed = retry ? jobs.retry_matching(bulk.filter, bulk.max) : jobs.cancel_matching(bulk.filter, bulk.max);
    audit(admin, request, retry ? "bulk_retry" : "bulk_cancel", changed);
    const auto count = static_cast<std::int64_t>(changed.size());
    return http::Response::json(200, {{"matched_limit", bulk.max},
                                      {"changed", count},
                                      {"job_ids", first_ids(changed)},
                                      {"more", count >= bulk.max}});
  });
}

http::Response AdminApi::retry_jobs(const http::Request& request) { return bulk_action(request, true); }
http::Response AdminApi::cancel_jobs(const http::Request& request) { return bulk_action(request, false); }

http::Response AdminApi::overview(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    authenticate(request, session);
    m_finished_counts->note_use();
    auto& jobs = session.jobs();
    // Finished jobs (nearly every row) from the last full count, which says
    // how old it is; queued and running ones, which move, counted now from
    // their small partial indexes.
    const auto finished = m_finished_counts->snapshot([&] { return jobs.counts(); });
    // Read after the snapshot: the first overview takes its count in this
    // request, and the count it dates must not be later than the "now" it shows.
    const std::int64_t now = m_deps.clock.now_ms();
    const auto active = jobs.active_counts();
    nlohmann::json counts = nlohmann::json::object();
    nlohmann::json totals = nlohmann::json::object();
    for (auto state : {queue::JobState::queued, queue::JobState::running, queue::JobState::succeeded,
                       queue::JobState::dead, queue::JobState::canceled}) {
      totals[std::string(queue::to_string(state))] = 0;
    }
    auto add = [&](const std::string& type, const std::string& state, std::int64_t n) {
      counts[type][state] = n;
      totals[state] = totals.value(state, std::int64_t{0}) + n;
    };
    for (const auto& [type, by_state] : finished->counts) {
      for (const auto& [state, n] : by_state) {
        if (state != "queued" && state != "running") add(type, state, n);
      }
    }
    for (const auto& [type, by_state] : active) {
      for (const auto& [state, n] : by_state) add(type, state, n);
    }
    nlohmann::json ages = nlohmann::json::object();
    for (const auto& [type, age] : jobs.oldest_ready_age_seconds()) ages[type] = age;
    nlohmann::json paused = nlohmann::json::array();
    for (const auto& control : jobs.controls()) {
      if (control.paused) paused.push_back(control.type);
    }
    // Every one of the last 15 minutes (this one included), oldest first.
    const std::int64_t first_minute = now / minute_ms * minute_ms - (overview_minutes - 1) * minute_ms;
    std::vector<nlohmann::json> minutes;
    for (std::int64_t i = 0; i < overview_minutes; ++i) {
      minutes.push_back({{"minute", time_text(first_minute + i * minute_ms)}, {"succeeded", 0}, {"dead", 0},
                         {"canceled", 0}});
    }
    for (const auto& finished : jobs.finished_per_minute(first_minute)) {
      const std::int64_t slot = (finished.minute_ms - first_minute) / minute_ms;
      if (slot < 0 || slot >= overview_minutes || !minutes[static_cast<std::size_t>(slot)].contains(finished.state)) {
        continue;
      }
      auto& cell = minutes[static_cast<std::size_t>(slot)][finished.state];
      cell = cell.get<std::int64_t>() + finished.count;
    }
    return http::Response::json(200, {{"counts", std::move(counts)},
                                      {"totals", std::move(totals)},
                                      {"oldest_ready_age_seconds", std::move(ages)},
                                      {"finished_per_minute", minutes},
                                      {"paused_types", std::move(paused)},
                                      {"finished_counts_as_of", time_text(finished->taken_at_ms)},
                                      {"now", time_text(now)}});
  });
}

http::Response AdminApi::workers(const http::Request& request) {
  return m_deps.storage.with_session([&](storage::Session& session) {
    authenticate(request, session);
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& holder : session.jobs().lease_holders()) {
      workers.push_back({{"owner", holder.owner},
                         {"running", holder.running},
                         {"oldest_started_at", time_text(holder.oldest_started_at_ms)},
                         {"next_lease_expiry", time_text(holder.next_lease_expiry_ms)}});
    }
    return http::Response::json(200, {{"workers", std::move(workers)}});
  });
}

}  // namespace pw::api
