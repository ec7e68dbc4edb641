// `personaworlds jobs schedule add|list|remove`: operator schedules, a job
// of a given type and payload enqueued on every tick of a cron expression
// (src/schedule/). Prints what it did; throws std::runtime_error with the
// whole story for a refusal (a bad expression, a taken name).
#pragma once

#include "config/config.hpp"
#include "storage/storage.hpp"

namespace pw::app {

int run_schedule_action(const config::JobsConfig& config, storage::Session& session);

}  // namespace pw::app
