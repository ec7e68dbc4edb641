// world.purge: deletes a deleted world's rows in short batches.
#include <nlohmann/json.hpp>

#include <stdexcept>

#include "db/connection.hpp"
#include "jobs/handlers.hpp"
#include "store/store.hpp"

namespace pw::jobs {

std::string purge_world(worker::JobContext& context, const WriteBatches& batches) {
  auto payload = nlohmann::json::parse(context.job.payload, nullptr, false);
  auto found = payload.is_object() ? payload.find("world_id") : payload.end();
  if (!payload.is_object() || found == payload.end() || !found->is_number_integer() ||
      found->get<std::int64_t>() < 1) {
    throw worker::PermanentFailure("payload.world_id is missing or not a positive integer");
  }
  const auto world_id = found->get<std::int64_t>();

  // DELETE /v1/worlds/{id} marked the world deleted; from here on it is
  // invisible, and each step below is one short transaction. A crash or a
  // shutdown between steps leaves a marked world with fewer rows, and the
  // rerun carries on from there.
  store::Store store(context.connection);
  std::int64_t rows = 0;
  std::int64_t steps = 0;
  for (;;) {
    if (context.stop_requested()) throw std::runtime_error("stopping mid-purge");
    WriteBatches::Turn turn(batches);
    db::WriteTransaction transaction(context.connection);
    const auto state = store.world_state(world_id);
    if (state == store::WorldState::live) {
      throw worker::PermanentFailure("world " + std::to_string(world_id) + " is not deleted; it is never purged");
    }
    if (state == store::WorldState::absent) break;
    const auto step = store.purge_world_step(world_id, static_cast<int>(batches.rows));
    transaction.commit();
    rows += step.rows;
    ++steps;
    if (step.finished) break;
    turn.finish();
  }
  context.log(observability::LogLevel::info, "world_purged",
              {{"world_id", world_id}, {"rows", rows}, {"batches", steps}});
  return nlohmann::json{{"world_id", world_id}, {"rows", rows}, {"batches", steps}}.dump();
}

}  // namespace pw::jobs
