#include "cli/options.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <type_traits>

namespace pw::cli {
namespace {

template <class T>
void add_argument(CLI::App& app, const std::string& name, T& value, const std::string& help, bool required) {
  auto* option = app.add_option(name, value, help)->capture_default_str();
  if (required) option->required();
}

}  // namespace

Options Options::subcommand(const std::string& name, const std::string& description) {
  return Options(*m_app->add_subcommand(name, description));
}

void Options::require_subcommand(int at_least, int at_most) { m_app->require_subcommand(at_least, at_most); }

void Options::fallthrough() { m_app->fallthrough(); }

bool Options::parsed() const { return m_app->parsed(); }

void Options::argument(const std::string& name, std::string& value, const std::string& help, bool required) {
  add_argument(*m_app, name, value, help, required);
}

void Options::argument(const std::string& name, int& value, const std::string& help, bool required) {
  add_argument(*m_app, name, value, help, required);
}

void Options::argument(const std::string& name, std::int64_t& value, const std::string& help, bool required) {
  add_argument(*m_app, name, value, help, required);
}

void Options::argument(const std::string& name, std::optional<std::string>& value, const std::string& help,
                       bool required) {
  auto* option = m_app->add_option(name, value, help);
  if (required) option->required();
}

void Options::flag(const std::string& name, bool& value, const std::string& help) {
  m_app->add_flag(name, value, help);
}

template <class Group>
void Options::settings(std::span<const config::Setting<Group>> table, unsigned role, Group& group) {
  for (const auto& setting : table) {
    if (!(setting.roles & role)) continue;
    const std::string flag(setting.flag);
    const std::string env(setting.env);
    const std::string help(setting.help);
    std::visit(
        [&](auto member) {
          auto& field = group.*member;
          using T = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<T, bool>) {
            m_app->add_flag(flag, field, help)->envname(env)->capture_default_str();
          } else if constexpr (std::is_same_v<T, config::LogFormat>) {
            // Words on the command line, an enum in the config. "auto" is
            // text for a person at a terminal and JSON lines wherever the
            // output goes to a file, a pipe or a log collector.
            const std::string choices(setting.choices);
            const std::string name = config::setting_name(setting);
            m_app
                ->add_option_function<std::string>(
                    flag,
                    [&field, choices, name](const std::string& word) {
                      if (!config::is_one_of(choices, word)) {
                        throw CLI::ValidationError("invalid " + name + ": '" + word + "' is not one of " +
                                                   config::choice_list(choices));
                      }
                      const bool text = word == "text" || (word == "auto" && ::isatty(STDOUT_FILENO));
                      field = text ? config::LogFormat::text : config::LogFormat::json;
                    },
                    help)
                ->envname(env)
                ->default_str(field == config::LogFormat::text ? "text" : "json");
          } else {
            m_app->add_option(flag, field, help)->envname(env)->capture_default_str();
          }
        },
        setting.field);
  }
}

template void Options::settings(std::span<const config::Setting<config::DatabaseConfig>>, unsigned,
                                config::DatabaseConfig&);
template void Options::settings(std::span<const config::Setting<config::LogConfig>>, unsigned, config::LogConfig&);
template void Options::settings(std::span<const config::Setting<config::HttpConfig>>, unsigned, config::HttpConfig&);
template void Options::settings(std::span<const config::Setting<config::RetryConfig>>, unsigned,
                                config::RetryConfig&);
template void Options::settings(std::span<const config::Setting<config::WebhookConfig>>, unsigned,
                                config::WebhookConfig&);
template void Options::settings(std::span<const config::Setting<domain::Limits>>, unsigned, domain::Limits&);
template void Options::settings(std::span<const config::Setting<config::ApiConfig>>, unsigned, config::ApiConfig&);
template void Options::settings(std::span<const config::Setting<config::WorkerConfig>>, unsigned,
                                config::WorkerConfig&);

}  // namespace pw::cli
