// Looking up a callback host with a hard deadline. getaddrinfo cannot be
// bounded (it waits out the resolver's own timeouts and retries, 10 s and
// more) nor interrupted; this lookup runs on c-ares, waits at most until the
// deadline and gives up as soon as the caller asks it to stop.
//
// No c-ares types here: they stay in resolver.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "webhook/address.hpp"

namespace pw::webhook {

using Deadline = std::chrono::steady_clock::time_point;
// Asked between waits; true ends the work early.
using StopCheck = std::function<bool()>;

struct ResolverSettings {
  // "address[:port],..." as c-ares takes it; empty: /etc/resolv.conf.
  std::string servers;
};

enum class LookupStatus {
  found,         // addresses holds at least one address
  no_such_host,  // an answer that says the name has no address (NXDOMAIN, no A/AAAA)
  failed,        // no answer by the deadline, a failing server, or stopped: perhaps only for now
};

struct Lookup {
  LookupStatus status = LookupStatus::failed;
  std::vector<IpAddress> addresses;  // in the resolver's preferred order, no duplicates
  std::string error;                 // why, when not found; never an address
};

// /etc/hosts first, then DNS, for IPv4 and IPv6 at once. Returns by the
// deadline whatever happens.
Lookup resolve(const std::string& host, const ResolverSettings& settings, Deadline deadline,
               const StopCheck& stop = {});

}  // namespace pw::webhook
