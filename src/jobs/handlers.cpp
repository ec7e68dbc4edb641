#include "jobs/handlers.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <span>
#include <stdexcept>

#include "domain/limits.hpp"
#include "jobs/contract.hpp"
#include "domain/persona.hpp"
#include "domain/random.hpp"
#include "domain/simulation.hpp"
#include "observability/log_line.hpp"
#include "storage/storage.hpp"
#include "webhook/client.hpp"

namespace pw::jobs {
namespace {

using observability::LogLevel;

std::string skipped(nlohmann::json result, const std::string& why) {
  result["skipped"] = why;
  return result.dump();
}

}  // namespace

std::string webhook_job_key(std::int64_t simulation_id) {
  return "webhook:simulation:" + std::to_string(simulation_id);
}

std::string generate_personas(worker::JobContext& context) {
  const auto args = args_of<GeneratePersonasArgs>(context.job);
  const auto world_id = args.world_id;
  const auto generation = args.generation;
  const auto count = args.count;
  nlohmann::json result = {{"world_id", world_id}, {"generation", generation}};

  return context.database().with_session([&](storage::Session& session) {
    auto& store = session.store();
    return session.write([&] {
      // A second run of this job waits here until the first one ends.
      store.lock_generation(world_id, generation);
      auto world = store.find_world(world_id);
      if (!world) return skipped(result, "the world was deleted");
      // A rerun (a crash after commit, a lost lease) finds its generation in place.
      if (auto existing = store.count_generation(world_id, generation); existing > 0) {
        store.finish_generation(world_id, generation, context.clock.now_ms());
        result["created"] = existing;
        result["rerun"] = true;
        return result.dump();
      }
      // The API refuses generations past the cap up front (pending ones count);
      // this guards against one that was re-queued by hand after its room went.
      if (auto breach = domain::check_new_personas(world->persona_count, 0, count)) {
        throw worker::PermanentFailure(breach->message);
      }
      const auto personas = domain::generate_personas(world->seed, generation, count);
      const std::int64_t now = context.clock.now_ms();
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& persona : personas) {
        const store::PersonaOrigin origin{store::PersonaSource::generated, generation, context.job.id};
        ids.push_back(store.add_persona(world_id, persona, origin, now).id);
      }
      // In the same transaction: the cap never counts these personas twice, as
      // created and as still pending.
      store.finish_generation(world_id, generation, now);
      result["created"] = personas.size();
      result["persona_ids"] = std::move(ids);
      context.log(LogLevel::info, "personas_generated",
                  {{"world_id", world_id}, {"count", static_cast<std::int64_t>(personas.size())}});
      return result.dump();
    });
  });
}

std::string simulate_world(worker::JobContext& context, const WriteBatches& batches) {
  const auto simulation_id = args_of<SimulateWorldArgs>(context.job).simulation_id;
  nlohmann::json result = {{"simulation_id", simulation_id}};
  storage::Storage& database = context.database();

  // Read, then simulate holding neither the write lock nor a session: the
  // run may take a while.
  std::optional<store::Simulation> simulation;
  std::optional<store::World> world;
  domain::SimulationInput input;
  database.with_session([&](storage::Session& session) {
    auto& store = session.store();
    simulation = store.find_simulation(simulation_id);
    if (simulation) world = store.find_world(simulation->world_id);
    if (world) input.personas = store.personas_up_to(world->id, simulation->persona_bound);
  });
  if (!simulation) return skipped(result, "the simulation was deleted with its world");
  if (!world) return skipped(result, "the world was deleted");
  input.seed = domain::derive_seed(world->seed, simulation->number);
  input.ticks = simulation->ticks;
  if (auto problem = domain::validate_simulation_input(input)) throw worker::PermanentFailure(*problem);
  if (context.stop_requested()) throw std::runtime_error("stopping before the simulation ran");
  const auto outcome = domain::simulate(input);

  nlohmann::json counts = nlohmann::json::object();
  for (const auto& count : outcome.counts) counts[count.kind] = count.count;
  const std::span<const domain::Event> events(outcome.events);
  const auto event_count = static_cast<std::int64_t>(events.size());

  // The events go in batches, each its own short transaction, so a run of
  // 160,000 events never holds the write lock for more than one batch. Each
  // batch reads how many are already stored and appends the next ones in the
  // simulation's order: the run is deterministic, so a rerun after a crash
  // (or a second run racing this one after a lost lease) continues where the
  // stored events end, and the timeline never holds one twice.
  std::optional<std::int64_t> webhook_job_id;
  std::int64_t batch_count = 0;
  enum class Batch { more, last, world_deleted };
  for (;;) {
    if (context.stop_requested()) throw std::runtime_error("stopping while the events were written");
    WriteBatches::Turn turn(batches);
    const Batch done = database.with_session([&](storage::Session& session) {
      auto& store = session.store();
      return session.write([&] {
        // The world may have been deleted while the simulation ran, or
        // between batches. A second run of this job (a lapsed lease) waits
        // here for the first one's batch and continues after it.
        auto stored = store.lock_simulation(simulation_id);
        if (!stored) return Batch::world_deleted;
        const auto written = static_cast<std::size_t>(stored->events_written);
        if (written > events.size()) {
          throw worker::PermanentFailure("the simulation has " + std::to_string(written) +
                                         " events stored but produces " + std::to_string(events.size()));
        }
        const auto batch = std::min(events.size() - written, batches.rows);
        store.append_events(*stored, events.subspan(written, batch));
        ++batch_count;
        if (written + batch < events.size()) return Batch::more;
        if (simulation->callback_url) {
          nlohmann::json summary = {{"type", "simulation.completed"},
                                    {"simulation_id", simulation->id},
                                    {"world_id", simulation->world_id},
                                    {"number", simulation->number},
                                    {"ticks", simulation->ticks},
                                    {"personas", static_cast<std::int64_t>(input.personas.size())},
                                    {"events", event_count},
                                    {"counts", counts},
                                    {"job_id", context.job.id},
                                    {"trace_id", context.job.trace_id ? nlohmann::json(*context.job.trace_id) : nullptr}};
          auto job = new_job(DeliverWebhookArgs{simulation->id, *simulation->callback_url, std::move(summary)});
          job.trace_id = context.job.trace_id;
          job.user_id = simulation->user_id;
          // A rerun of this job finds the webhook job already there.
          job.idempotency_key = webhook_job_key(simulation->id);
          webhook_job_id = session.jobs().enqueue_in_transaction(job).id;
        }
        store.finish_simulation(simulation->id, event_count, webhook_job_id, context.clock.now_ms());
        return Batch::last;
      });
    });
    if (done == Batch::world_deleted) return skipped(result, "the world was deleted");
    if (done == Batch::last) break;
    turn.finish();
  }

  result["world_id"] = simulation->world_id;
  result["events"] = event_count;
  result["counts"] = std::move(counts);
  result["webhook_job_id"] = webhook_job_id ? nlohmann::json(*webhook_job_id) : nullptr;
  context.log(LogLevel::info, "simulation_completed",
              {{"simulation_id", simulation->id},
               {"world_id", simulation->world_id},
               {"events", event_count},
               {"batches", batch_count}});
  return result.dump();
}

