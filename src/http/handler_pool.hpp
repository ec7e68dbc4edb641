// The threads that serve requests: a fixed set taking connections, each
// with one whole request framed, from a bounded queue. A thread that has
// answered may keep its connection to wait for the next request (cheaper
// than a trip through the reactor) but only while no other connection is
// queued: a queued one signals `preempt_fd()` so a lingering thread gives
// its connection back and takes the queued one at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http/connection.hpp"
#include "http/socket.hpp"

namespace pw::http {

class HandlerPool {
 public:
  using Serve = std::function<void(std::unique_ptr<Connection>)>;

  HandlerPool(int threads, std::size_t max_queued, Serve serve);
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // Queues the connection, unless more than max_queued would then wait for
  // a thread (or, with `only_if_idle`, unless a thread is free right now):
  // then it is handed back untouched.
  std::unique_ptr<Connection> submit(std::unique_ptr<Connection> connection, bool only_if_idle = false);

  // For a thread holding a connection between requests.
  bool others_waiting() const { return m_waiting.load(std::memory_order_relaxed) > 0; }
  int preempt_fd() const { return m_preempt.get(); }
  // Takes one "a connection is queued" signal; false when another thread
  // took it first.
  bool take_preempt();
  void begin_linger();
  void end_linger();

  // Serves what is queued, then joins the threads. Idempotent.
  void shutdown();

 private:
  void run();

  Serve m_serve;
  std::size_t m_max_queued;
  FileDescriptor m_preempt;
  std::mutex m_mutex;
  std::condition_variable m_ready;
  std::deque<std::unique_ptr<Connection>> m_queue;  // guarded by m_mutex
  int m_idle = 0;                                    // guarded by m_mutex
  int m_lingering = 0;                               // guarded by m_mutex
  bool m_shutdown = false;                           // guarded by m_mutex
  std::atomic<std::size_t> m_waiting{0};             // m_queue.size(), readable without the lock
  std::vector<std::thread> m_threads;
};

}  // namespace pw::http
