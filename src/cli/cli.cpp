#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "app/roles.hpp"
#include "cli/command.hpp"
#include "config/config.hpp"

namespace pw::cli {
namespace {

// Every option of `app` and of its subcommands, at any depth.
std::vector<const CLI::Option*> all_options(const CLI::App& app) {
  std::vector<const CLI::Option*> out = app.get_options();
  for (const CLI::App* sub : app.get_subcommands({})) {
    auto nested = all_options(*sub);
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

bool on_command_line(const std::string& flag, int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == flag || arg.starts_with(flag + "=")) return true;
  }
  return false;
}

// CLI11 reports a value it cannot convert as "Could not convert: --flag =
// value", naming the flag even when the value came from the environment:
// name the variable the user actually set, and what a valid value looks like.
std::optional<std::string> conversion_problem(const CLI::App& app, const CLI::ConversionError& error, int argc,
                                              const char* const* argv) {
  const std::string message = error.what();
  for (const CLI::Option* option : all_options(app)) {
    const std::string flag = option->get_name();
    const std::string marker = " " + flag + " = ";
    const auto at = message.find(marker);
    if (flag.empty() || at == std::string::npos) continue;
    const std::string value = message.substr(at + marker.size());
    const std::string env = option->get_envname();
    const bool from_env = !env.empty() && !on_command_line(flag, argc, argv);
    const std::string type = option->get_type_name();
    const std::string expected = option->get_expected_max() == 0 ? "true or false"
                                 : type == "INT" || type == "UINT" ? "a whole number"
                                                                   : "a valid value";
    return "invalid " + flag + (env.empty() ? "" : " / " + env) + ": '" + value + "'" +
           (from_env ? " (from the environment variable " + env + ")" : "") + " is not " + expected;
  }
  return std::nullopt;
}

// CLI11 says only "A subcommand is required" for `personaworlds no-such-role`:
// name the word and list the commands there are.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, const char* const* argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  const std::string word = argv[1];
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == word) return std::nullopt;
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return "unknown command '" + word + "'; the commands are " + names + " (see personaworlds --help)";
}

}  // namespace

Parsed refuse(const std::string& problem) {
  std::cerr << "personaworlds: " << problem << "\n";
  return Parsed{{}, 2};
}

Parsed parse(int argc, const char* const* argv) {
  CLI::App app{"PersonaWorlds: simulated worlds of personas, run by a durable job queue.", "personaworlds"};
  app.set_version_flag("--version", std::string("personaworlds ") + PW_VERSION);
  app.require_subcommand(1);
  app.get_formatter()->column_width(44);
  Options root(app);
  const std::vector<Command> commands{add_api_command(root),  add_worker_command(root), add_migrate_command(root),
                                      add_jobs_command(root), add_users_command(root),  add_probe_command(root),
                                      add_settings_command(root), add_admin_command(root)};

  if (auto problem = unknown_command(app, argc, argv)) return refuse(*problem);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::CallForAllHelp& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::CallForVersion& e) {
    return Parsed{{}, app.exit(e)};
  } catch (const CLI::ConversionError& e) {
    if (auto problem = conversion_problem(app, e, argc, argv)) return refuse(*problem);
    app.exit(e);
    return Parsed{{}, 2};
  } catch (const CLI::ValidationError& e) {
    // Raised by our own checks while parsing (flags.hpp): already one line
    // naming the setting.
    return refuse(e.what());
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return Parsed{{}, 2};
  }
  for (const Command& command : commands) {
    if (command.options.parsed()) return command.parsed();
  }
  return Parsed{{}, 2};
}

int run(int argc, char** argv) {
  Parsed parsed = parse(argc, argv);
  return std::visit(
      [&](const auto& command) -> int {
        using T = std::decay_t<decltype(command)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return parsed.exit_code;
        } else if constexpr (std::is_same_v<T, config::ApiConfig>) {
          return app::run_api(command);
        } else if constexpr (std::is_same_v<T, config::WorkerConfig>) {
          return app::run_worker(command);
        } else if constexpr (std::is_same_v<T, MigrateCommand>) {
          if (command.copy) return app::run_migrate_copy(*command.copy);
          return app::run_migrate(command.config, command.status_only);
        } else if constexpr (std::is_same_v<T, config::JobsConfig>) {
          return app::run_jobs(command);
        } else if constexpr (std::is_same_v<T, config::UsersConfig>) {
          return app::run_users(command);
        } else if constexpr (std::is_same_v<T, config::AdminConfig>) {
          return app::run_admin(command);
        } else {
          return app::run_probe(command);
        }
      },
      parsed.command);
}

}  // namespace pw::cli
