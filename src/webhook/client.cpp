#include "webhook/client.hpp"

#include <httplib.h>

#include <chrono>
#include <memory>


namespace pw::webhook {
namespace {

using Clock = std::chrono::steady_clock;

DeliveryResult result(Outcome outcome, int status, std::string detail, std::string address = {}) {
  return DeliveryResult{outcome, status, std::move(detail), std::move(address)};
}

}  // namespace

Outcome outcome_of_status(int status) {
  if (status >= 200 && status <= 299) return Outcome::delivered;
  // 408 and 429 say "not now" rather than "never": worth another attempt.
  if (status >= 500 || status == 408 || status == 429) return Outcome::retryable;
  return Outcome::permanent;
}

DeliveryResult deliver(const Delivery& delivery, const config::WebhookConfig& config) {
  auto destination = check_destination(delivery.url, config.allow_private);
  switch (destination.verdict) {
    case Verdict::invalid_url:
      return result(Outcome::permanent, 0, "invalid callback_url: " + destination.reason);
    case Verdict::unresolvable:
      return result(Outcome::retryable, 0, destination.reason);
    case Verdict::forbidden:
      return result(Outcome::permanent, 0, "refused destination: " + destination.reason);
    case Verdict::allowed:
      break;
  }
  return send(delivery, *destination.url, *destination.address, config);
}

DeliveryResult send(const Delivery& delivery, const Url& url, const IpAddress& checked,
                    const config::WebhookConfig& config) {
  const std::string address = checked.to_string();

  std::unique_ptr<httplib::ClientImpl> client;
  if (url.scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
    ssl->enable_server_certificate_verification(true);
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  // Connect to the address just checked, not to a fresh resolution of the name.
  client->set_hostname_addr_map({{url.host, address}});
  client->set_follow_location(false);
  client->set_keep_alive(false);
  client->set_tcp_nodelay(true);
  const auto timeout = std::chrono::milliseconds(config.timeout_ms);
  client->set_connection_timeout(timeout);
  client->set_read_timeout(timeout);
  client->set_write_timeout(timeout);

  httplib::Request request;
  request.method = "POST";
  request.path = url.path;
  request.body = delivery.body;
  request.set_header("Host", url.authority);
  request.set_header("Content-Type", "application/json");
  request.set_header("User-Agent", std::string("personaworlds-webhook/") + PW_VERSION);
  if (!delivery.request_id.empty()) request.set_header("X-Request-ID", delivery.request_id);
  if (!delivery.delivery_id.empty()) request.set_header("X-PersonaWorlds-Delivery", delivery.delivery_id);
  // The receiver's body is read and dropped, and the whole exchange is bounded
  // by the timeout: a receiver that trickles bytes cannot hold a worker thread.
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  request.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) {
    if (Clock::now() > deadline) {
      timed_out = true;
      return false;
    }
    return true;
  };

  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client->send(request, response, error);
  if (!sent) {
    if (timed_out) return result(Outcome::retryable, 0, "timed out reading the response", address);
    return result(Outcome::retryable, 0, "delivery failed: " + httplib::to_string(error), address);
  }
  const Outcome outcome = outcome_of_status(response.status);
  std::string detail = "receiver answered " + std::to_string(response.status);
  return result(outcome, response.status, std::move(detail), address);
}

}  // namespace pw::webhook
