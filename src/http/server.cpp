// How a request travels: the reactor (reactor.cpp) accepts the connection
// and reads until the framer (request_framer.cpp) has a whole request or
// refuses it. A whole request goes to a handler thread (handler_pool.cpp),
// which feeds its canonical head to httplib's own parser and response writer
// through an ExchangeStream; httplib calls our hooks (pre-routing dispatch,
// error, exception, access log). A refused one is answered here, on the
// reactor thread, and drained. After the answer the handler thread keeps the
// connection for its next request while no other connection waits, then
// parks it with the reactor.
#include "http/server.hpp"

#include <httplib.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "http/handler_pool.hpp"
#include "http/reactor.hpp"
#include "http/request_id.hpp"
#include "http/status.hpp"

namespace pw::http {
namespace {

// cpp-httplib 0.11.4, as Debian builds it, answers every client that accepts
// `br` (every browser) with Brotli at the encoder's default quality, 11, the
// slowest: 25-50 ms of CPU for a 25 KB page of jobs, where gzip takes 1 ms
// and saves nearly as much. It offers no setting, so httplib is shown the
// client's other encodings only and picks gzip (or nothing) from those.
void hide_brotli(httplib::Request& req) {
  auto range = req.headers.equal_range("Accept-Encoding");
  for (auto it = range.first; it != range.second; ++it) {
    std::string kept;
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view token = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      // httplib looks for "br" anywhere in the value: keep no token that holds it.
      std::string lowered(token);
      std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lowered.find("br") != std::string::npos) continue;
      if (!kept.empty()) kept += ',';
      kept += token;
    }
    it->second = std::move(kept);
  }
}

// How long a connection may keep its handler thread while others wait.
constexpr auto kConnectionSlice = std::chrono::milliseconds(10);
// Connections the kernel may hold for the accept loop (a reconnect storm).
constexpr int kListenBacklog = 1024;
// Threads that answer the always-served paths (health, metrics) when every
// handler thread is busy, and how many such requests may wait for them.
constexpr int kPriorityThreads = 2;
constexpr std::size_t kPriorityQueue = 64;
// Descriptors kept for everything that is not a client connection
// (database files, log pipes, the webhook client's sockets).
constexpr std::size_t kReservedDescriptors = 128;
// Buffered response bytes that are sent before the response is complete.
constexpr std::size_t kFlushAt = 64 * 1024;
// How often a thread waiting on its connection looks at the stop flag.
constexpr int kLingerPollMs = 50;

// httplib's request parser, router hooks and response writer, fed with
// requests we framed.
class RequestProcessor final : public httplib::Server {
 public:
  bool process(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }
};

// One framed request head for httplib to read, and the response it writes,
// buffered so that status line, headers and body leave in one send.
class ExchangeStream final : public httplib::Stream {
 public:
  ExchangeStream(Connection& connection, std::string_view head, std::chrono::seconds write_timeout)
      : m_connection(connection), m_head(head), m_write_timeout(write_timeout) {}

  bool is_readable() const override { return m_read < m_head.size(); }
  bool is_writable() const override { return !m_failed; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, m_head.size() - m_read);
    std::memcpy(ptr, m_head.data() + m_read, n);
    m_read += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (m_failed) return -1;
    m_out.append(ptr, size);
    if (m_out.size() >= kFlushAt && !flush()) return -1;
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_connection.peer_ip();
    port = m_connection.peer_port();
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = m_connection.local_ip();
    port = m_connection.local_port();
  }
  socket_t socket() const override { return m_connection.fd(); }

  // Sends what is buffered; false once the client is gone or too slow.
  bool flush() {
    if (!m_failed && !m_out.empty()) {
      m_failed = !write_all(m_connection.fd(), m_out, Clock::now() + m_write_timeout);
      m_out.clear();
    }
    return !m_failed;
  }

 private:
  Connection& m_connection;
  std::string_view m_head;
  std::size_t m_read = 0;
  std::chrono::seconds m_write_timeout;
  std::string m_out;
  bool m_failed = false;
};

// What the access log needs to know about the request this thread serves.
// A handler thread serves one request at a time from parse to log, so a
// thread-local carries it between httplib's hooks; the access hook resets
// it, so a request that failed before routing finds it empty.
struct RequestState {
  bool active = false;
  Clock::time_point start;
  std::string request_id;
  std::size_t metrics_handle = 0;
  std::string route = "unmatched";
  std::optional<std::int64_t> user_id;
};
thread_local RequestState t_state;
// The exchange in progress on this thread: its stream (flushed before the
// access line is written), its framed body, and whether the response asked
// the client to close.
thread_local ExchangeStream* t_stream = nullptr;
thread_local std::string* t_body = nullptr;
thread_local bool t_response_close = false;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

