// The PersonaWorlds job handlers: persona.generate, world.simulate,
// webhook.deliver, world.purge.
//
// Delivery is at least once, so each handler is safe to run again after a
// crash or a lost lease: persona.generate keys the personas it creates by its
// job id; world.simulate writes its events in batches and a rerun appends
// after those already written (the events are a pure function of the
// simulation), and enqueues its webhook under an idempotency key;
// webhook.deliver sends a delivery id that stays the same on every attempt,
// so receivers can drop repeats; world.purge deletes whatever of the deleted
// world is left.
//
// world.simulate and world.purge touch up to hundreds of thousands of rows;
// they do it in short batches (write_batches.hpp) so that no job holds the
// database's write lock for long.
#pragma once

#include <string>

#include "config/config.hpp"
#include "jobs/contract.hpp"
#include "jobs/write_batches.hpp"
#include "worker/handler.hpp"

namespace pw::jobs {

void register_handlers(worker::HandlerRegistry& registry, const config::WorkerConfig& config);

// The job's args; a payload that does not fit its kind fails for good.
template <class Args>
Args args_of(const queue::Job& job) {
  try {
    return read_args<Args>(job.payload);
  } catch (const ContractError& e) {
    throw worker::PermanentFailure(e.what());
  }
}

// The handlers one by one (for tests). Each returns the job's result JSON.
std::string generate_personas(worker::JobContext& context);
std::string simulate_world(worker::JobContext& context, const WriteBatches& batches = {});
std::string purge_world(worker::JobContext& context, const WriteBatches& batches = {});
std::string deliver_webhook(worker::JobContext& context, const config::WebhookConfig& webhook);

// The idempotency key of a simulation's webhook job: one per simulation.
std::string webhook_job_key(std::int64_t simulation_id);

}  // namespace pw::jobs
