#include "http/server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "http/request_id.hpp"

namespace pw::http {
namespace {

using Clock = std::chrono::steady_clock;

// What the access log needs to know about the request this thread is serving.
// httplib serves a connection on one thread from parse to log, so a
// thread-local carries it from the pre-routing hook to the logger hook; the
// logger resets it, so a request that failed before routing finds it empty.
struct RequestState {
  bool active = false;
  Clock::time_point start;
  std::string request_id;
  std::size_t metrics_handle = 0;
  bool matched = false;
  std::string route = "unmatched";
  std::optional<std::int64_t> user_id;
};
thread_local RequestState t_state;
// True on the threads that only answer 503 (the pool is saturated).
thread_local bool t_shedding = false;
// The queue a handler thread takes its connections from, so it can tell
// whether other connections are waiting for a thread.
class SheddingTaskQueue;
thread_local const SheddingTaskQueue* t_queue = nullptr;
// When the connection this handler thread serves was taken from the queue.
thread_local Clock::time_point t_connection_since;
// How long a keep-alive connection may keep its thread while others wait.
constexpr auto kConnectionSlice = std::chrono::milliseconds(10);
// Connections the kernel may hold for the accept loop.
constexpr int kListenBacklog = 1024;

const char* status_code_name(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    case 416: return "range_not_satisfiable";
    case 422: return "unprocessable_entity";
    case 429: return "too_many_requests";
    case 431: return "request_header_fields_too_large";
    case 500: return "internal";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "bad_request";
  }
}

const char* status_message(int status) {
  switch (status) {
    case 400: return "the request could not be parsed";
    case 404: return "no such route";
    case 413: return "the request body is larger than the limit";
    case 414: return "the request URI is too long";
    case 416: return "the requested range cannot be satisfied";
    case 431: return "the request headers are too large";
    case 503: return "the server is saturated; retry shortly";
    default: return status >= 500 ? "internal error" : "the request was refused";
  }
}

// Runs connections on a fixed pool with a bounded backlog. When the backlog is
// full, a connection goes to a small overflow pool whose threads answer 503
// (except for the health and metrics paths) instead of queueing without bound.
class SheddingTaskQueue final : public httplib::TaskQueue {
 public:
  SheddingTaskQueue(int threads, int max_queued, int shed_threads)
      : m_max_queued(static_cast<std::size_t>(max_queued)) {
    for (int i = 0; i < threads; ++i) m_threads.emplace_back([this] { run(m_main, false); });
    for (int i = 0; i < shed_threads; ++i) m_threads.emplace_back([this] { run(m_shed, true); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(m_mutex);
      if (m_main.size() < m_max_queued + static_cast<std::size_t>(m_idle)) {
        m_main.push_back(std::move(fn));
        m_waiting.store(m_main.size(), std::memory_order_relaxed);
        m_main_cv.notify_one();
        return;
      }
      if (m_shed.size() < m_max_queued + 64) {
        m_shed.push_back(std::move(fn));
        m_shed_cv.notify_one();
        return;
      }
    }
    // Both full: answer here on the accepting thread (quickly, with a 503),
    // because dropping the task would leak its socket.
    t_shedding = true;
    fn();
    t_shedding = false;
  }

  void shutdown() override {
    {
      std::lock_guard lock(m_mutex);
      m_shutdown = true;
    }
    m_main_cv.notify_all();
    m_shed_cv.notify_all();
    for (auto& thread : m_threads) thread.join();
  }

  // Are accepted connections waiting for a handler thread?
  bool has_waiting() const { return m_waiting.load(std::memory_order_relaxed) > 0; }

 private:
  void run(std::deque<std::function<void()>>& jobs, bool shedding) {
    t_shedding = shedding;
    t_queue = this;
    auto& cv = shedding ? m_shed_cv : m_main_cv;
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(m_mutex);
        if (!shedding) ++m_idle;
        cv.wait(lock, [&] { return !jobs.empty() || m_shutdown; });
        if (!shedding) --m_idle;
        if (jobs.empty()) return;  // shutting down and drained
        fn = std::move(jobs.front());
        jobs.pop_front();
        if (!shedding) m_waiting.store(m_main.size(), std::memory_order_relaxed);
      }
      t_connection_since = Clock::now();
      fn();
    }
  }

  std::size_t m_max_queued;
  std::mutex m_mutex;
  std::condition_variable m_main_cv;
  std::condition_variable m_shed_cv;
  std::deque<std::function<void()>> m_main;
  std::deque<std::function<void()>> m_shed;
  int m_idle = 0;
  std::atomic<std::size_t> m_waiting{0};  // m_main.size(), readable without the lock
  bool m_shutdown = false;
  std::vector<std::thread> m_threads;
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

struct Server::Impl {
  Impl(const config::HttpConfig& config, const observability::Logger& logger,
       observability::Metrics& metrics)
      : config(config), logger(logger), metrics(metrics) {}

