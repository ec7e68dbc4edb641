#include "http/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace pw::http {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

Connection::Connection(FileDescriptor socket, std::string peer_ip, int peer_port, const FramingLimits& limits,
                       Budget& budget)
    : framer(limits),
      idle_since(Clock::now()),
      m_socket(std::move(socket)),
      m_peer_ip(std::move(peer_ip)),
      m_peer_port(peer_port),
      m_budget(budget) {
  ++m_budget.connections;
}

Connection::~Connection() {
  m_budget.held -= m_accounted;
  --m_budget.connections;
}

const std::string& Connection::local_ip() {
  if (!m_local) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    char text[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (::getsockname(fd(), reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      if (local.ss_family == AF_INET6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&local);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        port = ntohs(v6->sin6_port);
      } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&local);
        ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
        port = ntohs(v4->sin_port);
      }
    }
    m_local.emplace(text, port);
  }
  return m_local->first;
}

int Connection::local_port() {
  local_ip();
  return m_local->second;
}

Connection::Progress Connection::frame() {
  if (!framer.started() && !m_buffer.empty()) request_started = Clock::now();
  const std::size_t used = framer.feed(m_buffer);
  m_buffer.erase(0, used);
  // A connection that waits with nothing buffered should not keep the
  // capacity of its largest read.
  if (m_buffer.empty() && m_buffer.capacity() > 4096) std::string().swap(m_buffer);
  if (!account()) return Progress::refused;
  switch (framer.state()) {
    case RequestFramer::State::complete: return Progress::complete;
    case RequestFramer::State::refused: return Progress::refused;
    default: break;
  }
  // The client waits for this before it sends a body it announced; a socket
  // buffer that cannot take 25 bytes only delays that client, never us.
  if (framer.take_continue()) write_now(fd(), kContinue);
  return Progress::need_more;
}

bool Connection::account() {
  const std::size_t now_held = m_buffer.size() + framer.buffered_bytes();
  const std::size_t total = m_budget.held.fetch_add(now_held - m_accounted) + (now_held - m_accounted);
  m_accounted = now_held;
  if (total > m_budget.limit && framer.state() == RequestFramer::State::reading) {
    framer.refuse_overloaded();
    return false;
  }
  return true;
}

Connection::Progress Connection::read_and_frame(std::size_t budget) {
  // Bytes left from a previous read are framed first (pipelined requests).
  if (!m_buffer.empty()) {
    if (auto progress = frame(); progress != Progress::need_more) return progress;
  }
  char chunk[kReadChunk];
  std::size_t total = 0;
  while (total < budget) {
    std::size_t got = 0;
    switch (read_some(fd(), chunk, sizeof chunk, got)) {
      case IoStatus::ok:
        break;
      case IoStatus::would_block:
        return Progress::need_more;
      case IoStatus::closed:
      case IoStatus::failed:
        return Progress::closed;
    }
    total += got;
    m_buffer.append(chunk, got);
    if (auto progress = frame(); progress != Progress::need_more) return progress;
  }
  return Progress::need_more;
}

}  // namespace pw::http
