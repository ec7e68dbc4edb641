// One role's sub-command: each role file registers its own flags and says,
// once the command line is parsed, what it asked for.
#pragma once

#include <functional>
#include <string>

#include "cli/cli.hpp"
#include "cli/options.hpp"

namespace pw::cli {

struct Command {
  Options options;                 // the sub-command
  std::function<Parsed()> parsed;  // called when it was the one given: a validated config or a refusal
};

// Prints "personaworlds: <problem>" and asks for exit code 2.
Parsed refuse(const std::string& problem);

Command add_api_command(Options& root);
Command add_worker_command(Options& root);
Command add_migrate_command(Options& root);
Command add_jobs_command(Options& root);
Command add_users_command(Options& root);
Command add_admin_command(Options& root);
Command add_probe_command(Options& root);
Command add_settings_command(Options& root);

}  // namespace pw::cli
