// A webhook receiver on 127.0.0.1 (or [::1]) written with raw sockets, so a test can
// misbehave on the wire as no HTTP library would: trickle a status line,
// stream header lines or a body forever, never answer. Each accepted
// connection runs the script on a thread of its own; the destructor stops
// every script (their waits and sends notice within 50 ms) and joins them.
//
//   RawReceiver silent([](ReceivedConnection& c) { c.read_request(); c.hold(); });
//   ... deliver to silent.url() ...
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace pw::test {

class ReceivedConnection {
 public:
  using RequestSink = std::function<void(const std::string&)>;
  ReceivedConnection(int fd, const std::atomic<bool>& stopping, RequestSink on_request)
      : m_fd(fd), m_stopping(stopping), m_on_request(std::move(on_request)) {}

  bool stopping() const { return m_stopping.load(); }

  // Reads the request head and a Content-Length body into request(); false
  // when the peer closes first or the receiver stops.
  bool read_request() {
    for (;;) {
      const auto head_end = m_request.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        const auto at = lower(m_request.substr(0, head_end)).find("content-length:");
        if (at != std::string::npos) length = std::stoul(m_request.substr(at + 15));
        if (m_request.size() >= head_end + 4 + length) {
          m_on_request(m_request);  // recorded before any answer is sent
          return true;
        }
      }
      if (!wait_for(POLLIN)) return false;
      char buffer[4096];
      const ssize_t got = ::recv(m_fd, buffer, sizeof buffer, 0);
      if (got <= 0) return false;
      m_request.append(buffer, static_cast<std::size_t>(got));
    }
  }
  const std::string& request() const { return m_request; }

  // Sends all of `bytes`; false once the peer is gone or the receiver stops.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      if (!wait_for(POLLOUT)) return false;
      const ssize_t sent = ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Waits `duration` (or until the receiver stops); false if it stopped.
  bool pause(std::chrono::milliseconds duration) {
    const auto until = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < until) {
      if (stopping()) return false;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
    }
    return !stopping();
  }

  // Keeps the connection open without a word until the peer closes it or the receiver stops.
  void hold() {
    char buffer[256];
    while (wait_for(POLLIN)) {
      if (::recv(m_fd, buffer, sizeof buffer, 0) <= 0) return;
    }
  }

 private:
  static std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }

  // Polls in 50 ms slices so that stopping is noticed; false once stopping
  // or the socket failed.
  bool wait_for(short events) {
    while (!stopping()) {
      pollfd fd{m_fd, events, 0};
      const int ready = ::poll(&fd, 1, 50);
      if (ready < 0 && errno != EINTR) return false;
      // Readable, writable, closed or failed: the next recv or send tells which.
      if (ready > 0) return (fd.revents & POLLNVAL) == 0;
    }
    return false;
  }

  int m_fd;
  const std::atomic<bool>& m_stopping;
  RequestSink m_on_request;
  std::string m_request;
};

class RawReceiver {
 public:
  using Script = std::function<void(ReceivedConnection&)>;
  using Clock = std::chrono::steady_clock;

  enum class Family { v4, v6 };

  // Listens on 127.0.0.1, or on [::1] for Family::v6.
  explicit RawReceiver(Script script, Family family = Family::v4) : m_script(std::move(script)), m_family(family) {
    const bool v6 = family == Family::v6;
    m_listener = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_listener < 0) throw std::runtime_error("socket failed");
    sockaddr_storage storage{};
    socklen_t length = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (v6) {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_addr = in6addr_loopback;
    } else {
      auto* address = reinterpret_cast<sockaddr_in*>(&storage);
      address->sin_family = AF_INET;
      address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    auto* address = reinterpret_cast<sockaddr*>(&storage);
    if (::bind(m_listener, address, length) != 0 || ::listen(m_listener, 64) != 0 ||
        ::getsockname(m_listener, address, &length) != 0) {
      ::close(m_listener);
      throw std::runtime_error("cannot listen on loopback");
    }
    m_port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                      : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    m_acceptor = std::thread([this] { accept_loop(); });
  }

  ~RawReceiver() {
    m_stopping = true;
    m_acceptor.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard lock(m_mutex);
      connections.swap(m_connections);
    }
    for (auto& thread : connections) thread.join();
    ::close(m_listener);
  }
  RawReceiver(const RawReceiver&) = delete;
  RawReceiver& operator=(const RawReceiver&) = delete;

  int port() const { return m_port; }
  std::string url(const std::string& path = "/hook") const {
    return std::string(m_family == Family::v6 ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(m_port) + path;
  }

  int accepted() const {
    std::lock_guard lock(m_mutex);
    return static_cast<int>(m_accepted_at.size());
  }
  // When the n-th connection (from 1) was accepted, once it was.
  std::optional<Clock::time_point> accepted_at(int n) const {
    std::lock_guard lock(m_mutex);
    if (n < 1 || n > static_cast<int>(m_accepted_at.size())) return std::nullopt;
    return m_accepted_at[static_cast<std::size_t>(n - 1)];
  }
  // Every complete request received so far (read_request), concatenated.
  std::string requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }

 private:
  void accept_loop() {
    while (!m_stopping) {
      pollfd fd{m_listener, POLLIN, 0};
      if (::poll(&fd, 1, 50) <= 0) continue;
      const int connection = ::accept4(m_listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      std::lock_guard lock(m_mutex);
      m_accepted_at.push_back(Clock::now());
      m_connections.emplace_back([this, connection] {
        ReceivedConnection raw(connection, m_stopping, [this](const std::string& request) {
          std::lock_guard inner(m_mutex);
          m_requests += request;
        });
        m_script(raw);
        ::close(connection);
      });
    }
  }

  Script m_script;
  Family m_family;
  int m_listener = -1;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;
  std::vector<Clock::time_point> m_accepted_at;
  std::vector<std::thread> m_connections;
  std::string m_requests;
  std::thread m_acceptor;
};

}  // namespace pw::test