struct Server::Impl {
  Impl(const config::HttpConfig& config, const observability::Logger& logger,
       observability::Metrics& metrics)
      : config(config), logger(logger), metrics(metrics) {}

  config::HttpConfig config;
  const observability::Logger& logger;
  observability::Metrics& metrics;
  std::vector<std::string> always_served;
  struct Gate {
    std::string prefix;
    std::function<bool()> open;
  };
  std::vector<Gate> gates;
  RequestProcessor processor;
  Router* router = nullptr;
  std::unique_ptr<Reactor> reactor;
  std::unique_ptr<HandlerPool> pool;
  std::unique_ptr<HandlerPool> priority;
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};

  bool is_always_served(std::string_view path) const {
    return std::find(always_served.begin(), always_served.end(), path) != always_served.end();
  }

  // ---- the reactor's side ------------------------------------------------

  // A whole request is in: to a handler thread, or answered 503 at once.
  // Also while stop() runs: until the reactor has stopped, the pools still
  // take work and serve what they queued before their threads end, so a
  // request read whole is one the server took and answers (with close).
  void on_request(std::unique_ptr<Connection> connection) {
    const std::string_view path = path_of(connection->framer.target());
    if (is_always_served(path)) {
      // Health and metrics take a free handler thread if there is one,
      // else one of their own: they never wait behind user requests.
      connection = pool->submit(std::move(connection), true);
      if (connection) connection = priority->submit(std::move(connection));
    } else {
      connection = pool->submit(std::move(connection));
    }
    if (!connection) return;
    // Shed: counted under its route, so shedding shows on the route's 503
    // rate rather than among unknown paths; matching costs no I/O.
    const std::string method(connection->framer.method());
    auto match = router->match(method, path);
    std::size_t handle = match.route ? match.route->metrics_handle : metrics.unmatched(method);
    std::string route = match.route ? match.route->pattern : "unmatched";
    refuse(std::move(connection), 503, "overloaded", error_message_for(503), handle, route);
  }

  void on_refused(std::unique_ptr<Connection> connection, const FramingError& error) {
    const std::string method(connection->framer.method());
    refuse(std::move(connection), error.status, error_code_for(error.status), error.message,
           metrics.unmatched(method), "unmatched");
  }

  // Answers a request that no handler will see, logs and counts it like any
  // other, and asks the client to close. The answer is small and written
  // without waiting: a client that cannot take it gets a closed connection.
  void refuse(std::unique_ptr<Connection> connection, int status, const std::string& code, const std::string& message,
              std::size_t metrics_handle, const std::string& route) {
    const RequestFramer& framer = connection->framer;
    const std::string request_id = choose_request_id(framer.header("X-Request-ID"), framer.header("traceparent"));
    const std::string body = render_error(code, message, request_id);
    std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
    answer += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    answer += "X-Request-ID: " + request_id + "\r\nConnection: close\r\n";
    if (status == 503) answer += "Retry-After: 1\r\n";
    answer += "\r\n" + body;
    write_now(connection->fd(), answer);

    const auto start = framer.started() ? connection->request_started : Clock::now();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    metrics.observe_request(metrics_handle, status, seconds);
    const auto level = status >= 500 ? observability::LogLevel::error : observability::LogLevel::info;
    if (logger.enabled(level)) {
      const std::string_view method = framer.method();
      const std::string_view path = path_of(framer.target());
      logger.log(level, "http_request",
                 {{"request_id", request_id},
                  {"route", route},
                  {"method", method.empty() ? std::string_view("-") : method},
                  {"path", path.empty() ? std::string_view("-") : path},
                  {"status", status},
                  {"latency_ms", seconds * 1000.0},
                  {"refused", message}});
    }
    reactor->drain(std::move(connection));
  }

  // ---- a handler thread's side -------------------------------------------

  // `may_linger`: false on the priority threads, which are few and must be
  // free for the next probe.
  void serve(std::unique_ptr<Connection> connection, bool may_linger) {
    const auto taken = Clock::now();
    for (;;) {
      FramedRequest request = connection->framer.take();
      const bool keep = process(*connection, request);
      ++connection->served;
      connection->idle_since = Clock::now();
      if (!keep) return;  // closed with the connection
      Connection::Progress progress = connection->frame();  // pipelined requests
      if (progress == Connection::Progress::need_more && may_linger) progress = linger(*connection);
      switch (progress) {
        case Connection::Progress::complete:
          // While others wait for a thread, a busy connection gets its slice
          // and then queues behind them like everyone else.
          if (pool->others_waiting() && Clock::now() - taken >= kConnectionSlice) {
            if (auto refused = pool->submit(std::move(connection))) reactor->park(std::move(refused));
            return;
          }
          continue;
        case Connection::Progress::refused: {
          const FramingError error = connection->framer.error();
          on_refused(std::move(connection), error);
          return;
        }
        case Connection::Progress::need_more:
          reactor->park(std::move(connection));
          return;
        case Connection::Progress::closed:
          return;
      }
    }
  }

  // Waits on this thread for the rest of the connection's next request, as
  // long as no other connection is queued for a thread and the server is
  // not stopping. need_more means: give it to the reactor.
  Connection::Progress linger(Connection& connection) {
    pool->begin_linger();
    struct EndLinger {
      HandlerPool& pool;
      ~EndLinger() { pool.end_linger(); }
    } end_linger{*pool};
    const auto limit = connection.framer.started()
                           ? connection.request_started + std::chrono::seconds(config.read_timeout_s)
                           : Clock::now() + std::chrono::seconds(config.idle_timeout_s);
    while (!stopping && !pool->others_waiting()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(limit - Clock::now()).count();
      if (left <= 0) break;
      pollfd waits[2] = {{connection.fd(), POLLIN, 0}, {pool->preempt_fd(), POLLIN, 0}};
      if (::poll(waits, 2, static_cast<int>(std::min<long long>(left, kLingerPollMs))) < 0) break;
      if ((waits[1].revents & POLLIN) && pool->take_preempt()) break;
      if (waits[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        auto progress = connection.read_and_frame(256 * 1024);
        if (progress != Connection::Progress::need_more) return progress;
      }
    }
    return Connection::Progress::need_more;
  }

  // Serves one framed request through httplib; false when the connection
  // must close afterwards.
  bool process(Connection& connection, FramedRequest& request) {
    const bool close = stopping || !request.keep_alive || connection.served + 1 >= config.keep_alive_max;
    ExchangeStream stream(connection, request.head, std::chrono::seconds(config.write_timeout_s));
    t_stream = &stream;
    t_body = &request.body;
    t_response_close = false;
    bool closed_by_request = false;
    const bool ok = processor.process(stream, close, closed_by_request);
    const bool sent = stream.flush();
    t_stream = nullptr;
    t_body = nullptr;
    return ok && sent && !close && !closed_by_request && !t_response_close;
  }

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

  // Every request is dispatched here, before httplib would read a body:
  // the body was read and framed already, and arrives through t_body.
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    // httplib's process_request owns this Request (not const there) and
    // writes the response from it after this hook returns.
    hide_brotli(const_cast<httplib::Request&>(req));
    ensure_request_id(req);
    res.set_header("X-Request-ID", t_state.request_id);
    dispatch(req, res);
    return httplib::Server::HandlerResponse::Handled;
  }

  // Whether a gate hides the path now.
  bool hidden(std::string_view path) const {
    for (const auto& gate : gates) {
      const bool under = path.starts_with(gate.prefix) &&
                         (path.size() == gate.prefix.size() || path[gate.prefix.size()] == '/');
      if (under && !gate.open()) return true;
    }
    return false;
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    Response response;
    bool closed = false;
    try {
      closed = hidden(req.path);
    } catch (const std::exception& e) {
      logger.error("handler_failed", {{"request_id", t_state.request_id},
                                      {"route", "unmatched"},
                                      {"method", req.method},
                                      {"error", e.what()}});
      response = Response::failure(500, "internal", "internal error");
      render(response, res);
      return;
    }
    auto match = closed ? Router::Match{} : router->match(req.method, req.path);
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
      t_state.route = match.route->pattern;
      t_state.metrics_handle = match.route->metrics_handle;
      Request request;
      request.method = req.method;
      request.path = req.path;
      request.route = match.route->pattern;
      if (t_body != nullptr) request.body = std::move(*t_body);
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
    if (response.error) {
      res.set_content(render_error(response.error->first, response.error->second, t_state.request_id),
                      "application/json");
    } else if (!response.body.empty() || response.status != 204) {
      res.set_content(response.body, response.content_type);
    }
  }

  // httplib's own refusals (it should find nothing to refuse in a request
  // we framed) get the same JSON error body as ours.
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string id = ensure_request_id(req);
    if (!res.has_header("X-Request-ID")) res.set_header("X-Request-ID", id);
    res.set_header("Connection", "close");
    res.set_content(render_error(error_code_for(res.status), error_message_for(res.status), id), "application/json");
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

  // httplib calls this once the response is written into the stream: send
  // it, then log, so the line's latency covers the whole answer.
  void log_access(const httplib::Request& req, const httplib::Response& res) {
    if (t_stream != nullptr) t_stream->flush();
    t_response_close = res.get_header_value("Connection") == "close";
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
  auto& processor = m_impl->processor;
  Impl* impl = m_impl.get();
  // Only what httplib writes into responses: the connection loop is ours.
  processor.set_keep_alive_timeout(config.idle_timeout_s);
  processor.set_keep_alive_max_count(static_cast<std::size_t>(std::max(1, config.keep_alive_max)));
  processor.set_pre_routing_handler(
      [impl](const httplib::Request& req, httplib::Response& res) { return impl->pre_route(req, res); });
  processor.set_error_handler(httplib::Server::HandlerWithResponse(
      [impl](const httplib::Request& req, httplib::Response& res) { return impl->on_error(req, res); }));
  processor.set_exception_handler([impl](const httplib::Request& req, httplib::Response& res,
                                         std::exception_ptr error) { impl->on_exception(req, res, error); });
  processor.set_logger(
      [impl](const httplib::Request& req, const httplib::Response& res) { impl->log_access(req, res); });
}

