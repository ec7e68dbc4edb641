// The HTTP server both roles use: routing by template, request ids, JSON
// errors, one access-log line and the HTTP metrics per request, a bounded
// worker pool that sheds load with a quick 503, and a graceful stop.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"

namespace pw::http {

class Server {
 public:
  Server(const config::HttpConfig& config, const observability::Logger& logger,
         observability::Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Register every route before start().
  void route(std::string method, std::string pattern, Handler handler);
  // Paths answered even while the pool is saturated and new work is shed.
  void serve_under_load(std::string path);

  // Binds (port 0 picks a free one), starts listening on a background thread
  // and returns the bound port. Throws std::runtime_error when it cannot bind.
  int start();
  // Stops accepting, lets in-flight requests finish, joins. Idempotent.
  void stop();

  const Router& router() const { return m_router; }
  int port() const { return m_port; }

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
  Router m_router;
  int m_port = 0;
};

}  // namespace pw::http
