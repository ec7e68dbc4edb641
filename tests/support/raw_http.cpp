#include "support/raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace pw::test {
namespace {

using Clock = std::chrono::steady_clock;

std::size_t status_field_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1));
  }
  return 0;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

}  // namespace

std::string RawResponse::header(std::string_view name) const {
  auto found = headers.find(lower(name));
  return found == headers.end() ? std::string() : found->second;
}

std::vector<RawResponse> parse_responses(std::string_view wire, std::size_t* consumed, std::size_t most) {
  std::vector<RawResponse> out;
  const std::size_t total = wire.size();
  while (out.size() < most && wire.substr(0, 5) == "HTTP/") {
    const auto end_of_head = wire.find("\r\n\r\n");
    if (end_of_head == std::string_view::npos) break;
    RawResponse response;
    std::string_view head = wire.substr(0, end_of_head);
    auto line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    const auto space = status_line.find(' ');
    if (space == std::string_view::npos) break;
    response.status = std::atoi(std::string(status_line.substr(space + 1, 3)).c_str());
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      const std::string_view line = head.substr(0, line_end);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers[lower(line.substr(0, colon))] = std::string(value);
    }
    std::size_t size = 0;
    if (response.status >= 200) {
      const auto length = response.headers.find("content-length");
      if (length == response.headers.end()) {
        wire.remove_prefix(end_of_head + 4);
        out.push_back(std::move(response));
        break;
      }
      size = static_cast<std::size_t>(std::stoull(length->second));
    }
    if (wire.size() < end_of_head + 4 + size) break;
    response.body = std::string(wire.substr(end_of_head + 4, size));
    wire.remove_prefix(end_of_head + 4 + size);
    out.push_back(std::move(response));
  }
  if (consumed != nullptr) *consumed = total - wire.size();
  return out;
}

RawConnection::RawConnection(int port) {
  m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_fd < 0) throw std::runtime_error("socket: errno " + std::to_string(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(m_fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": errno " + std::to_string(error));
  }
}

RawConnection::~RawConnection() { ::close(m_fd); }

bool RawConnection::send_all(std::string_view data, std::chrono::milliseconds stall) {
  while (!data.empty()) {
    if (m_closed) return false;
    pollfd watch{m_fd, POLLIN | POLLOUT, 0};
    if (::poll(&watch, 1, static_cast<int>(stall.count())) <= 0) return false;
    if (watch.revents & (POLLIN | POLLHUP | POLLERR)) drain();
    if (m_closed || !(watch.revents & POLLOUT)) continue;
    const ssize_t sent = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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

std::optional<RawResponse> RawConnection::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::size_t consumed = 0;
    auto responses = parse_responses(std::string_view(m_received).substr(m_returned), &consumed, 1);
    if (!responses.empty()) {
      m_returned += consumed;
      return responses.front();
    }
    if (m_closed || !wait_readable(deadline)) return std::nullopt;
  }
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!m_closed) {
    if (!wait_readable(deadline)) return false;
  }
  return true;
}

bool RawConnection::wait_until(const std::function<bool(const std::string&)>& done,
                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done(m_received)) {
    if (m_closed || !wait_readable(deadline)) return false;
  }
  return true;
}

bool RawConnection::wait_readable(Clock::time_point deadline) {
  const int left = millis_until(deadline);
  if (left == 0) return false;
  pollfd watch{m_fd, POLLIN, 0};
  if (::poll(&watch, 1, left) > 0) drain();
  return true;
}

void RawConnection::drain() {
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::recv(m_fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) {
      m_received.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (got == 0 || (errno != EAGAIN && errno != EINTR)) m_closed = true;
    return;
  }
}

std::size_t resident_bytes(pid_t pid) { return status_field_kib(pid, "VmRSS") * 1024; }
std::size_t peak_resident_bytes(pid_t pid) { return status_field_kib(pid, "VmHWM") * 1024; }

std::size_t raise_open_file_limit_for_test() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace pw::test