std::string deliver_webhook(worker::JobContext& context, const config::WebhookConfig& webhook) {
  const auto args = args_of<DeliverWebhookArgs>(context.job);

  // A simulation's webhook is part of its world: once the world is deleted,
  // the delivery finishes without effect. (A webhook.deliver job an operator
  // enqueued by hand names no simulation and is always sent.)
  if (args.simulation_id) {
    const auto simulation_id = *args.simulation_id;
    nlohmann::json result = {{"simulation_id", simulation_id}};
    const auto gone = context.database().with_session([&](storage::Session& session) -> const char* {
      auto& store = session.store();
      auto simulation = store.find_simulation(simulation_id);
      if (!simulation) return "the simulation was deleted with its world";
      if (!store.find_world(simulation->world_id)) return "the world was deleted";
      return nullptr;
    });
    if (gone != nullptr) return skipped(result, gone);
  }

  webhook::Delivery delivery;
  delivery.url = args.url;
  delivery.body = args.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  delivery.request_id = context.job.trace_id.value_or("");
  delivery.delivery_id = context.job.idempotency_key.value_or("job:" + std::to_string(context.job.id));
  // Stopping (or a lost lease) ends the attempt at once: shutdown never waits on a receiver.
  const auto outcome = webhook::deliver(delivery, webhook, context.stop_requested);
  context.log(outcome.outcome == webhook::Outcome::delivered ? LogLevel::info : LogLevel::warn, "webhook_attempt",
              {{"receiver_status", outcome.status},
               {"address", outcome.address},
               {"outcome", outcome.outcome == webhook::Outcome::delivered   ? "delivered"
                           : outcome.outcome == webhook::Outcome::retryable ? "retryable"
                                                                            : "permanent"},
               {"detail", outcome.detail}});
  switch (outcome.outcome) {
    case webhook::Outcome::delivered:
      return nlohmann::json{{"status", outcome.status}, {"address", outcome.address}}.dump();
    case webhook::Outcome::permanent:
      throw worker::PermanentFailure(outcome.detail);
    case webhook::Outcome::retryable:
      break;
  }
  throw std::runtime_error(outcome.detail);
}

void register_handlers(worker::HandlerRegistry& registry, const config::WorkerConfig& config) {
  // The process's bulk writers (simulations and purges) take turns.
  WriteBatches batches;
  batches.gate = std::make_shared<std::mutex>();
  registry.add(std::string(GeneratePersonasArgs::kind),
               [](worker::JobContext& context) { return generate_personas(context); });
  registry.add(std::string(SimulateWorldArgs::kind),
               [batches](worker::JobContext& context) { return simulate_world(context, batches); });
  registry.add(std::string(DeliverWebhookArgs::kind), [webhook = config.webhook](worker::JobContext& context) {
    return deliver_webhook(context, webhook);
  });
  registry.add(std::string(PurgeWorldArgs::kind), [batches](worker::JobContext& context) { return purge_world(context, batches); });
}

}  // namespace pw::jobs
