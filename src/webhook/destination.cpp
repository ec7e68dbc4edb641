#include "webhook/destination.hpp"

namespace pw::webhook {
namespace {

Destination refused(Verdict verdict, std::string reason, const std::optional<Url>& url = std::nullopt) {
  Destination destination;
  destination.verdict = verdict;
  destination.reason = std::move(reason);
  destination.url = url;
  return destination;
}

Destination allowed(Url url, IpAddress address) {
  Destination destination;
  destination.verdict = Verdict::allowed;
  destination.url = std::move(url);
  destination.address = address;
  return destination;
}

}  // namespace

std::optional<bool> needs_lookup(std::string_view url_text) {
  auto parsed = parse_url(url_text);
  if (!parsed.url) return std::nullopt;
  return !literal_address(parsed.url->host).has_value();
}

Destination check_destination(std::string_view url_text, const DestinationPolicy& policy, Deadline deadline,
                              const StopCheck& stop) {
  auto parsed = parse_url(url_text);
  if (!parsed.url) return refused(Verdict::invalid_url, parsed.error);
  Url url = std::move(*parsed.url);

  if (auto literal = literal_address(url.host)) {
    if (!policy.allow_private) {
      if (auto why = classify(*literal)) {
        return refused(Verdict::forbidden,
                       "host '" + url.host + "' is a " + *why + " address, which webhooks may not reach", url);
      }
    }
    return allowed(std::move(url), *literal);
  }

  auto lookup = resolve(url.host, policy.resolver, deadline, stop);
  switch (lookup.status) {
    case LookupStatus::no_such_host:
      return refused(Verdict::no_such_host, "host '" + url.host + "' does not resolve: " + lookup.error, url);
    case LookupStatus::failed:
      return refused(Verdict::lookup_failed, "host '" + url.host + "' could not be resolved: " + lookup.error, url);
    case LookupStatus::found:
      break;
  }
  if (!policy.allow_private) {
    for (const auto& address : lookup.addresses) {
      // Neither the address nor its class: see the header.
      if (classify(address)) {
        return refused(Verdict::forbidden,
                       "host '" + url.host + "' resolves to an address webhooks may not reach", url);
      }
    }
  }
  return allowed(std::move(url), lookup.addresses.front());
}

}  // namespace pw::webhook