  config::HttpConfig config;
  const observability::Logger& logger;
  observability::Metrics& metrics;
  std::vector<std::string> always_served;
  httplib::Server server;
  std::thread listener;
  std::atomic<bool> stopped{false};
  // The listening socket, seen through httplib's socket-options hook.
  socket_t listen_socket = INVALID_SOCKET;
  Router* router = nullptr;

  std::string ensure_request_id(const httplib::Request& req) {
    if (!t_state.active) {
      t_state = RequestState{};
      t_state.active = true;
      t_state.start = Clock::now();
      t_state.request_id = choose_request_id(req.get_header_value("X-Request-ID"),
                                             req.get_header_value("traceparent"));
      t_state.metrics_handle = metrics.unmatched(req.method);
    }
    return t_state.request_id;
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    ensure_request_id(req);
    res.set_header("X-Request-ID", t_state.request_id);
    if (t_shedding &&
        std::find(always_served.begin(), always_served.end(), req.path) == always_served.end()) {
      // Counted under its route, so shedding shows on the route's 503 rate
      // rather than among unknown paths; matching costs no I/O.
      auto match = router->match(req.method, req.path);
      if (match.route != nullptr) {
        t_state.matched = true;
        t_state.route = match.route->pattern;
        t_state.metrics_handle = match.route->metrics_handle;
      }
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_header("Connection", "close");
      res.set_content(render_error("overloaded", status_message(503), t_state.request_id),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    ensure_request_id(req);
    Response response;
    auto match = router->match(req.method, req.path);
    if (match.route == nullptr) {
      if (!match.allowed.empty()) {
        std::string allow;
        for (const auto& method : match.allowed) allow += (allow.empty() ? "" : ", ") + method;
        response = Response::failure(405, "method_not_allowed",
                                     "method " + req.method + " is not allowed here; allowed: " + allow);
        response.with_header("Allow", allow);
      } else {
        response = Response::failure(404, "not_found", "no route for " + req.method + " " + req.path);
      }
    } else {
      t_state.matched = true;
      t_state.route = match.route->pattern;
      t_state.metrics_handle = match.route->metrics_handle;
      Request request;
      request.method = req.method;
      request.path = req.path;
      request.route = match.route->pattern;
      request.body = req.body;
      request.request_id = t_state.request_id;
      request.remote_addr = req.remote_addr;
      request.path_params = std::move(match.params);
      for (const auto& [key, value] : req.params) request.query.emplace_back(key, value);
      for (const auto& [key, value] : req.headers) request.headers.emplace_back(lower(key), value);
      try {
        response = match.route->handler(request);
      } catch (const std::exception& e) {
        // The handler boundary: log once with the reason, tell the client
        // nothing about internals.
        logger.error("handler_failed", {{"request_id", t_state.request_id},
                                        {"route", t_state.route},
                                        {"method", req.method},
                                        {"error", e.what()}});
        response = Response::failure(500, "internal", "internal error");
      }
      t_state.user_id = request.user_id;
    }
    render(response, res);
  }

  void render(Response& response, httplib::Response& res) {
    res.status = response.status;
    for (const auto& [name, value] : response.headers) res.set_header(name, value);
    // A keep-alive connection holds its handler thread between requests.
    // While other connections wait for a thread, end this one once it has
    // had its slice, so waiting clients (and health probes) are served in
    // turn instead of behind up to keep_alive_max requests of each connection.
    if (t_queue != nullptr && !t_shedding && t_queue->has_waiting() &&
        Clock::now() - t_connection_since >= kConnectionSlice) {
      res.set_header("Connection", "close");
    }
    if (response.error) {
      res.set_content(render_error(response.error->first, response.error->second, t_state.request_id),
                      "application/json");
    } else if (!response.body.empty() || response.status != 204) {
      res.set_content(response.body, response.content_type);
    }
  }

  // httplib (0.11) answers 400 both for a malformed request line and for a
  // header line longer than CPPHTTPLIB_HEADER_MAX_LENGTH; it skips other bad
  // header lines. A 400 whose request line parsed, before the pre-routing
  // hook ran (it runs once the headers are read, before any body), therefore
  // means the header section was refused: too large, or cut off by a client
  // that stopped sending (who will not read the answer anyway).
  static bool request_line_was_valid(const httplib::Request& req) {
    static const std::array<std::string_view, 10> methods = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                                             "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
    if (std::find(methods.begin(), methods.end(), req.method) == methods.end()) return false;
    if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") return false;
    return !req.path.empty() && std::count(req.target.begin(), req.target.end(), '?') <= 1;
  }

  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    // Our own handlers always fill the body; an empty one means httplib
    // refused the request itself (400, 413, 414, ...).
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const bool refused_before_routing = !t_state.active;
    if (refused_before_routing) {
      if (res.status == 400 && request_line_was_valid(req)) res.status = 431;
      // Where the next request would start in this stream is unknown, so ask
      // the client to close. httplib itself keeps reading the connection
      // until the client closes it or the idle timeout ends it.
      res.set_header("Connection", "close");
    }
    std::string id = ensure_request_id(req);
    if (!res.has_header("X-Request-ID")) res.set_header("X-Request-ID", id);
    res.set_content(render_error(status_code_name(res.status), status_message(res.status), id),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }

  void on_exception(const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
    std::string reason = "unknown";
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      reason = e.what();
    } catch (...) {
    }
    std::string id = ensure_request_id(req);
    logger.error("handler_failed", {{"request_id", id}, {"method", req.method}, {"error", reason}});
    res.status = 500;
    res.set_header("X-Request-ID", id);
    res.set_content(render_error("internal", "internal error", id), "application/json");
  }

  void log_access(const httplib::Request& req, const httplib::Response& res) {
    ensure_request_id(req);
    double seconds = std::chrono::duration<double>(Clock::now() - t_state.start).count();
    metrics.observe_request(t_state.metrics_handle, res.status, seconds);
    auto level = res.status >= 500 ? observability::LogLevel::error : observability::LogLevel::info;
    if (logger.enabled(level)) {
      observability::LogFields fields = {
          {"request_id", t_state.request_id}, {"route", t_state.route},     {"method", req.method},
          {"path", req.path},                 {"status", res.status},       {"latency_ms", seconds * 1000.0},
      };
      if (t_state.user_id) fields.emplace_back("user_id", *t_state.user_id);
      logger.log(level, "http_request", fields);
    }
    t_state = RequestState{};
  }
};

Server::Server(const config::HttpConfig& config, const observability::Logger& logger,
               observability::Metrics& metrics)
    : m_impl(std::make_unique<Impl>(config, logger, metrics)) {
  m_impl->router = &m_router;
  auto& server = m_impl->server;
  Impl* impl = m_impl.get();
  int threads = config.threads;
  int max_queued = config.max_queued;
  server.new_task_queue = [threads, max_queued] {
    return new SheddingTaskQueue(threads, max_queued, 2);
  };
  server.set_tcp_nodelay(true);
  // httplib creates one socket per address it tries and binds the last one it
  // configured here; the options are its defaults.
  server.set_socket_options([impl](socket_t socket) {
    httplib::default_socket_options(socket);
    impl->listen_socket = socket;
  });
  server.set_payload_max_length(static_cast<std::size_t>(config.max_body_bytes));
  server.set_read_timeout(config.read_timeout_s, 0);
  server.set_write_timeout(config.write_timeout_s, 0);
  server.set_keep_alive_timeout(config.idle_timeout_s);
  server.set_keep_alive_max_count(static_cast<std::size_t>(config.keep_alive_max));
  server.set_pre_routing_handler(
      [impl](const httplib::Request& req, httplib::Response& res) { return impl->pre_route(req, res); });
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [impl](const httplib::Request& req, httplib::Response& res) { return impl->on_error(req, res); }));
  server.set_exception_handler([impl](const httplib::Request& req, httplib::Response& res,
                                      std::exception_ptr error) { impl->on_exception(req, res, error); });
  server.set_logger(
      [impl](const httplib::Request& req, const httplib::Response& res) { impl->log_access(req, res); });
  auto dispatch = [impl](const httplib::Request& req, httplib::Response& res) { impl->dispatch(req, res); };
  server.Get(".*", dispatch);
  server.Post(".*", dispatch);
  server.Put(".*", dispatch);
  server.Patch(".*", dispatch);
  server.Delete(".*", dispatch);
  server.Options(".*", dispatch);
}

