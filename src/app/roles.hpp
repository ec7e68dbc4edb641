// The composition root: each role wires config, database, logging, metrics,
// servers and threads together, runs until done or signalled, and returns an
// exit code.
#pragma once

#include "config/config.hpp"

namespace pw::app {

int run_api(const config::ApiConfig& config);
int run_worker(const config::WorkerConfig& config);
int run_migrate(const config::MigrateConfig& config, bool status_only);
int run_migrate_copy(const config::CopyConfig& config);
int run_jobs(const config::JobsConfig& config);
int run_users(const config::UsersConfig& config);
int run_admin(const config::AdminConfig& config);
int run_probe(const config::ProbeConfig& config);

}  // namespace pw::app
