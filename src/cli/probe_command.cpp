// `personaworlds probe URL`: the container health check.
#include <memory>

#include "cli/command.hpp"

namespace pw::cli {

Command add_probe_command(Options& root) {
  auto probe = std::make_shared<config::ProbeConfig>();
  Options command = root.subcommand("probe", "Exit 0 when URL answers 2xx (for container health checks)");
  command.argument("url", probe->url, "http://host:port/path", true);
  command.argument("--timeout-ms", probe->timeout_ms, "Give up after this long");
  return {command, [probe] { return Parsed{*probe, 0}; }};
}

}  // namespace pw::cli