Server::~Server() { stop(); }

void Server::route(std::string method, std::string pattern, Handler handler) {
  auto& added = m_router.add(method, pattern, std::move(handler));
  added.metrics_handle = m_impl->metrics.add_route(added.pattern, added.method);
}

void Server::serve_under_load(std::string path) { m_impl->always_served.push_back(std::move(path)); }

int Server::start() {
  auto& server = m_impl->server;
  const auto& config = m_impl->config;
  int port = config.port == 0 ? server.bind_to_any_port(config.host)
                              : (server.bind_to_port(config.host, config.port) ? config.port : -1);
  if (port < 0) {
    throw std::runtime_error("cannot listen on " + config.host + ":" + std::to_string(config.port));
  }
  // httplib (0.11) listens with a backlog of 5. When many clients connect
  // at once (a reconnect storm under load), the kernel then drops their SYNs
  // and they retry after 1, 3 and 7 s; a deeper accept queue lets them wait
  // for the accept loop instead. listen() on a listening socket only resizes
  // its queue (the kernel caps it at net.core.somaxconn).
  if (m_impl->listen_socket != INVALID_SOCKET) ::listen(m_impl->listen_socket, kListenBacklog);
  m_port = port;
  m_impl->listener = std::thread([&server] { server.listen_after_bind(); });
  // listen_after_bind flips is_running() once its accept loop runs.
  for (int waited = 0; !server.is_running(); ++waited) {
    if (waited > 5000) throw std::runtime_error("the HTTP listener did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port;
}

void Server::stop() {
  if (m_impl->stopped.exchange(true)) return;
  m_impl->server.stop();
  if (m_impl->listener.joinable()) m_impl->listener.join();
}

}  // namespace pw::http
