// The command line: flags and environment -> validated Config -> a role.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "config/config.hpp"

namespace pw::cli {

struct MigrateCommand {
  config::MigrateConfig config;
  bool status_only = false;
  std::optional<config::CopyConfig> copy;  // `migrate copy`
};

// What the command line asked for: a validated role config, or an exit code
// (help, version, usage error, invalid setting) with the text already printed.
struct Parsed {
  std::variant<std::monostate, config::ApiConfig, config::WorkerConfig, MigrateCommand, config::JobsConfig,
               config::UsersConfig, config::ProbeConfig, config::AdminConfig>
      command;
  int exit_code = 0;
};

// Parses argv and the environment (flag > env > default) and validates.
// Prints help, version and errors itself.
Parsed parse(int argc, const char* const* argv);

// parse, then run the chosen role; returns the exit code:
// 0 success, 1 runtime failure, 2 usage or invalid setting.
int run(int argc, char** argv);

}  // namespace pw::cli
