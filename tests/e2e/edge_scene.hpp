// The edge proxy test's stage: the real HAProxy binary running the shipped
// deploy/haproxy/haproxy.cfg (only its listen addresses and the API's
// address come from the environment, as in compose) in front of the real
// `personaworlds api` on a migrated database, all on 127.0.0.1.
#pragma once

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace pw::test::edge {

using namespace std::chrono_literals;

inline const std::string kBinary = PW_BINARY;
inline const std::string kEdgeConfig = std::string(PW_SOURCE_DIR) + "/deploy/haproxy/haproxy.cfg";

// Debian's haproxy lives in /usr/sbin, which is not on every PATH.
inline std::string haproxy_binary() {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("PATH")) {
    std::string dirs = path;
    for (std::size_t start = 0, end; start <= dirs.size(); start = end + 1) {
      end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      candidates.push_back(dirs.substr(start, end - start) + "/haproxy");
    }
  }
  candidates.push_back("/usr/sbin/haproxy");
  for (const auto& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A port that was free a moment ago (HAProxy cannot report a port 0 bind).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A field of /proc/PID/status in KiB (VmRSS now, VmHWM the peak so far).
inline long proc_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// Lets this process (and the proxy it starts) hold `descriptors` files.
inline void raise_fd_limit(rlim_t descriptors) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= descriptors) return;
  limit.rlim_cur = std::min(descriptors, limit.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  REQUIRE_MESSAGE(limit.rlim_cur >= descriptors, "the hard limit of open files is too low: ", limit.rlim_max);
}

class EdgeScene {
 public:
  enum class Database { migrated, missing };

  // Starts the API (on a migrated database, or on one that does not exist
  // yet; `api_args` added to its command line), then the edge in front of it.
  explicit EdgeScene(Database database = Database::migrated, std::vector<std::string> api_args = {}) {
    m_db = m_dir.file("edge.db");
    if (database == Database::migrated) migrate();
    std::vector<std::string> args = {"api", "--db", m_db, "--host", "127.0.0.1", "--port", "0"};
    args.insert(args.end(), api_args.begin(), api_args.end());
    m_api = std::make_unique<Process>(kBinary, args);
    auto started = m_api->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, m_api->output());
    m_api_port = (*started)["port"].get<int>();
    start_edge("127.0.0.1:" + std::to_string(m_api_port));
    if (database == Database::migrated) {
      REQUIRE_MESSAGE(eventually([&] { return http_get(m_edge_port, "/readyz", 2s).status == 200; }, 30s),
                      "the edge never sent /readyz through to a ready API\n", output());
    }
  }

  // Only the edge, in front of whatever listens at `api_address`.
  explicit EdgeScene(const std::string& api_address) { start_edge(api_address); }

  void migrate() {
    auto migrated = run(kBinary, {"migrate", "--db", m_db});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
  }

  int port() const { return m_edge_port; }
  int admin_port() const { return m_admin_port; }
  Process& api() { return *m_api; }
  Process& edge() { return *m_edge; }

  // True when the API logged an access line with this request id: the
  // request reached the API.
  bool api_saw(const std::string& request_id) const {
    for (const auto& line : m_api->json_lines()) {
      if (line.value("msg", "") == "http_request" && line.value("request_id", "") == request_id) return true;
    }
    return false;
  }

  // The edge's access line with this request id.
  std::optional<nlohmann::json> edge_line(const std::string& request_id, std::chrono::milliseconds timeout = 5s) {
    return m_edge->wait_for_json("edge_request", timeout, [&](const nlohmann::json& line) {
      return line.value("request_id", "") == request_id;
    });
  }

  // The edge's stdout lines that are not a JSON object with the fields of
  // the API's log lines (ts in RFC 3339 UTC with milliseconds, level, msg,
  // service): none, when the edge keeps the logging contract.
  std::vector<std::string> edge_lines_not_json() const {
    static const std::regex ts(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    std::vector<std::string> out;
    for (const auto& line : m_edge->lines(Stream::out)) {
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      bool ok = parsed.is_object() && parsed.value("service", "") == "edge" && parsed.value("level", "") == "info" &&
                parsed.value("msg", "") == "edge_request" && std::regex_match(parsed.value("ts", ""), ts);
      if (!ok) out.push_back(line);
    }
    return out;
  }

  // A signed-up user through the edge: the ordinary request that must keep
  // working after every attack.
  HttpResponse sign_up_through_edge() {
    const std::string body = R"({"handle":"edge_user_)" + std::to_string(++m_users) + R"("})";
    return http_request("POST", m_edge_port, "/v1/users", body, "application/json", {}, 10s);
  }

  std::string output() const {
    std::string out;
    if (m_api) out += "--- api ---\n" + tail(*m_api);
    if (m_edge) out += "--- edge ---\n" + tail(*m_edge);
    return out;
  }

 private:
  static std::string tail(const Process& process) {
    auto lines = process.lines(Stream::both);
    std::string out;
    for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
      out += lines[i].substr(0, 400) + "\n";
    }
    return out;
  }

  void start_edge(const std::string& api_address) {
    const std::string haproxy = haproxy_binary();
    REQUIRE_MESSAGE(!haproxy.empty(), "haproxy is not installed (make deps installs TEST_PACKAGES)");
    // The ports are picked free and then bound by HAProxy: another process
    // can take one in between, so a failed start is tried again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      m_edge_port = free_port();
      m_admin_port = free_port();
      m_edge = std::make_unique<Process>(haproxy, std::vector<std::string>{"-db", "-f", kEdgeConfig},
                                         Environment{{"EDGE_BIND", "127.0.0.1:" + std::to_string(m_edge_port)},
                                                     {"EDGE_ADMIN_BIND", "127.0.0.1:" + std::to_string(m_admin_port)},
                                                     {"EDGE_API_SERVER", api_address},
                                                     {"EDGE_API_SLOTS", "1"}});
      bool up = eventually([&] { return !m_edge->running() || http_get(m_admin_port, "/healthz", 1s).status == 200; },
                           30s);
      if (up && m_edge->running()) return;
      m_edge->kill();
    }
    FAIL("haproxy did not start with ", kEdgeConfig, "\n", m_edge->output());
  }

  TempDir m_dir;
  std::string m_db;
  std::unique_ptr<Process> m_api;
  std::unique_ptr<Process> m_edge;
  int m_api_port = 0;
  int m_edge_port = 0;
  int m_admin_port = 0;
  int m_users = 0;
};

}  // namespace pw::test::edge
