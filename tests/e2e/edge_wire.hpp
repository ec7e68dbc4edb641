// Raw HTTP/1 on the wire for the edge proxy test: a client that sends bytes
// exactly as given (however malformed, slow or endless) and keeps whatever
// the peer answers, and a reader for the answers.
//
//   RawConnection attacker(edge_port);
//   attacker.send_all("GET /healthz HTTP/1.1\r\n");   // false once the peer cut us off
//   attacker.wait_closed(5s);
//   auto answers = parse_responses(attacker.received());
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pw::test::edge {

using namespace std::chrono_literals;

class RawConnection {
 public:
  explicit RawConnection(int port) {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) throw std::runtime_error("socket: " + std::to_string(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      int error = errno;
      ::close(m_fd);
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": errno " + std::to_string(error));
    }
  }
  ~RawConnection() { ::close(m_fd); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `data`, reading whatever the peer answers meanwhile so that
  // an answer is kept even when the peer then resets the connection. False
  // once the peer has closed or reset it, or when nothing moves for `stall`.
  bool send_all(std::string_view data, std::chrono::milliseconds stall = 10s) {
    while (!data.empty()) {
      if (m_closed) return false;
      pollfd watch{m_fd, POLLIN | POLLOUT, 0};
      if (::poll(&watch, 1, static_cast<int>(stall.count())) <= 0) return false;
      if (watch.revents & (POLLIN | POLLHUP | POLLERR)) drain();
      if (m_closed || !(watch.revents & POLLOUT)) continue;
      ssize_t sent = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        drain();
        m_closed = true;
        return false;
      }
      m_sent += static_cast<std::size_t>(sent);
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads until the peer closes the connection (true) or `timeout` passes.
  bool wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!m_closed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd watch{m_fd, POLLIN, 0};
      if (::poll(&watch, 1, static_cast<int>(left.count())) > 0) drain();
    }
    return true;
  }

  // Reads until `done(received())` holds, the peer closes, or `timeout` passes.
  template <typename Done>
  bool wait_until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(m_received)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (m_closed || left <= 0ms) return false;
      pollfd watch{m_fd, POLLIN, 0};
      if (::poll(&watch, 1, static_cast<int>(left.count())) > 0) drain();
    }
    return true;
  }

  const std::string& received() const { return m_received; }
  std::size_t sent() const { return m_sent; }
  bool closed() const { return m_closed; }

 private:
  void drain() {
    char buffer[16384];
    for (;;) {
      ssize_t got = ::recv(m_fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) {
        m_received.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got == 0 || (errno != EAGAIN && errno != EINTR)) m_closed = true;
      return;
    }
  }

  int m_fd = -1;
  bool m_closed = false;
  std::size_t m_sent = 0;
  std::string m_received;
};

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& lower_name) const {
    auto found = headers.find(lower_name);
    return found == headers.end() ? std::string() : found->second;
  }
};

// The complete responses at the start of `wire`, in order (bodies framed by
// Content-Length; an answer without one ends the parse).
inline std::vector<RawResponse> parse_responses(std::string_view wire) {
  std::vector<RawResponse> out;
  while (wire.substr(0, 5) == "HTTP/") {
    auto end_of_head = wire.find("\r\n\r\n");
    if (end_of_head == std::string_view::npos) break;
    RawResponse response;
    std::string_view head = wire.substr(0, end_of_head);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    auto space = status_line.find(' ');
    if (space == std::string_view::npos) break;
    response.status = std::atoi(std::string(status_line.substr(space + 1, 3)).c_str());
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      std::string_view line = head.substr(0, line_end);
      auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(line.substr(0, colon));
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers[name] = std::string(value);
    }
    wire.remove_prefix(end_of_head + 4);
    auto length = response.headers.find("content-length");
    if (length == response.headers.end()) {
      out.push_back(std::move(response));
      break;
    }
    auto size = static_cast<std::size_t>(std::stoull(length->second));
    if (wire.size() < size) break;
    response.body = std::string(wire.substr(0, size));
    wire.remove_prefix(size);
    out.push_back(std::move(response));
  }
  return out;
}

}  // namespace pw::test::edge
