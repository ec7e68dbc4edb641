// Every setting of every role, declared once: its flag, environment
// variable, the config field it fills (whose initialiser is its default),
// its range or choices, its help text and the roles that take it.
//
// The command line registers its flags from these tables, validate() checks
// their ranges and choices from them, and the README's settings table is
// rendered from them (`personaworlds settings`; a unit test fails when the
// README and the tables disagree). Rules between settings (a cap at least
// its base) and checks of the outside world (is the folder writable) stay in
// config.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"

namespace pw::config {

// The roles (and the one sub-command) a setting belongs to, as bits.
enum Role : unsigned {
  role_api = 1,
  role_worker = 2,
  role_migrate = 4,
  role_jobs = 8,
  role_users = 16,
  role_enqueue = 32,  // `jobs enqueue` only
};

struct Range {
  std::int64_t low;
  std::int64_t high;
};

// "invalid SETTING: VALUE is not in LOW..HIGH", or nothing when it is: the
// one wording of a range refusal, for the tables and the command arguments.
std::optional<std::string> out_of_range(std::int64_t value, Range range, std::string_view setting);

template <class Group>
struct Setting {
  using Field = std::variant<std::string Group::*, int Group::*, std::int64_t Group::*, bool Group::*,
                             LogFormat Group::*>;
  std::string_view flag;  // "--db-busy-timeout-ms"
  std::string_view env;   // "DATABASE_BUSY_TIMEOUT_MS"
  Field field;
  unsigned roles;
  std::string_view help;
  std::optional<Range> range = std::nullopt;  // whole numbers: inclusive bounds
  std::string_view choices = {};              // text: the allowed words, comma-separated
  // For the README only: a default that is not a plain value (the number of
  // cores, a duration), or words after it; empty: the value itself.
  std::string_view shown_default = {};
};

std::span<const Setting<DatabaseConfig>> database_settings();
std::span<const Setting<LogConfig>> log_settings();
std::span<const Setting<HttpConfig>> http_settings();
std::span<const Setting<RetryConfig>> retry_settings();
std::span<const Setting<WebhookConfig>> webhook_settings();
std::span<const Setting<domain::Limits>> limit_settings();
std::span<const Setting<ApiConfig>> api_settings();
std::span<const Setting<WorkerConfig>> worker_settings();

// "--port / PORT": how messages name a setting.
template <class Group>
std::string setting_name(const Setting<Group>& setting) {
  std::string name(setting.flag);
  if (!setting.env.empty()) name += " / " + std::string(setting.env);
  return name;
}

// The first setting of `table` taken by `role` whose value in `group` is out
// of its range or not one of its choices, as one line naming the setting.
template <class Group>
std::optional<std::string> check_settings(std::span<const Setting<Group>> table, unsigned role, const Group& group);

// Whether `word` is one of the comma-separated `choices`, and the choices
// as a reader sees them ("json, text, auto").
bool is_one_of(std::string_view choices, std::string_view word);
std::string choice_list(std::string_view choices);

// The README's settings table (Markdown), one row per setting.
std::string settings_markdown();

}  // namespace pw::config
