#include "worker/builtin.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>

namespace pw::worker {
namespace {

// The run log of `noop`: a file descriptor shared by every handler thread.
class RunLog {
 public:
  explicit RunLog(const char* path) : m_fd(::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (m_fd < 0) throw std::runtime_error(std::string("cannot open PW_NOOP_RUN_LOG file ") + path);
  }
  ~RunLog() { ::close(m_fd); }
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // One write(2) per line: with O_APPEND, lines from several processes never interleave.
  void record(std::int64_t job_id, int attempt, std::int64_t claim) const {
    auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    std::string line =
        std::to_string(job_id) + " " + std::to_string(attempt) + " " + std::to_string(now_us) + " " +
        std::to_string(claim) + "\n";
    if (::write(m_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      throw std::runtime_error("cannot append to PW_NOOP_RUN_LOG");
    }
  }

 private:
  int m_fd;
};

std::string sleep_handler(JobContext& context) {
  auto payload = nlohmann::json::parse(context.job.payload, nullptr, false);
  if (!payload.is_object() || !payload.contains("ms") || !payload["ms"].is_number_integer()) {
    throw PermanentFailure("sleep: payload must be {\"ms\": <integer>}");
  }
  auto ms = payload["ms"].get<std::int64_t>();
  if (ms < 0 || ms > 3'600'000) throw PermanentFailure("sleep: ms must be in 0..3600000");
  bool ignore_stop = payload.contains("ignore_stop") && payload["ignore_stop"] == true;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (!ignore_stop && context.stop_requested()) throw std::runtime_error("sleep: interrupted (the worker is stopping, or the claim is no longer ours)");
    auto step = std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(10),
                                                              until - std::chrono::steady_clock::now());
    std::this_thread::sleep_for(step);
  }
  // The claim that ran: fault tests check every recorded result against the row's own claim.
  return "{\"slept_ms\":" + std::to_string(ms) + ",\"claim\":" + std::to_string(context.job.claim) + "}";
}

}  // namespace

void register_builtin_handlers(HandlerRegistry& registry) {
  std::shared_ptr<const RunLog> run_log;
  if (const char* path = std::getenv("PW_NOOP_RUN_LOG"); path && *path) run_log = std::make_shared<RunLog>(path);
  if (run_log) {
    registry.add("noop", [run_log](JobContext& context) {
      run_log->record(context.job.id, context.job.attempts, context.job.claim);
      return std::string("null");
    });
  } else {
    registry.add("noop", [](JobContext&) { return std::string("null"); });
  }
  registry.add("sleep", sleep_handler);
}

}  // namespace pw::worker
