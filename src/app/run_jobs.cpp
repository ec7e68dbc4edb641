// `personaworlds jobs list|show|enqueue|retry|cancel|prune`: the operator's
// view of the job table. Text for a terminal by default, --json for scripts.
// Exit 0 on success; 1 with one line on stderr for a missing job, a refused
// transition or a database problem.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/job_json.hpp"
#include "app/jobs_schedule.hpp"
#include "app/roles.hpp"
#include "app/run_jobs_controls.hpp"
#include "db/connection.hpp"
#include "observability/log_line.hpp"
#include "storage/storage.hpp"

namespace pw::app {
namespace {

using Action = config::JobsConfig::Action;

std::string time_text(std::optional<std::int64_t> ms) {
  return ms ? observability::format_rfc3339_ms(*ms) : std::string("-");
}

nlohmann::json to_json(const queue::Job& job) { return api::job_detail(job); }

std::string dump(const nlohmann::json& value) { return api::dump_json(value); }

// --unique-key, --unique-for, --unique-states as the job table takes them
// (already validated: config::validate).
queue::Uniqueness uniqueness_of(const config::JobsConfig& config) {
  queue::Uniqueness unique;
  unique.key = *config.unique_key;
  if (config.unique_for) unique.for_ms = config::parse_duration_ms(*config.unique_for);
  if (config.unique_states) {
    std::string_view rest = *config.unique_states;
    for (;;) {
      auto comma = rest.find(',');
      if (auto state = queue::parse_job_state(rest.substr(0, comma))) unique.states.push_back(*state);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return unique;
}

// One line of a terminal table: no control characters, at most `width` characters.
std::string cell(std::string_view text, std::size_t width) {
  std::string out;
  for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? ' ' : c;
  out = observability::sanitize_utf8(out);
  if (out.size() > width) out = out.substr(0, width > 3 ? width - 3 : width) + "...";
  return out;
}

void print_table(const std::vector<queue::Job>& jobs) {
  std::ostringstream out;
  out << std::left << std::setw(10) << "ID" << std::setw(10) << "STATE" << std::setw(20) << "TYPE"
      << std::setw(9) << "ATTEMPTS" << std::setw(5) << "PRI" << std::setw(26) << "UPDATED" << "LAST_ERROR\n";
  for (const auto& job : jobs) {
    out << std::setw(10) << job.id << std::setw(10) << queue::to_string(job.state) << std::setw(20)
        << cell(job.type, 19) << std::setw(9) << (std::to_string(job.attempts) + "/" + std::to_string(job.max_attempts))
        << std::setw(5) << job.priority << std::setw(26) << time_text(job.updated_at_ms)
        << cell(queue::errors_of(job).last_error.value_or(""), 60) << "\n";
  }
  out << jobs.size() << (jobs.size() == 1 ? " job\n" : " jobs\n");
  std::cout << out.str();
}

void print_job(const queue::Job& job) {
  auto line = [](const char* key, const std::string& value) {
    std::cout << std::left << std::setw(18) << (std::string(key) + ":") << value << "\n";
  };
  line("id", std::to_string(job.id));
  line("type", cell(job.type, 200));
  line("state", std::string(queue::to_string(job.state)));
  line("attempts", std::to_string(job.attempts) + " of " + std::to_string(job.max_attempts));
  line("priority", std::to_string(job.priority));
  line("run_at", time_text(job.run_at_ms));
  line("created_at", time_text(job.created_at_ms));
  line("updated_at", time_text(job.updated_at_ms));
  line("started_at", time_text(job.started_at_ms));
  line("finished_at", time_text(job.finished_at_ms));
  line("lease_owner", cell(job.lease_owner.value_or("-"), 200));
  line("lease_expires_at", time_text(job.lease_expires_at_ms));
  line("trace_id", cell(job.trace_id.value_or("-"), 200));
  line("user_id", job.user_id ? std::to_string(*job.user_id) : "-");
  line("idempotency_key", cell(job.idempotency_key.value_or("-"), 200));
  line("unique_key", cell(job.unique_key.value_or("-"), 200));
  line("last_error", cell(queue::errors_of(job).last_error.value_or("-"), 2000));
  line("earlier_error", cell(queue::errors_of(job).earlier_error.value_or("-"), 2000));
  line("payload", cell(job.payload, 2000));
  line("result", cell(job.result.value_or("-"), 2000));
}

// Thrown for the expected refusals: the message is the whole story.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string not_found(std::int64_t id) { return "job " + std::to_string(id) + " not found"; }

int run_action(const config::JobsConfig& config, storage::Session& session) {
  if (config.schedule != config::JobsConfig::ScheduleAction::none) return run_schedule_action(config, session);
  queue::JobTable& queue = session.jobs();
  switch (config.action) {
    case Action::list: {
      queue::JobFilter filter;
      if (config.state) filter.state = queue::parse_job_state(*config.state);
      filter.type = config.type;
      filter.limit = config.limit;
      auto jobs = queue.list(filter);
      if (config.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& job : jobs) out.push_back(to_json(job));
        std::cout << dump(out) << "\n";
      } else {
        print_table(jobs);
      }
      return 0;
    }
    case Action::show: {
      auto job = queue.find(config.job_id);
      if (!job) throw Refusal(not_found(config.job_id));
      if (config.json) {
        std::cout << dump(to_json(*job)) << "\n";
      } else {
        print_job(*job);
      }
      return 0;
    }
    case Action::enqueue: {
      if (!nlohmann::json::accept(config.payload)) throw Refusal("invalid --payload: not JSON");
      queue::NewJob job;
      job.type = *config.type;
      job.payload = config.payload;
      job.priority = config.priority;
      job.trace_id = config.trace_id;
      job.max_attempts = config.retry.default_max_attempts;
      if (config.unique_key) job.unique = uniqueness_of(config);
      // One transaction for all: a million jobs appear at once or not at all.
      std::int64_t first = 0;
      std::int64_t last = 0;
      bool created = true;
      session.write([&] {
        for (int i = 0; i < config.count; ++i) {
          auto result = queue.enqueue_in_transaction(job);
          last = result.id;
          created = result.created;
          if (i == 0) first = last;
        }
      });
      if (!created) {
        // Validation allows a window with --count 1 only: this one job.
        if (config.json) {
          std::cout << dump({{"enqueued", 0}, {"existing_id", first}}) << "\n";
        } else {
          std::cout << "not enqueued: job " << first << " (" << cell(job.type, 100) << ") holds unique key "
                    << cell(*config.unique_key, 200) << "\n";
        }
        return 0;
      }
      if (config.json) {
        std::cout << dump({{"enqueued", config.count}, {"first_id", first}, {"last_id", last}}) << "\n";
      } else if (config.count == 1) {
        std::cout << "enqueued job " << first << " (" << cell(job.type, 100) << ")\n";
      } else {
        std::cout << "enqueued " << config.count << " jobs (" << cell(job.type, 100) << "), ids " << first << ".."
                  << last << "\n";
      }
      return 0;
    }
    case Action::retry:
    case Action::cancel: {
      bool retry = config.action == Action::retry;
      bool done = retry ? queue.retry(config.job_id) : queue.cancel(config.job_id);
      auto job = queue.find(config.job_id);
      if (!job) throw Refusal(not_found(config.job_id));
      if (!done) {
        throw Refusal("job " + std::to_string(config.job_id) + " is " + std::string(queue::to_string(job->state)) +
                      (retry ? ": only dead or canceled jobs can be retried"
                             : ": only queued or running jobs can be canceled"));
      }
      if (config.json) {
        std::cout << dump(to_json(*job)) << "\n";
      } else {
        std::cout << "job " << job->id << (retry ? " queued again" : " canceled") << "\n";
      }
      return 0;
    }
    case Action::pause:
    case Action::resume:
    case Action::rate_limit:
    case Action::controls:
      return run_controls_action(config, queue);
    case Action::prune: {
      std::int64_t older_than = config::parse_duration_ms(config.older_than).value_or(0);
      std::int64_t deleted = queue.prune(older_than);
      if (config.json) {
        std::cout << dump({{"deleted", deleted}, {"older_than", config.older_than}}) << "\n";
      } else {
        std::cout << "pruned " << deleted << " finished jobs older than " << config.older_than << "\n";
      }
      return 0;
    }
  }
  return 1;
}

}  // namespace

int run_jobs(const config::JobsConfig& config) {
  try {
    const bool postgres = config::uses_postgres(config.db);
    // Opening would create an empty file: a typo in --db must not look like an empty queue.
    std::error_code ec;
    if (!postgres && !std::filesystem::exists(config.db.path, ec)) {
      throw Refusal("database " + config.db.path + " does not exist (run `personaworlds migrate --db " +
                    config.db.path + "` first)");
    }
    queue::SystemClock clock;
    auto storage = storage::open_storage(config.db, 1, {clock, config.retry, {}});
    return storage->with_session([&](storage::Session& session) {
      auto schema = session.schema_status();
      if (schema.applied.empty()) {
        throw Refusal("database " + storage->location() + " has no job table (run `personaworlds migrate " +
                      (postgres ? std::string("--database-url ...") : "--db " + config.db.path) + "` first)");
      }
      return run_action(config, session);
    });
  } catch (const Refusal& e) {
    std::cerr << "personaworlds jobs: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "personaworlds jobs: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
