#include "webhook/destination.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <initializer_list>
#include <memory>

namespace pw::webhook {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

UrlResult refuse(std::string error) { return UrlResult{std::nullopt, std::move(error)}; }

// a.b.c.d/prefix contains the IPv4 address v?
bool in_v4(const std::uint8_t* v, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, int prefix) {
  const std::uint32_t address = (std::uint32_t{v[0]} << 24) | (std::uint32_t{v[1]} << 16) |
                                (std::uint32_t{v[2]} << 8) | std::uint32_t{v[3]};
  const std::uint32_t network = (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) |
                                std::uint32_t{d};
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

std::optional<std::string> classify_v4(const std::uint8_t* v) {
  if (in_v4(v, 169, 254, 169, 254, 32)) return "metadata";
  if (in_v4(v, 0, 0, 0, 0, 8)) return "unspecified";
  if (in_v4(v, 127, 0, 0, 0, 8)) return "loopback";
  if (in_v4(v, 10, 0, 0, 0, 8) || in_v4(v, 172, 16, 0, 0, 12) || in_v4(v, 192, 168, 0, 0, 16)) return "private";
  if (in_v4(v, 100, 64, 0, 0, 10)) return "cgnat";
  if (in_v4(v, 169, 254, 0, 0, 16)) return "link-local";
  if (in_v4(v, 192, 0, 2, 0, 24) || in_v4(v, 198, 51, 100, 0, 24) || in_v4(v, 203, 0, 113, 0, 24)) {
    return "documentation";
  }
  if (in_v4(v, 224, 0, 0, 0, 4)) return "multicast";
  if (in_v4(v, 255, 255, 255, 255, 32)) return "broadcast";
  // IETF protocol assignments (192.0.0.0/24, which also holds some providers'
  // metadata services), the old 6to4 relay anycast, benchmarking, and class E.
  if (in_v4(v, 192, 0, 0, 0, 24) || in_v4(v, 192, 88, 99, 0, 24) || in_v4(v, 198, 18, 0, 0, 15) ||
      in_v4(v, 240, 0, 0, 0, 4)) {
    return "reserved";
  }
  return std::nullopt;
}

// Does the IPv6 address start with the first `prefix` bits of `network`?
bool in_v6(const std::array<std::uint8_t, 16>& v, std::initializer_list<std::uint8_t> network, int prefix) {
  std::array<std::uint8_t, 16> net{};
  std::copy(network.begin(), network.end(), net.begin());
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const int mask = 0x80 >> (bit % 8);
    if ((v[byte] & mask) != (net[byte] & mask)) return false;
  }
  return true;
}

std::optional<std::string> classify_v6(const std::array<std::uint8_t, 16>& v) {
  const bool first_twelve_zero = std::all_of(v.begin(), v.begin() + 12, [](std::uint8_t b) { return b == 0; });
  if (first_twelve_zero) {
    const bool last_four_zero = v[12] == 0 && v[13] == 0 && v[14] == 0 && v[15] == 0;
    if (last_four_zero) return "unspecified";
    if (v[12] == 0 && v[13] == 0 && v[14] == 0 && v[15] == 1) return "loopback";
    return classify_v4(v.data() + 12).value_or("reserved");  // IPv4-compatible (deprecated)
  }
  // ::ffff:0:0/96 (IPv4-mapped) and ::ffff:0:0:0/96 (SIIT): the IPv4 address decides.
  if (in_v6(v, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) ||
      in_v6(v, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96)) {
    return classify_v4(v.data() + 12);
  }
  // NAT64 well-known prefix: the IPv4 address decides; the local-use one is private.
  if (in_v6(v, {0x00, 0x64, 0xff, 0x9b}, 96)) return classify_v4(v.data() + 12);
  if (in_v6(v, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return "private";
  // 6to4 carries its IPv4 address in bytes 2..5.
  if (in_v6(v, {0x20, 0x02}, 16)) {
    auto inner = classify_v4(v.data() + 2);
    if (inner) return inner;
    return std::nullopt;
  }
  if (in_v6(v, {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128)) return "metadata";
  if (in_v6(v, {0xfc}, 7)) return "private";  // unique local
  if (in_v6(v, {0xfe, 0x80}, 10)) return "link-local";
  if (in_v6(v, {0xfe, 0xc0}, 10)) return "private";  // site-local (deprecated)
  if (in_v6(v, {0xff}, 8)) return "multicast";
  if (in_v6(v, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "documentation";
  if (in_v6(v, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return "reserved";  // discard-only
  if (in_v6(v, {0x20, 0x01, 0x00, 0x00}, 32)) return "reserved";        // Teredo: hides an IPv4 address
  return std::nullopt;
}

}  // namespace

UrlResult parse_url(std::string_view text) {
  if (text.empty()) return refuse("must not be empty");
  if (text.size() > max_url_bytes) return refuse("must be at most " + std::to_string(max_url_bytes) + " bytes");
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return refuse("must be printable ASCII without spaces");
    if (c == '\\') return refuse("must not contain backslashes");
  }
  Url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return refuse("must be an absolute http or https URL");
  url.scheme = lower(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https") return refuse("must use http or https");
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) return refuse("must not contain a fragment");
  const auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return refuse("must not contain user information");
  if (authority.empty()) return refuse("must name a host");

  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse("has an unterminated IPv6 address");
    std::string literal(authority.substr(1, close - 1));
    auto literal_address = IpAddress::parse(literal);
    if (!literal_address || !literal_address->v6) return refuse("has an invalid IPv6 address");
    url.host = lower(literal);
    url.host_is_ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refuse("has text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return refuse("has an empty port");
    }
  } else {
    const auto colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return refuse("has an empty port");
    }
    if (host.empty()) return refuse("must name a host");
    if (host.size() > 253) return refuse("has a host name longer than 253 bytes");
    if (!std::all_of(host.begin(), host.end(), is_host_char)) return refuse("has an invalid host name");
    url.host = lower(host);
  }
  const int default_port = url.scheme == "https" ? 443 : 80;
  url.port = default_port;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      return refuse("has an invalid port");
    }
    url.port = std::stoi(std::string(port_text));
    if (url.port < 1 || url.port > 65535) return refuse("has a port outside 1..65535");
  }
  url.path = path.empty() ? "/" : (path.front() == '?' ? "/" + std::string(path) : std::string(path));
  url.authority = url.host_is_ipv6 ? "[" + url.host + "]" : url.host;
  if (url.port != default_port) url.authority += ":" + std::to_string(url.port);
  return UrlResult{std::move(url), {}};
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress address;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string copy(text);
  IpAddress address;
  in_addr v4{};
  if (::inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    std::memcpy(address.bytes.data(), &v4, 4);
    return address;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    address.v6 = true;
    std::memcpy(address.bytes.data(), &v6, 16);
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer) == nullptr) return "?";
  return buffer;
}

std::optional<std::string> classify(const IpAddress& address) {
  return address.v6 ? classify_v6(address.bytes) : classify_v4(address.bytes.data());
}

Resolution resolve(const std::string& host, int port) {
  Resolution resolution;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    resolution.error = ::gai_strerror(rc);
    return resolution;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, &::freeaddrinfo);
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    IpAddress address;
    if (entry->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ai_addr);
      std::memcpy(address.bytes.data(), &in->sin_addr, 4);
    } else if (entry->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ai_addr);
      address.v6 = true;
      std::memcpy(address.bytes.data(), &in6->sin6_addr, 16);
    } else {
      continue;
    }
    const bool seen = std::any_of(resolution.addresses.begin(), resolution.addresses.end(), [&](const IpAddress& a) {
      return a.v6 == address.v6 && a.bytes == address.bytes;
    });
    if (!seen) resolution.addresses.push_back(address);
  }
  if (resolution.addresses.empty()) resolution.error = "no IPv4 or IPv6 address";
  return resolution;
}

Destination check_destination(std::string_view url_text, bool allow_private) {
  Destination destination;
  auto parsed = parse_url(url_text);
  if (!parsed.url) {
    destination.verdict = Verdict::invalid_url;
    destination.reason = parsed.error;
    return destination;
  }
  destination.url = parsed.url;
  const auto& url = *parsed.url;
  auto resolution = resolve(url.host, url.port);
  if (resolution.addresses.empty()) {
    destination.verdict = Verdict::unresolvable;
    destination.reason = "host '" + url.host + "' does not resolve: " + resolution.error;
    return destination;
  }
  if (!allow_private) {
    for (const auto& address : resolution.addresses) {
      if (auto why = classify(address)) {
        destination.verdict = Verdict::forbidden;
        destination.reason = "host '" + url.host + "' resolves to a " + *why + " address (" + address.to_string() +
                             "), which webhooks may not reach";
        return destination;
      }
    }
  }
  destination.verdict = Verdict::allowed;
  destination.address = resolution.addresses.front();
  return destination;
}

}  // namespace pw::webhook
