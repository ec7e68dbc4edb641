// The PersonaWorlds job handlers: persona.generate, world.simulate, webhook.deliver.
//
// Delivery is at least once, so each handler is safe to run again after a
// crash or a lost lease: persona.generate keys the personas it creates by its
// job id; world.simulate replaces its simulation's events as a whole and
// enqueues its webhook under an idempotency key; webhook.deliver sends a
// delivery id that stays the same on every attempt, so receivers can drop
// repeats.
#pragma once

#include <string>

#include "config/config.hpp"
#include "worker/handler.hpp"

namespace pw::jobs {

void register_handlers(worker::HandlerRegistry& registry, const config::WorkerConfig& config);

// The handlers one by one (for tests). Each returns the job's result JSON.
std::string generate_personas(worker::JobContext& context);
std::string simulate_world(worker::JobContext& context, const config::RetryConfig& retry);
std::string deliver_webhook(worker::JobContext& context, const config::WebhookConfig& webhook);

// The idempotency key of a simulation's webhook job: one per simulation.
std::string webhook_job_key(std::int64_t simulation_id);

}  // namespace pw::jobs
