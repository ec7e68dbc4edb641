// `personaworlds jobs pause|resume|rate-limit|controls`: the queue controls
// of queue/controls.hpp from the command line.
#pragma once

#include "config/config.hpp"
#include "queue/job_table.hpp"

namespace pw::app {

// Prints what was done (text, or JSON with --json); returns the exit code.
int run_controls_action(const config::JobsConfig& config, queue::JobTable& queue);

}  // namespace pw::app