Server::~Server() { stop(); }

void Server::route(std::string method, std::string pattern, Handler handler) {
  auto& added = m_router.add(method, pattern, std::move(handler));
  added.metrics_handle = m_impl->metrics.add_route(added.pattern, added.method);
}

void Server::serve_under_load(std::string path) { m_impl->always_served.push_back(std::move(path)); }

void Server::gate(std::string prefix, std::function<bool()> open) {
  m_impl->gates.push_back(Impl::Gate{std::move(prefix), std::move(open)});
}

int Server::start() {
  Impl& impl = *m_impl;
  const auto& config = impl.config;
  Listener listener = listen_tcp(config.host, config.port, kListenBacklog);
  m_port = listener.port;

  const std::size_t descriptors = raise_open_file_limit();
  Reactor::Settings settings;
  settings.idle_timeout = std::chrono::seconds(config.idle_timeout_s);
  settings.request_timeout = std::chrono::seconds(config.read_timeout_s);
  settings.max_connections =
      std::min<std::size_t>(static_cast<std::size_t>(config.max_connections),
                            descriptors > 2 * kReservedDescriptors ? descriptors - kReservedDescriptors
                                                                   : descriptors / 2);
  settings.limits.max_body_bytes = static_cast<std::size_t>(config.max_body_bytes);
  settings.max_buffered_bytes = static_cast<std::size_t>(config.max_buffered_bytes);
  settings.limits.max_header_bytes = static_cast<std::size_t>(config.max_header_bytes);
  settings.limits.max_header_count = static_cast<std::size_t>(config.max_header_count);

  Impl* raw = &impl;
  impl.pool = std::make_unique<HandlerPool>(config.threads, static_cast<std::size_t>(config.max_queued),
                                            [raw](std::unique_ptr<Connection> c) { raw->serve(std::move(c), true); });
  impl.priority = std::make_unique<HandlerPool>(kPriorityThreads, kPriorityQueue, [raw](std::unique_ptr<Connection> c) {
    raw->serve(std::move(c), false);
  });
  impl.reactor = std::make_unique<Reactor>(
      std::move(listener), settings,
      Reactor::Callbacks{[raw](std::unique_ptr<Connection> c) { raw->on_request(std::move(c)); },
                         [raw](std::unique_ptr<Connection> c, const FramingError& e) {
                           raw->on_refused(std::move(c), e);
                         }});
  impl.reactor->start();
  return m_port;
}

void Server::stop() {
  Impl& impl = *m_impl;
  if (impl.stopped.exchange(true)) return;
  impl.stopping = true;
  // In-flight requests finish and are answered with Connection: close;
  // connections between requests, and requests still arriving, are closed.
  if (impl.reactor) impl.reactor->stop();
  if (impl.pool) impl.pool->shutdown();
  if (impl.priority) impl.priority->shutdown();
}

}  // namespace pw::http
