// The /v1 routes in process: a real http::Server whose router dispatches
// requests built by the test, over a migrated database of the suite's driver
// (support/test_database.hpp). No socket.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "api/routes.hpp"
#include "jobs/contract.hpp"
#include "http/server.hpp"
#include "observability/logger.hpp"
#include "observability/metrics.hpp"
#include "queue/clock.hpp"
#include "storage/storage.hpp"
#include "support/test_database.hpp"

namespace pw::test {

struct ApiResult {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
  std::string error_code() const {
    auto parsed = json();
    return parsed.is_object() && parsed.contains("error") ? parsed["error"].value("code", "") : "";
  }
};

class ApiFixture {
 public:
  ApiFixture() : ApiFixture(config::ApiConfig{}) {}
  explicit ApiFixture(config::ApiConfig base, int busy_timeout_ms = 2000)
      : m_config(std::move(base)),
        m_logger("api", observability::LogLevel::error, config::LogFormat::json, [](std::string_view) {}),
        m_metrics("api", jobs::job_kinds()) {
    m_config.db = m_database.config;
    m_config.db.busy_timeout_ms = busy_timeout_ms;
    // As the api role opens it (cli.cpp): never creating the file.
    m_config.db.create_if_missing = false;
    m_storage = storage::open_storage(m_config.db, 4, {m_clock, m_config.retry, {}});
    m_server = std::make_unique<http::Server>(m_config.http, m_logger, m_metrics);
    api::register_routes(*m_server, api::Dependencies{m_config, *m_storage, m_clock, m_logger, m_metrics});
  }

  ApiResult call(const std::string& method, const std::string& target, const std::string& body = {},
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request request;
    request.method = method;
    auto question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) {
      std::string query = target.substr(question + 1);
      std::size_t start = 0;
      while (start <= query.size()) {
        auto end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        auto pair = query.substr(start, end - start);
        auto equals = pair.find('=');
        if (!pair.empty()) {
          request.query.emplace_back(pair.substr(0, equals),
                                     equals == std::string::npos ? "" : pair.substr(equals + 1));
        }
        start = end + 1;
      }
    }
    request.body = body;
    request.request_id = "req-" + std::to_string(++m_requests);
    for (auto& [name, value] : headers) {
      std::string lower = name;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(lower, value);
    }
    auto match = m_server->router().match(method, request.path);
    ApiResult result;
    if (match.route == nullptr) {
      result.status = match.allowed.empty() ? 404 : 405;
      return result;
    }
    request.route = match.route->pattern;
    request.path_params = match.params;
    auto response = match.route->handler(request);
    result.status = response.status;
    result.headers = response.headers;
    result.body = response.error ? http::render_error(response.error->first, response.error->second, request.request_id)
                                 : response.body;
    last_user_id = request.user_id;
    return result;
  }

  // JSON body with the content type set, plus a bearer token when given.
  ApiResult post(const std::string& target, const nlohmann::json& body, const std::string& token = {},
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return call("POST", target, body.dump(), std::move(headers));
  }
  ApiResult get(const std::string& target, const std::string& token) {
    return call("GET", target, {}, {{"Authorization", "Bearer " + token}});
  }

  // Signs up `handle` and returns its token.
  std::string sign_up(const std::string& handle) {
    auto result = post("/v1/users", {{"handle", handle}});
    REQUIRE(result.status == 201);
    return result.json()["token"].get<std::string>();
  }

  std::map<std::string, std::int64_t> table_counts() {
    std::map<std::string, std::int64_t> counts;
    auto session = m_storage->acquire();
    for (const auto& [table, n] : session->store().table_counts()) counts[table] = n;
    counts["jobs"] = probe().scalar("SELECT COUNT(*) FROM jobs");
    return counts;
  }

  // A look into the database of the test's own.
  DatabaseProbe probe() const { return DatabaseProbe(m_config.db); }

  const config::ApiConfig& config() const { return m_config; }
  const config::DatabaseConfig& db() const { return m_config.db; }
  http::Server& server() { return *m_server; }
  storage::Storage& storage() { return *m_storage; }
  observability::Metrics& metrics() { return m_metrics; }
  queue::ManualClock& clock() { return m_clock; }

  std::optional<std::int64_t> last_user_id;

 private:
  TestDatabase m_database;
  config::ApiConfig m_config;
  observability::Logger m_logger;
  observability::Metrics m_metrics;
  queue::ManualClock m_clock;
  std::unique_ptr<storage::Storage> m_storage;
  std::unique_ptr<http::Server> m_server;
  int m_requests = 0;
};

}  // namespace pw::test
