// One role's sub-command: each role file registers its own flags and says,
// once the command line is parsed, what it asked for.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "cli/cli.hpp"

namespace pw::cli {

struct Command {
  CLI::App* app;                  // the sub-command, owned by the top-level CLI::App
  std::function<Parsed()> parsed;  // called when `app` was the one given: a validated config or a refusal
};

// Prints "personaworlds: <problem>" and asks for exit code 2.
Parsed refuse(const std::string& problem);

Command add_api_command(CLI::App& app);
Command add_worker_command(CLI::App& app);
Command add_migrate_command(CLI::App& app);
Command add_jobs_command(CLI::App& app);
Command add_users_command(CLI::App& app);
Command add_probe_command(CLI::App& app);
Command add_settings_command(CLI::App& app);

}  // namespace pw::cli
