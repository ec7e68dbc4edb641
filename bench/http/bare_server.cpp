// The yardstick of `make bench-http`: a bare cpp-httplib server with what the
// API gives its own HTTP layer (16 handler threads, keep-alive up to 1000
// requests, TCP_NODELAY) and nothing else: no routing table of ours, no
// request ids, no access log, no metrics. It answers GET /healthz with the
// same small JSON body as the API.
// Usage: pw_bare_http PORT [THREADS]
// Prints "listening on 127.0.0.1:PORT" once ready, then nothing per request;
// stops on SIGTERM or SIGINT.
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

// Set by the signal handler, read by the watcher thread: stop() itself is
// not async-signal-safe.
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::size_t threads = argc > 2 ? static_cast<std::size_t>(std::atoi(argv[2])) : 16;

  httplib::Server server;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_max_count(1000);
  server.set_tcp_nodelay(true);
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::thread watcher([&server] {
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();
  });

  if (!server.bind_to_port("127.0.0.1", port)) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    g_stop = 1;
    watcher.join();
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();
  g_stop = 1;
  watcher.join();
  return 0;
}
