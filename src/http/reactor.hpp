// The one thread that watches every connection no handler is serving:
// new connections, keep-alive connections between requests, requests still
// arriving and refused connections being drained. It reads and frames
// bytes as they come and hands a connection on only once a whole request is
// in: an idle or slow client costs a file descriptor and a few kilobytes,
// never a handler thread, so health checks keep answering however many such
// clients there are.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "http/connection.hpp"
#include "http/socket.hpp"

namespace pw::http {

class Reactor {
 public:
  struct Settings {
    std::chrono::milliseconds idle_timeout{5000};     // between requests, and before the first
    std::chrono::milliseconds request_timeout{10000};  // from a request's first byte to its last
    std::size_t max_connections = 10000;
    std::size_t max_buffered_bytes = 64 << 20;  // request bytes held across all connections
    FramingLimits limits;
  };
  struct Callbacks {
    // A whole request is framed on the connection.
    std::function<void(std::unique_ptr<Connection>)> on_request;
    // The framer refused the request, or it did not arrive in time (408):
    // answer, then drain().
    std::function<void(std::unique_ptr<Connection>, const FramingError&)> on_refused;
  };

  Reactor(Listener listener, Settings settings, Callbacks callbacks);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  void start();
  // Watches the connection until its next request is in (or its deadline
  // passes). Any thread; a connection handed over after stop() is closed.
  void park(std::unique_ptr<Connection> connection);
  // Reads and drops what the client still sends for a short while, then
  // closes: the answer already written is not lost to a reset.
  void drain(std::unique_ptr<Connection> connection);
  // Stops accepting, closes every connection it watches, joins. Idempotent.
  void stop();

  std::size_t open_connections() const { return m_budget.connections; }

 private:
  void run();
  void accept_all();
  void on_readable(std::unique_ptr<Connection> connection);
  void sweep();
  bool evict_idle();
  void watch(std::unique_ptr<Connection> connection);

  Listener m_listener;
  Settings m_settings;
  Callbacks m_callbacks;
  FileDescriptor m_epoll;
  FileDescriptor m_wake;
  Connection::Budget m_budget;
  std::atomic<bool> m_stopping{false};
  bool m_accepting = true;
  Clock::time_point m_resume_accepting;
  std::mutex m_mutex;
  bool m_stopped = false;  // guarded by m_mutex
  std::unordered_map<Connection*, std::unique_ptr<Connection>> m_watched;  // guarded by m_mutex
  std::thread m_thread;
};

}  // namespace pw::http
