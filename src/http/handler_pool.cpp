#include "http/handler_pool.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <stdexcept>

namespace pw::http {

HandlerPool::HandlerPool(int threads, std::size_t max_queued, Serve serve)
    : m_serve(std::move(serve)),
      m_max_queued(max_queued),
      m_preempt(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE)) {
  if (!m_preempt) throw std::runtime_error("cannot create the handler pool's signal");
  for (int i = 0; i < threads; ++i) m_threads.emplace_back([this] { run(); });
}

HandlerPool::~HandlerPool() { shutdown(); }

std::unique_ptr<Connection> HandlerPool::submit(std::unique_ptr<Connection> connection, bool only_if_idle) {
  bool preempt = false;
  {
    std::lock_guard lock(m_mutex);
    const auto free_threads = static_cast<std::size_t>(m_idle);
    const std::size_t room = only_if_idle ? free_threads : free_threads + m_max_queued;
    if (m_shutdown || m_queue.size() >= room) return connection;
    m_queue.push_back(std::move(connection));
    m_waiting.store(m_queue.size(), std::memory_order_relaxed);
    if (m_idle > 0) {
      m_ready.notify_one();
    } else {
      preempt = m_lingering > 0;
    }
  }
  if (preempt) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(m_preempt.get(), &one, sizeof one);
  }
  return nullptr;
}

bool HandlerPool::take_preempt() {
  std::uint64_t token;
  return ::read(m_preempt.get(), &token, sizeof token) == static_cast<ssize_t>(sizeof token);
}

void HandlerPool::begin_linger() {
  std::lock_guard lock(m_mutex);
  ++m_lingering;
}

void HandlerPool::end_linger() {
  std::lock_guard lock(m_mutex);
  --m_lingering;
}

void HandlerPool::shutdown() {
  {
    std::lock_guard lock(m_mutex);
    if (m_shutdown && m_threads.empty()) return;
    m_shutdown = true;
  }
  m_ready.notify_all();
  for (auto& thread : m_threads) thread.join();
  m_threads.clear();
}

void HandlerPool::run() {
  for (;;) {
    std::unique_ptr<Connection> connection;
    {
      std::unique_lock lock(m_mutex);
      ++m_idle;
      m_ready.wait(lock, [&] { return !m_queue.empty() || m_shutdown; });
      --m_idle;
      if (m_queue.empty()) return;  // shut down, nothing left to serve
      connection = std::move(m_queue.front());
      m_queue.pop_front();
      m_waiting.store(m_queue.size(), std::memory_order_relaxed);
    }
    m_serve(std::move(connection));
  }
}

}  // namespace pw::http
