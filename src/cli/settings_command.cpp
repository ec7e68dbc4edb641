// `personaworlds settings`: every setting of every role as one Markdown
// table, the same table the README shows.
#include <iostream>

#include "cli/command.hpp"

namespace pw::cli {

Command add_settings_command(Options& root) {
  Options command =
      root.subcommand("settings", "Print every setting of every role (flag, environment, default) as a Markdown table");
  return {command, [] {
            std::cout << config::settings_markdown();
            return Parsed{{}, 0};
          }};
}

}  // namespace pw::cli
