// Where a webhook may go. A callback URL is parsed strictly, its host is
// looked up (with a deadline), and every address it resolves to is checked
// against the ranges a caller must never reach through us, so a callback
// cannot be turned against our own network. The delivery then connects to
// the exact address that was checked, never to a second resolution of the
// name (DNS rebinding).
//
// Refusals never say what a host name resolved to: the caller learns that
// the name leads somewhere webhooks may not go, not where (otherwise the
// check is a free DNS oracle for the server's network). An address written
// in the URL itself is no secret, so its class is named.
//
// No HTTP library here: the API uses this at submission, the webhook client
// at delivery.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "webhook/address.hpp"
#include "webhook/resolver.hpp"
#include "webhook/url.hpp"

namespace pw::webhook {

enum class Verdict {
  allowed,
  invalid_url,    // the text is not an acceptable URL
  no_such_host,   // the name has no address (an answer, not a failure)
  lookup_failed,  // no answer by the deadline, or the resolver failed: perhaps only for now
  forbidden,      // it resolves to an address we must not reach
};

struct DestinationPolicy {
  bool allow_private = false;  // every resolved address is acceptable
  ResolverSettings resolver;
};

struct Destination {
  Verdict verdict = Verdict::invalid_url;
  std::string reason;                // for refusals: a message fit for the caller
  std::optional<Url> url;
  std::optional<IpAddress> address;  // the checked address to connect to
};

// Does the URL's host need a lookup (a name, not an address literal)?
// Nothing when the text is not a URL at all.
std::optional<bool> needs_lookup(std::string_view url_text);

// Parses, resolves (by `deadline`, or earlier when `stop` says so) and
// checks. When any address a name resolves to is forbidden, the whole
// destination is (a name that mixes public and private answers is a
// rebinding attempt, not a misconfiguration).
Destination check_destination(std::string_view url_text, const DestinationPolicy& policy, Deadline deadline,
                              const StopCheck& stop = {});

}  // namespace pw::webhook
