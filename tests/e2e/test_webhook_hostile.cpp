// Black-box: the real `api` and `worker` deliver a simulation's webhook to
// receivers that misbehave on the wire (raw sockets on 127.0.0.1): one
// trickles its status line a byte every 100 ms, one streams header lines
// forever, one streams an endless body, one never answers, one redirects.
// Whatever the receiver does, the attempt ends within the webhook timeout
// + 1 s, the worker grows by less than 64 MB, and SIGTERM during a stuck
// delivery ends the worker (exit 0) within --shutdown-grace-ms + 1 s. These
// bounds are the issue's acceptance figures.
#include <doctest/doctest.h>

#include <signal.h>

#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "unit/jobs/raw_receiver.hpp"

using nlohmann::json;
using pw::test::Process;
using pw::test::ReceivedConnection;
using pw::test::RawReceiver;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kBinary = PW_BINARY;
constexpr int kTimeoutMs = 1500;
constexpr std::int64_t kMaxGrowthKib = 64 * 1024;

// Kilobytes of a /proc/PID/status field (VmRSS, VmHWM).
std::int64_t status_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

// A migrated database, an api process, one user and one world; workers are
// started per phase.
class Stack {
 public:
  Stack() {
    auto migrated = pw::test::run(kBinary, {"migrate", "--db", m_db});
    REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.err);
    m_api = std::make_unique<Process>(kBinary,
                                      std::vector<std::string>{"api", "--db", m_db, "--host", "127.0.0.1", "--port",
                                                               "0", "--http-threads", "4", "--shutdown-delay-ms", "0"},
                                      m_env);
    auto started = m_api->wait_for_json("api_started", 60s);
    REQUIRE_MESSAGE(started, m_api->output());
    m_port = (*started)["port"].get<int>();
    auto user = call("POST", "/v1/users", R"({"handle":"hostile"})", false);
    REQUIRE_MESSAGE(user.status == 201, user.body);
    m_token = json::parse(user.body)["token"];
    auto world = call("POST", "/v1/worlds", R"({"name":"Receivers"})");
    REQUIRE_MESSAGE(world.status == 201, world.body);
    m_world = json::parse(world.body)["id"];
  }

  pw::test::HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                              bool authed = true) {
    std::multimap<std::string, std::string> headers;
    if (authed) headers.emplace("Authorization", "Bearer " + m_token);
    return pw::test::http_request(method, m_port, path, body, "application/json", headers, 30s);
  }

  std::unique_ptr<Process> worker(int timeout_ms, int grace_ms) {
    auto worker = std::make_unique<Process>(
        kBinary,
        std::vector<std::string>{"worker", "--db", m_db, "--observability-host", "127.0.0.1", "--observability-port",
                                 "0", "--concurrency", "2", "--max-attempts", "1", "--webhook-timeout-ms",
                                 std::to_string(timeout_ms), "--shutdown-grace-ms", std::to_string(grace_ms)},
        m_env);
    REQUIRE_MESSAGE(worker->wait_for_json("worker_started", 60s), worker->output());
    return worker;
  }

  // Runs a simulation whose webhook goes to `url`.
  void simulate(const std::string& url) {
    auto response = call("POST", "/v1/worlds/" + std::to_string(m_world) + "/simulations",
                         json{{"ticks", 1}, {"callback_url", url}}.dump());
    REQUIRE_MESSAGE(response.status == 202, response.body);
  }

  std::string job_state(std::int64_t job_id) {
    auto response = call("GET", "/v1/jobs/" + std::to_string(job_id));
    REQUIRE_MESSAGE(response.status == 200, response.body);
    return json::parse(response.body)["state"];
  }

 private:
  pw::test::TempDir m_dir;
  std::string m_db = m_dir.file("hostile.db");
  // Loopback receivers: allowed on both roles.
  pw::test::Environment m_env{{"ALLOW_PRIVATE_WEBHOOKS", "true"}};
  std::unique_ptr<Process> m_api;
  int m_port = 0;
  std::string m_token;
  std::int64_t m_world = 0;
};

// One delivery to `receiver`: it must end within the timeout + 1 s of the
// receiver's accept, with the worker's peak memory under 64 MB above its
// start. Returns the webhook_attempt log line.
json delivery_ends(Stack& stack, RawReceiver& receiver, const std::string& expected_state) {
  auto worker = stack.worker(kTimeoutMs, 5000);
  const std::int64_t baseline_kib = status_kib(worker->pid(), "VmRSS");
  REQUIRE(baseline_kib > 0);
  stack.simulate(receiver.url());
  REQUIRE_MESSAGE(pw::test::eventually([&] { return receiver.accepted() > 0; }, 60s), worker->output());
  const auto accepted_at = *receiver.accepted_at(1);
  auto attempt = worker->wait_for_json("webhook_attempt", 60s);
  const auto ended_at = Clock::now();
  REQUIRE_MESSAGE(attempt, worker->output());
  INFO("attempt: " << attempt->dump());
  CHECK(ended_at - accepted_at < std::chrono::milliseconds(kTimeoutMs) + 1s);
  const std::int64_t peak_kib = status_kib(worker->pid(), "VmHWM");
  INFO("worker VmRSS at start " << baseline_kib << " KiB, peak " << peak_kib << " KiB");
  CHECK(peak_kib - baseline_kib < kMaxGrowthKib);

  const auto job_id = (*attempt)["job_id"].get<std::int64_t>();
  std::string state;
  CHECK_MESSAGE(pw::test::eventually([&] { return (state = stack.job_state(job_id)) == expected_state; }, 30s),
                "job " << job_id << " is " << state);
  worker->signal(SIGTERM);
  CHECK(worker->wait_exit(30s) == 0);
  return *attempt;
}

