// The HTTP server both roles use: routing by template, request ids, JSON
// errors, one access-log line and the HTTP metrics per request, a bounded
// worker pool that sheds load with a quick 503, and a graceful stop.
#pragma once

#include <functional>
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
  // Paths at or under `prefix` ("/admin": /admin and /admin/...) exist only
  // while `open()` says so, asked on every such request: otherwise they are
  // answered exactly like a path no route matches (404, whatever the
  // method). An exception from `open()` is the handler boundary's (500).
  void gate(std::string prefix, std::function<bool()> open);

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
