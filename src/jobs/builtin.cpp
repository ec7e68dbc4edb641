#include "jobs/builtin.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>

#include "jobs/contract.hpp"

namespace pw::jobs {

using worker::JobContext;
using worker::PermanentFailure;
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
  SleepArgs args;
  try {
    args = read_args<SleepArgs>(context.job.payload);
  } catch (const ContractError& e) {
    throw PermanentFailure(std::string("sleep: ") + e.what());
  }
  const auto ms = args.ms;
  const bool ignore_stop = args.ignore_stop;
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

void register_builtin_handlers(worker::HandlerRegistry& registry) {
  std::shared_ptr<const RunLog> run_log;
  if (const char* path = std::getenv("PW_NOOP_RUN_LOG"); path && *path) run_log = std::make_shared<RunLog>(path);
  if (run_log) {
    registry.add(std::string(NoopArgs::kind), [run_log](JobContext& context) {
      run_log->record(context.job.id, context.job.attempts, context.job.claim);
      return std::string("null");
    });
  } else {
    registry.add(std::string(NoopArgs::kind), [](JobContext&) { return std::string("null"); });
  }
  registry.add(std::string(SleepArgs::kind), sleep_handler);
}

}  // namespace pw::jobs
