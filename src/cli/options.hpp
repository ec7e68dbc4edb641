// What the role files need of CLI11, behind a small facade. CLI11 is
// header-only and costs ~16 s of CPU in every file that includes it (a
// precompiled header does not help: the cost is in compiling its inline
// code), so only options.cpp and cli.cpp include it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "config/settings.hpp"

namespace CLI {
class App;
}

namespace pw::cli {

// One command or sub-command. Copies refer to the same CLI11 command, which
// the top-level CLI::App owns; the values bound to it must outlive the parse.
class Options {
 public:
  explicit Options(CLI::App& app) : m_app(&app) {}

  Options subcommand(const std::string& name, const std::string& description);
  // How many sub-commands of this one must (at least, at most) be given.
  void require_subcommand(int at_least, int at_most);
  // Options of the parent are accepted after this sub-command too
  // (`jobs list --db X`).
  void fallthrough();
  // Whether this command was the one given on the command line.
  bool parsed() const;

  // A command's own arguments (not settings: no environment variable). A
  // name without dashes is positional. Defaults show in --help.
  void argument(const std::string& name, std::string& value, const std::string& help, bool required = false);
  void argument(const std::string& name, int& value, const std::string& help, bool required = false);
  void argument(const std::string& name, std::int64_t& value, const std::string& help, bool required = false);
  void argument(const std::string& name, std::optional<std::string>& value, const std::string& help,
                bool required = false);
  void flag(const std::string& name, bool& value, const std::string& help);

  // Every setting of `table` that `role` takes, as a flag with its
  // environment variable beside it, filling its field of `group`; CLI11
  // applies flag > env > default, and --help shows all three.
  template <class Group>
  void settings(std::span<const config::Setting<Group>> table, unsigned role, Group& group);

 private:
  CLI::App* m_app;
};

}  // namespace pw::cli