// SIGTERM while a delivery is stuck before a complete response (a timeout
// far beyond the grace): the worker exits 0 within the grace + 1 s and the
// job is handed back.
void sigterm_ends_a_stuck_delivery(Stack& stack, const RawReceiver::Script& script) {
  constexpr int grace_ms = 500;
  RawReceiver receiver(script);
  auto worker = stack.worker(60000, grace_ms);
  stack.simulate(receiver.url());
  REQUIRE_MESSAGE(pw::test::eventually([&] { return receiver.accepted() > 0; }, 60s), worker->output());
  const auto signalled_at = Clock::now();
  worker->signal(SIGTERM);
  const auto exit_code = worker->wait_exit(std::chrono::milliseconds(grace_ms) + 30s);
  const auto exited_at = Clock::now();
  INFO(worker->output());
  CHECK(exit_code == 0);
  CHECK(exited_at - signalled_at < std::chrono::milliseconds(grace_ms) + 1s);
  auto attempt = worker->wait_for_json("webhook_attempt", 1s);
  REQUIRE(attempt);
  CHECK((*attempt)["detail"] == "delivery abandoned: the worker is stopping");
  CHECK(stack.job_state((*attempt)["job_id"].get<std::int64_t>()) == "queued");
}

void trickle(ReceivedConnection& c) {
  c.read_request();
  const std::string head = "HTTP/1.1 200 OK\r\nX-Slow: ";
  for (std::size_t i = 0;; ++i) {
    const char byte = i < head.size() ? head[i] : 'a';
    if (!c.send(std::string_view(&byte, 1)) || !c.pause(100ms)) return;
  }
}

void header_flood(ReceivedConnection& c) {
  if (!c.read_request() || !c.send("HTTP/1.1 200 OK\r\n")) return;
  std::string lines;
  for (int i = 0; i < 512; ++i) lines += "X-Flood-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n";
  while (c.send(lines)) {
  }
}

void endless_body(ReceivedConnection& c) {
  if (!c.read_request() || !c.send("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")) return;
  const std::string chunk(64 * 1024, 'b');
  while (c.send(chunk)) {
  }
}

void silent(ReceivedConnection& c) {
  c.read_request();
  c.hold();
}

}  // namespace

TEST_CASE("Hostile webhook receivers: a status line trickled a byte every 100 ms cannot stretch the delivery") {
  Stack stack;
  RawReceiver receiver(trickle);
  auto attempt = delivery_ends(stack, receiver, "dead");
  CHECK(attempt["outcome"] == "retryable");
  CHECK(attempt["detail"].get<std::string>().find("no complete response: timed out") == 0);
  sigterm_ends_a_stuck_delivery(stack, trickle);
}

TEST_CASE("Hostile webhook receivers: header lines streamed forever stop at the header budget") {
  Stack stack;
  RawReceiver receiver(header_flood);
  auto attempt = delivery_ends(stack, receiver, "dead");
  CHECK(attempt["outcome"] == "retryable");
  CHECK(attempt["detail"] == "the receiver's header section passed 16384 bytes");
  // Stuck instead: header lines trickled slowly enough to stay under the budget.
  sigterm_ends_a_stuck_delivery(stack, [](ReceivedConnection& c) {
    if (!c.read_request() || !c.send("HTTP/1.1 200 OK\r\n")) return;
    while (c.send("X-Slow: 1\r\n") && c.pause(100ms)) {
    }
  });
}

TEST_CASE("Hostile webhook receivers: an endless body is dropped at its budget and the 200 counts") {
  Stack stack;
  RawReceiver receiver(endless_body);
  auto attempt = delivery_ends(stack, receiver, "succeeded");
  CHECK(attempt["outcome"] == "delivered");
  CHECK(attempt["receiver_status"] == 200);
  CHECK(attempt["detail"] == "receiver answered 200 (the rest of its body was dropped after 65536 bytes)");
}

TEST_CASE("Hostile webhook receivers: a receiver that accepts and never answers times out") {
  Stack stack;
  RawReceiver receiver(silent);
  auto attempt = delivery_ends(stack, receiver, "dead");
  CHECK(attempt["outcome"] == "retryable");
  CHECK(attempt["detail"].get<std::string>().find("timed out") != std::string::npos);
  sigterm_ends_a_stuck_delivery(stack, silent);
}

TEST_CASE("Hostile webhook receivers: a 302 is not followed") {
  Stack stack;
  RawReceiver elsewhere([](ReceivedConnection& c) {
    c.read_request();
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  const std::string location = elsewhere.url();
  RawReceiver receiver([&location](ReceivedConnection& c) {
    c.read_request();
    c.send("HTTP/1.1 302 Found\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n");
  });
  auto attempt = delivery_ends(stack, receiver, "dead");
  CHECK(attempt["outcome"] == "permanent");
  CHECK(attempt["receiver_status"] == 302);
  CHECK(receiver.accepted() == 1);
  CHECK(elsewhere.accepted() == 0);
}
