// `personaworlds probe URL`: the container health check.
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_probe_command(CLI::App& app) {
  auto probe = std::make_shared<config::ProbeConfig>();
  auto* command = app.add_subcommand("probe", "Exit 0 when URL answers 2xx (for container health checks)");
  command->add_option("url", probe->url, "http://host:port/path")->required();
  command->add_option("--timeout-ms", probe->timeout_ms, "Give up after this long")->capture_default_str();
  return {command, [probe] { return Parsed{*probe, 0}; }};
}

}  // namespace pw::cli
