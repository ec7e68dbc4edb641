// Delivers one webhook: checks the destination again (DNS may have changed
// since submission), then POSTs the JSON body to the exact address checked.
//
// One deadline (the webhook timeout) bounds the whole attempt: the lookup,
// connect, TLS, request, status line, headers and body. The response is held
// to the byte budgets of exchange.hpp, redirects are never followed, only
// http and https are spoken, and the attempt ends within a moment of the
// stop check turning true (the worker is stopping), so a hostile receiver
// can neither hold a worker thread nor grow its memory.
#pragma once

#include <string>

#include "config/config.hpp"
#include "webhook/destination.hpp"
#include "webhook/exchange.hpp"

namespace pw::webhook {

struct Delivery {
  std::string url;
  std::string body;         // JSON text
  std::string request_id;   // sent as X-Request-ID when not empty
  std::string delivery_id;  // sent as X-PersonaWorlds-Delivery: the same on every attempt
};

// Checks the destination (check_destination), then sends, all within
// config.timeout_ms.
DeliveryResult deliver(const Delivery& delivery, const config::WebhookConfig& config, const StopCheck& stop = {});

// Sends to `address`, which the caller has checked, connecting to it
// directly: the URL's host goes only into the Host header (and TLS name
// checks), never to a resolver. Gives up at `deadline`.
DeliveryResult send(const Delivery& delivery, const Url& url, const IpAddress& address, Deadline deadline,
                    const ResponseLimits& limits = {}, const StopCheck& stop = {});

}  // namespace pw::webhook
