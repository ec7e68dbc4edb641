// Running the real binary (or any program) from a black-box test, and
// talking HTTP to it.
//
//   pw::test::Process worker(PW_BINARY, {"worker", "--db", db, "--observability-port", "0"},
//                            {{"LOG_LEVEL", "debug"}});
//   auto started = worker.wait_for_json("worker_started");           // JSON log line, or nothing on timeout
//   int port = (*started)["observability_port"];
//   auto metrics = pw::test::http_get(port, "/metrics");              // status 0 when unreachable
//   worker.signal(SIGTERM);
//   CHECK(worker.wait_exit() == 0);
//   CHECK_FALSE(worker.any_line_contains("SQLITE_BUSY"));
//
//   auto result = pw::test::run(PW_BINARY, {"migrate", "--db", db});  // to completion
//   CHECK(result.exit_code == 0);
//
// A Process captures stdout and stderr line by line on background threads,
// so a chatty child never blocks on a full pipe, and a test can wait for a
// line while the child runs. The destructor kills (SIGKILL) and reaps a child
// that is still running, so a failed REQUIRE never leaves processes behind.
// Thread-safe: any thread may wait, signal or read lines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace pw::test {

using namespace std::chrono_literals;

// Extra environment variables, added to (or replacing those of) this process's.
using Environment = std::map<std::string, std::string>;

enum class Stream { out, err, both };

class Process {
 public:
  // Starts `program` with `args` (argv[1..]); stdin is /dev/null. Throws
  // std::runtime_error when it cannot be started.
  Process(const std::string& program, const std::vector<std::string>& args, const Environment& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return m_pid; }

  // Sends a signal (no-op once the process has been reaped).
  void signal(int signal_number);
  // SIGKILL, then reap: returns once the process is gone.
  void kill();

  // Exit code, or 128 + signal number if a signal ended it; nothing if it is
  // still running after `timeout`. Once reaped, returns the same answer
  // again. The output readers have drained the pipes when this returns a value.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 30s);
  bool running();

  // Lines so far (without the newline).
  std::vector<std::string> lines(Stream which = Stream::out) const;
  // The first line matching `predicate` (already seen or yet to come), or
  // nothing after `timeout` or once the process has exited without one.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& predicate,
                                           std::chrono::milliseconds timeout = 30s, Stream which = Stream::out);
  // The first stdout line that is a JSON object with "msg" equal to `msg`
  // (and, when given, satisfying `predicate`), parsed.
  std::optional<nlohmann::json> wait_for_json(
      const std::string& msg, std::chrono::milliseconds timeout = 30s,
      const std::function<bool(const nlohmann::json&)>& predicate = {});
  // Every stdout line that parses as a JSON object (others are skipped).
  std::vector<nlohmann::json> json_lines() const;
  // True if any line of stdout or stderr contains `needle`.
  bool any_line_contains(const std::string& needle) const;
  // All of stdout and stderr, for a failure message.
  std::string output() const;

 private:
  void read_into(int fd, Stream which);
  std::optional<int> reap(bool block);

  pid_t m_pid = -1;
  std::optional<int> m_exit;
  std::mutex m_wait_mutex;  // serializes waitpid
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<std::string> m_out;
  std::vector<std::string> m_err;
  int m_open_streams = 2;
  std::thread m_out_reader;
  std::thread m_err_reader;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed; -1 after a timeout (the process is then killed)
  std::string out;
  std::string err;
};

// Runs a program to completion (stdin /dev/null), capturing its output.
RunResult run(const std::string& program, const std::vector<std::string>& args, const Environment& env = {},
              std::chrono::milliseconds timeout = 60s);

struct HttpResponse {
  int status = 0;  // 0: no response (connection refused, timeout)
  std::string body;
  std::multimap<std::string, std::string> headers;
  std::string error;  // why there was no response
};

// One request to 127.0.0.1:port. `headers` are sent as given; a body is sent
// with `content_type` for POST/PUT/PATCH.
HttpResponse http_request(const std::string& method, int port, const std::string& path,
                          const std::string& body = {}, const std::string& content_type = "application/json",
                          const std::multimap<std::string, std::string>& headers = {},
                          std::chrono::milliseconds timeout = 5s);
inline HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout = 5s) {
  return http_request("GET", port, path, {}, {}, {}, timeout);
}

// A response header by name, case-insensitively; empty when absent.
std::string header_of(const HttpResponse& response, const std::string& name);

// The value of a Prometheus sample line `name{labels} value` in a text
// exposition, matched on the full series text (e.g.
// `jobs_processed_total{status="succeeded",type="noop"}`); nothing if absent.
std::optional<double> metric_value(const std::string& exposition, const std::string& series);

// Polls `done` every 10 ms until it returns true or `timeout` passes; returns
// its last answer. For conditions a test cannot be told about.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s);

}  // namespace pw::test
