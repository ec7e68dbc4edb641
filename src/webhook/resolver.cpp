#include "webhook/resolver.hpp"

#include <ares.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace pw::webhook {
namespace {

using Clock = std::chrono::steady_clock;

// How long one wait lasts at most, so a stop request is seen promptly.
constexpr std::chrono::milliseconds max_wait{50};

// Filled by the c-ares callback; outlives the channel (declared before it),
// because destroying a channel with a query still open calls the callback.
struct Pending {
  bool done = false;
  int status = ARES_ETIMEOUT;
  std::vector<IpAddress> addresses;
};

void on_addresses(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* pending = static_cast<Pending*>(arg);
  pending->done = true;
  pending->status = status;
  if (result == nullptr) return;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    IpAddress address;
    if (node->ai_family == AF_INET) {
      std::memcpy(address.bytes.data(), &reinterpret_cast<const sockaddr_in*>(node->ai_addr)->sin_addr, 4);
    } else if (node->ai_family == AF_INET6) {
      address.v6 = true;
      std::memcpy(address.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(node->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(pending->addresses.begin(), pending->addresses.end(), address) == pending->addresses.end()) {
      pending->addresses.push_back(address);
    }
  }
  ares_freeaddrinfo(result);
}

struct ChannelDeleter {
  void operator()(ares_channeldata* channel) const { ares_destroy(channel); }
};
using Channel = std::unique_ptr<ares_channeldata, ChannelDeleter>;

Lookup failure(LookupStatus status, std::string error) {
  Lookup lookup;
  lookup.status = status;
  lookup.error = std::move(error);
  return lookup;
}

// Waits for the channel's sockets until one is ready or `wait` passes, then
// lets c-ares read, write and handle its own timeouts.
void pump(ares_channel channel, std::chrono::milliseconds wait) {
  ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
  const int bits = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
  pollfd fds[ARES_GETSOCK_MAXNUM];
  nfds_t count = 0;
  for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
    const bool readable = ARES_GETSOCK_READABLE(bits, i);
    const bool writable = ARES_GETSOCK_WRITABLE(bits, i);
    if (!readable && !writable) continue;
    fds[count++] = pollfd{sockets[i], static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0)), 0};
  }
  timeval limit{0, static_cast<suseconds_t>(wait.count() * 1000)};
  timeval next{};
  const timeval* until = ares_timeout(channel, &limit, &next);
  const int wait_ms = static_cast<int>(until->tv_sec * 1000 + (until->tv_usec + 999) / 1000);
  const int ready = ::poll(fds, count, wait_ms);
  if (ready > 0) {
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      const bool in = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool out = (fds[i].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
      ares_process_fd(channel, in ? fds[i].fd : ARES_SOCKET_BAD, out ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  // Retries and per-try timeouts.
  ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

}  // namespace

Lookup resolve(const std::string& host, const ResolverSettings& settings, Deadline deadline, const StopCheck& stop) {
  const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (budget.count() <= 0) return failure(LookupStatus::failed, "no time left for the lookup");

  // Two tries of c-ares's doubling timeouts (t, then 2t) fill the budget;
  // the loop below ends the lookup at the deadline whatever c-ares plans.
  ares_options options{};
  options.timeout = static_cast<int>(std::max<long long>(budget.count() / 3, 50));
  options.tries = 2;
  char lookups[] = "fb";  // /etc/hosts, then DNS
  options.lookups = lookups;
  ares_channel raw = nullptr;
  Pending pending;
  const int init = ares_init_options(&raw, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
  if (init != ARES_SUCCESS) return failure(LookupStatus::failed, std::string("resolver: ") + ares_strerror(init));
  Channel channel(raw);
  if (!settings.servers.empty()) {
    const int set = ares_set_servers_ports_csv(channel.get(), settings.servers.c_str());
    if (set != ARES_SUCCESS) return failure(LookupStatus::failed, std::string("resolver: ") + ares_strerror(set));
  }

  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  ares_getaddrinfo(channel.get(), host.c_str(), nullptr, &hints, &on_addresses, &pending);

  while (!pending.done) {
    if (stop && stop()) return failure(LookupStatus::failed, "stopped");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return failure(LookupStatus::failed, "no answer in time");
    pump(channel.get(), std::min(left, max_wait));
  }

  switch (pending.status) {
    case ARES_SUCCESS:
      break;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
    case ARES_EBADNAME:
      return failure(LookupStatus::no_such_host, ares_strerror(pending.status));
    case ARES_ETIMEOUT:
      return failure(LookupStatus::failed, "no answer in time");
    default:
      return failure(LookupStatus::failed, ares_strerror(pending.status));
  }
  if (pending.addresses.empty()) return failure(LookupStatus::no_such_host, "no IPv4 or IPv6 address");
  Lookup lookup;
  lookup.status = LookupStatus::found;
  lookup.addresses = std::move(pending.addresses);
  return lookup;
}

}  // namespace pw::webhook
