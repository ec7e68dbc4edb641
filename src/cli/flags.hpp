// Registers a settings table (config/settings.hpp) as CLI11 options: each
// setting a role takes becomes a flag with its environment variable beside
// it, filling its config field; CLI11 applies flag > env > default, and
// --help shows all three.
#pragma once

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <span>
#include <string>
#include <type_traits>

#include "config/settings.hpp"

namespace pw::cli {

template <class Group>
void add_settings(CLI::App& app, std::span<const config::Setting<Group>> table, unsigned role, Group& group) {
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
            app.add_flag(flag, field, help)->envname(env)->capture_default_str();
          } else if constexpr (std::is_same_v<T, config::LogFormat>) {
            // Words on the command line, an enum in the config. "auto" is
            // text for a person at a terminal and JSON lines wherever the
            // output goes to a file, a pipe or a log collector.
            const std::string choices(setting.choices);
            const std::string name = config::setting_name(setting);
            app.add_option_function<std::string>(
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
            app.add_option(flag, field, help)->envname(env)->capture_default_str();
          }
        },
        setting.field);
  }
}

}  // namespace pw::cli
