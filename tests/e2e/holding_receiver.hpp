// A webhook receiver on 127.0.0.1 for black-box tests: it holds every
// delivery open until release(), so deliveries stay in flight for as long as
// a test needs, and counts how many it held at once.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "support/process.hpp"

namespace pw::test {

class HoldingReceiver {
 public:
  // Holds up to `threads` deliveries at once; more wait for a thread.
  explicit HoldingReceiver(std::size_t threads = 32) {
    m_server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    m_server.Post("/hook", [this](const httplib::Request&, httplib::Response& response) {
      std::unique_lock lock(m_mutex);
      m_most_at_once = std::max(m_most_at_once, ++m_at_once);
      // A bound, so a failing test cannot hang here.
      m_released_cv.wait_for(lock, std::chrono::seconds(120), [this] { return m_released; });
      --m_at_once;
      response.set_content("{\"ok\":true}", "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    REQUIRE(eventually([this] { return m_server.is_running(); }, std::chrono::seconds(10)));
  }
  ~HoldingReceiver() {
    release();
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/hook"; }
  void release() {
    std::lock_guard lock(m_mutex);
    m_released = true;
    m_released_cv.notify_all();
  }
  int at_once() {
    std::lock_guard lock(m_mutex);
    return m_at_once;
  }
  int most_at_once() {
    std::lock_guard lock(m_mutex);
    return m_most_at_once;
  }

 private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
  std::mutex m_mutex;
  std::condition_variable m_released_cv;
  bool m_released = false;
  int m_at_once = 0;
  int m_most_at_once = 0;
};

}  // namespace pw::test
