#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <strings.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace pw::test {
namespace {

std::vector<std::string> merged_environment(const Environment& extra) {
  std::map<std::string, std::string> all;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string text = *entry;
    auto equals = text.find('=');
    if (equals != std::string::npos) all[text.substr(0, equals)] = text.substr(equals + 1);
  }
  for (const auto& [key, value] : extra) all[key] = value;
  std::vector<std::string> out;
  for (const auto& [key, value] : all) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Process::Process(const std::string& program, const std::vector<std::string>& args, const Environment& env) {
  int out_pipe[2];
  int err_pipe[2];
  // O_CLOEXEC: other children spawned meanwhile must not inherit our pipe
  // ends, or the readers would never see end-of-file.
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  // The child must not start with the test's blocked signals (the worker
  // blocks SIGTERM itself and waits for it; a default disposition is needed).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  auto argv = pointers(argv_strings);
  auto env_strings = merged_environment(env);
  auto envp = pointers(env_strings);
  int rc = posix_spawn(&m_pid, program.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  }
  m_out_reader = std::thread([this, fd = out_pipe[0]] { read_into(fd, Stream::out); });
  m_err_reader = std::thread([this, fd = err_pipe[0]] { read_into(fd, Stream::err); });
}

Process::~Process() {
  if (!m_exit) kill();
  if (m_out_reader.joinable()) m_out_reader.join();
  if (m_err_reader.joinable()) m_err_reader.join();
}

void Process::read_into(int fd, Stream which) {
  std::string partial;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    std::vector<std::string> complete;
    for (std::size_t newline; (newline = partial.find('\n', start)) != std::string::npos; start = newline + 1) {
      complete.push_back(partial.substr(start, newline - start));
    }
    partial.erase(0, start);
    if (!complete.empty()) {
      std::lock_guard lock(m_mutex);
      auto& target = which == Stream::out ? m_out : m_err;
      for (auto& line : complete) target.push_back(std::move(line));
      m_changed.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(m_mutex);
  if (!partial.empty()) (which == Stream::out ? m_out : m_err).push_back(partial);
  --m_open_streams;
  m_changed.notify_all();
}

std::optional<int> Process::reap(bool block) {
  std::lock_guard lock(m_wait_mutex);
  if (m_exit) return m_exit;
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(m_pid, &status, block ? 0 : WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == m_pid) m_exit = decode_status(status);
  return m_exit;
}

void Process::signal(int signal_number) {
  std::lock_guard lock(m_wait_mutex);
  if (!m_exit) ::kill(m_pid, signal_number);
}

void Process::kill() {
  signal(SIGKILL);
  reap(true);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto code = reap(false)) {
      // The child is gone; its pipes close once any grandchildren holding
      // them are gone too. Wait (boundedly) so lines() is complete.
      std::unique_lock lock(m_mutex);
      m_changed.wait_until(lock, std::max(deadline, std::chrono::steady_clock::now() + 5s),
                           [&] { return m_open_streams == 0; });
      return code;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool Process::running() { return !reap(false).has_value(); }

std::vector<std::string> Process::lines(Stream which) const {
  std::lock_guard lock(m_mutex);
  if (which == Stream::out) return m_out;
  if (which == Stream::err) return m_err;
  std::vector<std::string> all = m_out;
  all.insert(all.end(), m_err.begin(), m_err.end());
  return all;
}

std::optional<std::string> Process::wait_for_line(const std::function<bool(const std::string&)>& predicate,
                                                  std::chrono::milliseconds timeout, Stream which) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t seen_out = 0;
  std::size_t seen_err = 0;
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (which != Stream::err) {
      for (; seen_out < m_out.size(); ++seen_out) {
        if (predicate(m_out[seen_out])) return m_out[seen_out];
      }
    }
    if (which != Stream::out) {
      for (; seen_err < m_err.size(); ++seen_err) {
        if (predicate(m_err[seen_err])) return m_err[seen_err];
      }
    }
    if (m_open_streams == 0) return std::nullopt;  // exited: no more lines will come
    if (m_changed.wait_until(lock, deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
  }
}

std::optional<nlohmann::json> Process::wait_for_json(const std::string& msg, std::chrono::milliseconds timeout,
                                                     const std::function<bool(const nlohmann::json&)>& predicate) {
  std::optional<nlohmann::json> found;
  auto matches = [&](const std::string& line) {
    // Cheap pre-filter before parsing: most lines are other events.
    if (line.find(msg) == std::string::npos) return false;
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("msg") || parsed["msg"] != msg) return false;
    if (predicate && !predicate(parsed)) return false;
    found = std::move(parsed);
    return true;
  };
  if (!wait_for_line(matches, timeout, Stream::out)) return std::nullopt;
  return found;
}

std::vector<nlohmann::json> Process::json_lines() const {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines(Stream::out)) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object()) out.push_back(std::move(parsed));
  }
  return out;
}

bool Process::any_line_contains(const std::string& needle) const {
  std::lock_guard lock(m_mutex);
  for (const auto* stream : {&m_out, &m_err}) {
    for (const auto& line : *stream) {
      if (line.find(needle) != std::string::npos) return true;
    }
  }
  return false;
}

std::string Process::output() const {
  std::lock_guard lock(m_mutex);
  std::ostringstream out;
  for (const auto& line : m_out) out << "[out] " << line << "\n";
  for (const auto& line : m_err) out << "[err] " << line << "\n";
  return out.str();
}

RunResult run(const std::string& program, const std::vector<std::string>& args, const Environment& env,
              std::chrono::milliseconds timeout) {
  Process process(program, args, env);
  RunResult result;
  if (auto code = process.wait_exit(timeout)) {
    result.exit_code = *code;
  } else {
    process.kill();
    result.exit_code = -1;
  }
  for (const auto& line : process.lines(Stream::out)) result.out += line + "\n";
  for (const auto& line : process.lines(Stream::err)) result.err += line + "\n";
  return result;
}

HttpResponse http_request(const std::string& method, int port, const std::string& path, const std::string& body,
                          const std::string& content_type, const std::multimap<std::string, std::string>& headers,
                          std::chrono::milliseconds timeout) {
  // A server may answer early and close (413 before it reads a large body):
  // the rest of the write then meets a closed socket. That is an outcome to
  // check, not a reason for the test process to die of SIGPIPE (httplib 0.11
  // sends without MSG_NOSIGNAL). Spawned servers get the default back above.
  static const bool sigpipe_ignored = ::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
  (void)sigpipe_ignored;
  httplib::Client client("127.0.0.1", port);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds);
  client.set_connection_timeout(seconds.count(), micros.count());
  client.set_read_timeout(seconds.count(), micros.count());
  client.set_write_timeout(seconds.count(), micros.count());
  httplib::Headers sent(headers.begin(), headers.end());
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return client.Get(path, sent);
    if (method == "POST") return client.Post(path, sent, body, content_type);
    if (method == "PUT") return client.Put(path, sent, body, content_type);
    if (method == "PATCH") return client.Patch(path, sent, body, content_type);
    if (method == "DELETE") return client.Delete(path, sent, body, content_type);
    if (method == "HEAD") return client.Head(path, sent);
    if (method == "OPTIONS") return client.Options(path, sent);
    throw std::invalid_argument("http_request: unsupported method " + method);
  };
  auto response = send();
  HttpResponse out;
  if (!response) {
    out.error = httplib::to_string(response.error());
    return out;
  }
  out.status = response->status;
  out.body = response->body;
  out.headers.insert(response->headers.begin(), response->headers.end());
  return out;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

std::string header_of(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return {};
}

}  // namespace pw::test
