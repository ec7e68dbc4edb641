#include "worker/context.hpp"

#include <algorithm>

#include "db/error.hpp"

namespace pw::worker {

bool run_guarded(WorkerContext& context, const char* loop, const std::function<void()>& body,
                 const std::function<bool()>& give_up, std::stop_token stop) {
  int consecutive = 0;
  while (!give_up()) {
    try {
      body();
      return true;
    } catch (const std::exception& e) {
      std::string what = e.what();
      const bool busy = db::fault_of(e) == db::Fault::busy;
      ++consecutive;
      context.logger.log(busy ? observability::LogLevel::debug : observability::LogLevel::error,
                         busy ? "worker_db_busy" : "worker_loop_failed",
                         {{"loop", loop}, {"error", what}, {"consecutive", consecutive}});
      pause_unless_stopped(stop, std::chrono::milliseconds(std::min(5000, busy ? 5 * consecutive : 100 * consecutive)));
    }
  }
  return false;
}

std::jthread spawn(WorkerContext& context, const char* name, std::function<void(std::stop_token)> body) {
  return std::jthread([&context, name, body = std::move(body)](std::stop_token stop) {
    try {
      body(stop);
    } catch (const std::exception& e) {
      context.thread_died = true;
      context.logger.error("worker_thread_failed", {{"thread", name}, {"error", e.what()}});
    }
  });
}

}  // namespace pw::worker
