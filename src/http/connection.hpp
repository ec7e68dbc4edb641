// One client connection: its socket, the bytes read but not yet framed, and
// the framer that cuts them into requests. A connection has one owner at a
// time: the reactor while it waits for bytes, a handler thread while one of
// its requests is served (ownership moves with the unique_ptr).
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "http/request_framer.hpp"
#include "http/socket.hpp"

namespace pw::http {

class Connection {
 public:
  // What all connections together may hold: each connection's buffered
  // request bytes are bounded by the framer, and their sum by `limit`, so a
  // crowd of clients each sending a large body slowly cannot exhaust
  // memory: past the limit, requests still arriving are refused with 503.
  struct Budget {
    std::size_t limit = 64 << 20;
    std::atomic<std::size_t> held{0};
    std::atomic<std::size_t> connections{0};
  };

  Connection(FileDescriptor socket, std::string peer_ip, int peer_port, const FramingLimits& limits, Budget& budget);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return m_socket.get(); }
  const std::string& peer_ip() const { return m_peer_ip; }
  int peer_port() const { return m_peer_port; }
  // This end's address, looked up once.
  const std::string& local_ip();
  int local_port();

  enum class Progress { need_more, complete, refused, closed };
  // Reads what the socket has, up to `budget` bytes, and frames it; stops at
  // the end of a request (pipelined bytes stay buffered for the next one).
  Progress read_and_frame(std::size_t budget);
  // Frames what is already buffered (after a request was served).
  Progress frame();

  RequestFramer framer;
  Clock::time_point request_started;  // first byte of the request being read
  Clock::time_point idle_since;       // accepted, or last response written
  Clock::time_point deadline;         // set when parked: when waiting ends
  int served = 0;                     // requests answered
  bool registered = false;            // known to the reactor's epoll set
  // After a refusal the client may still be sending: what it sends is read
  // and dropped until then, so closing does not reset the connection under
  // the answer it has not read yet.
  std::optional<Clock::time_point> draining_until;
  std::size_t drained = 0;

 private:
  FileDescriptor m_socket;
  std::string m_peer_ip;
  int m_peer_port;
  std::string m_buffer;  // read, not yet consumed by the framer
  std::optional<std::pair<std::string, int>> m_local;
  Budget& m_budget;
  std::size_t m_accounted = 0;  // of m_budget.held

  bool account();
};

}  // namespace pw::http
