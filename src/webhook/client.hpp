// Delivers one webhook: checks the destination again (DNS may have changed
// since submission), then POSTs the JSON body to the exact address checked,
// with a time limit on the whole exchange. Redirects are not followed (a
// redirect would lead past the check).
#pragma once

#include <string>

#include "config/config.hpp"
#include "webhook/destination.hpp"

namespace pw::webhook {

struct Delivery {
  std::string url;
  std::string body;         // JSON text
  std::string request_id;   // sent as X-Request-ID when not empty
  std::string delivery_id;  // sent as X-PersonaWorlds-Delivery: the same on every attempt
};

enum class Outcome {
  delivered,  // 2xx
  retryable,  // 5xx, 408, 429, timeouts, connection errors, DNS failures
  permanent,  // other statuses, a refused destination, an invalid URL
};

struct DeliveryResult {
  Outcome outcome = Outcome::retryable;
  int status = 0;          // the receiver's HTTP status, 0 when there was none
  std::string detail;      // why, for the job's last_error
  std::string address;     // the address connected to, when one was chosen
};

// What a receiver's status means for the delivery.
Outcome outcome_of_status(int status);

// Checks the destination (check_destination), then sends.
DeliveryResult deliver(const Delivery& delivery, const config::WebhookConfig& config);

// Sends to `address`, which the caller has checked, connecting to it
// directly: the URL's host goes only into the Host header (and TLS name
// checks), never to a resolver.
DeliveryResult send(const Delivery& delivery, const Url& url, const IpAddress& address,
                    const config::WebhookConfig& config);

}  // namespace pw::webhook
