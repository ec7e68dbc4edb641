// The server under saturation and against slow or malformed clients.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <condition_variable>

#include "http/server.hpp"

using namespace pw;

namespace {

struct Saturated {
  observability::Logger logger{"api", observability::LogLevel::error, config::LogFormat::json,
                               [](std::string_view) {}};
  observability::Metrics metrics{"api", {}};
  config::HttpConfig http_config = [] {
    config::HttpConfig c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.threads = 2;
    c.max_queued = 2;
    c.read_timeout_s = 1;
    return c;
  }();
  http::Server server{http_config, logger, metrics};
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> blocked{0};
  int port = 0;

  Saturated() {
    server.route("GET", "/block", [this](const http::Request&) {
      ++blocked;
      std::unique_lock lock(mutex);
      cv.wait(lock, [this] { return release; });
      return http::Response::json(200, {{"ok", true}});
    });
    server.route("GET", "/healthz", [](const http::Request&) { return http::Response::json(200, {{"status", "ok"}}); });
    server.route("GET", "/work", [](const http::Request&) { return http::Response::json(200, {{"ok", true}}); });
    server.serve_under_load("/healthz");
    port = server.start();
  }
  ~Saturated() {
    {
      std::lock_guard lock(mutex);
      release = true;
    }
    cv.notify_all();
    server.stop();
  }
};

// A raw connection that sends `text` and never finishes the request.
int open_raw(int port, const std::string& text) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  if (!text.empty()) REQUIRE(::send(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  return fd;
}

}  // namespace

TEST_CASE("overload: with every handler busy and the backlog full, new requests get a quick 503 with Retry-After") {
  Saturated s;
  // Two requests occupy both handler threads...
  std::vector<std::thread> holders;
  struct JoinOnExit {
    Saturated& s;
    std::vector<std::thread>& threads;
    ~JoinOnExit() {
      {
        std::lock_guard lock(s.mutex);
        s.release = true;
      }
      s.cv.notify_all();
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } join_on_exit{s, holders};
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] {
      httplib::Client client("127.0.0.1", s.port);
      client.set_read_timeout(30, 0);
      client.Get("/block");
    });
  }
  for (int i = 0; i < 2000 && s.blocked < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(s.blocked == 2);
  // ...and two more fill the backlog. Connected from this thread, so the
  // kernel hands them to the server's single accept loop before the request
  // below: no timing involved.
  std::vector<int> queued;
  for (int i = 0; i < 2; ++i) queued.push_back(open_raw(s.port, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n"));

  httplib::Client client("127.0.0.1", s.port);
  client.set_read_timeout(5, 0);
  auto shed = client.Get("/work");
  REQUIRE(shed);
  CHECK(shed->status == 503);
  CHECK(shed->get_header_value("Retry-After") == "1");
  CHECK(nlohmann::json::parse(shed->body)["error"]["code"] == "overloaded");
  // Counted under its route, not among unknown paths. The count follows the
  // response (the access hook runs after it is sent), so wait for it.
  const std::string shed_series = R"(http_requests_total{method="GET",route="/work",status="503"} 1)";
  std::string exposition = s.metrics.scrape();
  for (int i = 0; i < 400 && exposition.find(shed_series) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    exposition = s.metrics.scrape();
  }
  CHECK(exposition.find(shed_series) != std::string::npos);
  // Every status has a series from the start, at 0: the unmatched ones stay there.
  const std::string unmatched_503 = R"(route="unmatched",status="503"})";
  for (auto at = exposition.find(unmatched_503); at != std::string::npos; at = exposition.find(unmatched_503, at + 1)) {
    CHECK(exposition.substr(at, exposition.find('\n', at) - at) == unmatched_503 + " 0");
  }

  // Health is still answered while saturated.
  httplib::Client health("127.0.0.1", s.port);
  auto alive = health.Get("/healthz");
  REQUIRE(alive);
  CHECK(alive->status == 200);

  {
    std::lock_guard lock(s.mutex);
    s.release = true;
  }
  s.cv.notify_all();
  for (auto& t : holders) t.join();
  // The queued two are served once threads are free.
  for (int fd : queued) {
    char reply[64] = {};
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    CHECK(::recv(fd, reply, sizeof reply - 1, 0) > 0);
    CHECK(std::string(reply).rfind("HTTP/1.1 200", 0) == 0);
    ::close(fd);
  }
  // Capacity is back: normal service resumes.
  httplib::Client after("127.0.0.1", s.port);
  auto ok = after.Get("/work");
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("slow clients: partial headers are cut off by the read timeout and others are still served") {
  observability::Logger logger{"api", observability::LogLevel::error, config::LogFormat::json, [](std::string_view) {}};
  observability::Metrics metrics{"api", {}};
  config::HttpConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.threads = 8;
  c.read_timeout_s = 1;
  http::Server server(c, logger, metrics);
  server.route("GET", "/work", [](const http::Request&) { return http::Response::json(200, {{"ok", true}}); });
  int port = server.start();

  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) slow.push_back(open_raw(port, "GET /work HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  slow.push_back(open_raw(port, "POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial"));

  httplib::Client client("127.0.0.1", port);
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    auto res = client.Get("/work");
    if (res && res->status == 200) ++ok;
  }
  CHECK(ok == 20);

  // After the read timeout the server has closed the slow connections.
  for (int fd : slow) {
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[256];
    ssize_t n;
    do {
      n = ::recv(fd, buffer, sizeof buffer, 0);
    } while (n > 0);
    CHECK(n == 0);  // orderly close, not our 5 s receive timeout (-1)
    ::close(fd);
  }
  server.stop();
}

TEST_CASE("malformed clients: an over-long URI is 414, an oversized header 431, garbage 400, all JSON, and the server stays up") {
  observability::Logger logger{"api", observability::LogLevel::error, config::LogFormat::json, [](std::string_view) {}};
  observability::Metrics metrics{"api", {}};
  config::HttpConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.threads = 2;
  http::Server server(c, logger, metrics);
  server.route("GET", "/work", [](const http::Request&) { return http::Response::json(200, {{"ok", true}}); });
  int port = server.start();

  httplib::Client client("127.0.0.1", port);
  auto long_uri = client.Get("/work?" + std::string(20000, 'a'));
  REQUIRE(long_uri);
  CHECK(long_uri->status == 414);
  CHECK(nlohmann::json::parse(long_uri->body)["error"]["code"] == "uri_too_long");

  auto big_header = client.Get("/work", {{"X-Padding", std::string(20000, 'b')}});
  REQUIRE(big_header);
  CHECK(big_header->get_header_value("Connection") == "close");
  CHECK(big_header->status == 431);
  CHECK(nlohmann::json::parse(big_header->body)["error"]["code"] == "request_header_fields_too_large");

  // Reads one response (headers and a Content-Length body): the server asks
  // the client to close, but keeps the connection until the idle timeout.
  auto raw_reply = [&](const std::string& request) {
    int fd = open_raw(port, request);
    std::string reply;
    char buffer[1024];
    ssize_t n;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto complete = [&] {
      auto end = reply.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      auto length = reply.find("Content-Length: ");
      if (length == std::string::npos || length > end) return true;
      return reply.size() >= end + 4 + std::stoul(reply.substr(length + 16));
    };
    while (!complete() && (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
      reply.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    CHECK(reply.find("\r\nConnection: close\r\n") != std::string::npos);
    return reply;
  };
  auto garbage = raw_reply("THIS IS NOT HTTP\r\n\r\n");
  CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(garbage.find("\"bad_request\"") != std::string::npos);
  auto bad_version = raw_reply("GET /work HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(bad_version.rfind("HTTP/1.1 400", 0) == 0);
  // A body that breaks its own framing is the client's error (400), not its headers'.
  auto bad_chunks = raw_reply("POST /work HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZZ\r\n\r\n");
  CHECK(bad_chunks.rfind("HTTP/1.1 400", 0) == 0);

  auto still = client.Get("/work");
  REQUIRE(still);
  CHECK(still->status == 200);
  server.stop();
}

TEST_CASE("slow uploads: what all connections hold at once is bounded, and past it requests still arriving get 503") {
  observability::Logger logger{"api", observability::LogLevel::error, config::LogFormat::json, [](std::string_view) {}};
  observability::Metrics metrics{"api", {}};
  config::HttpConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.threads = 2;
  c.max_body_bytes = 1000;
  c.max_buffered_bytes = 5000;
  http::Server server(c, logger, metrics);
  server.route("POST", "/upload", [](const http::Request&) { return http::Response::json(200, {{"ok", true}}); });
  server.route("GET", "/work", [](const http::Request&) { return http::Response::json(200, {{"ok", true}}); });
  int port = server.start();

  // Each sends 900 of its announced 1000 bytes and stops: about 960 bytes held per connection.
  std::vector<int> uploads;
  int refused = -1;
  for (int i = 0; i < 10 && refused < 0; ++i) {
    int fd = open_raw(port, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(900, 'u'));
    uploads.push_back(fd);
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, 300) > 0) refused = i;
  }
  REQUIRE(refused >= 4);  // room for about five
  char reply[512] = {};
  CHECK(::recv(uploads.back(), reply, sizeof reply - 1, 0) > 0);
  CHECK(std::string(reply).rfind("HTTP/1.1 503", 0) == 0);
  // A request with nothing to hold is still served...
  httplib::Client client("127.0.0.1", port);
  auto small = client.Get("/work");
  REQUIRE(small);
  CHECK(small->status == 200);
  // ...and once the uploads go away, so is an upload.
  for (int fd : uploads) ::close(fd);
  bool uploaded = false;
  for (int i = 0; i < 200 && !uploaded; ++i) {
    auto res = client.Post("/upload", std::string(1000, 'u'), "application/octet-stream");
    uploaded = res && res->status == 200;
    if (!uploaded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(uploaded);
  server.stop();
}
