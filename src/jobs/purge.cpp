// world.purge: deletes a deleted world's rows in short batches.
#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>

#include "jobs/handlers.hpp"
#include "store/store.hpp"
#include "storage/storage.hpp"

namespace pw::jobs {

std::string purge_world(worker::JobContext& context, const WriteBatches& batches) {
  const auto world_id = args_of<PurgeWorldArgs>(context.job).world_id;

  // DELETE /v1/worlds/{id} marked the world deleted; from here on it is
  // invisible, and each step below is one short transaction. A crash or a
  // shutdown between steps leaves a marked world with fewer rows, and the
  // rerun carries on from there.
  storage::Storage& database = context.database();
  std::int64_t rows = 0;
  std::int64_t steps = 0;
  for (;;) {
    if (context.stop_requested()) throw std::runtime_error("stopping mid-purge");
    WriteBatches::Turn turn(batches);
    // Nothing when the world is gone already (a rerun after the last step committed).
    const auto step = database.with_session([&](storage::Session& session) {
      auto& store = session.store();
      return session.write([&]() -> std::optional<store::PurgeStep> {
        const auto state = store.world_state(world_id);
        if (state == store::WorldState::live) {
          throw worker::PermanentFailure("world " + std::to_string(world_id) + " is not deleted; it is never purged");
        }
        if (state == store::WorldState::absent) return std::nullopt;
        return store.purge_world_step(world_id, static_cast<int>(batches.rows));
      });
    });
    if (!step) break;
    rows += step->rows;
    ++steps;
    if (step->finished) break;
    turn.finish();
  }
  context.log(observability::LogLevel::info, "world_purged",
              {{"world_id", world_id}, {"rows", rows}, {"batches", steps}});
  return nlohmann::json{{"world_id", world_id}, {"rows", rows}, {"batches", steps}}.dump();
}

}  // namespace pw::jobs
