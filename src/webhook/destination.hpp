// Where a webhook may go. A callback URL is parsed strictly, its host is
// resolved, and every address it resolves to is checked against the ranges a
// caller must never reach through us (loopback, private, link-local, cloud
// metadata, ...), so a callback cannot be turned against our own network.
// The delivery then connects to the exact address that was checked, never to
// a second resolution of the name (DNS rebinding).
//
// No HTTP library here: the API uses this at submission, the webhook client
// at delivery.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pw::webhook {

inline constexpr std::size_t max_url_bytes = 2048;

struct Url {
  std::string scheme;        // "http" or "https"
  std::string host;          // as written, lower-cased, without brackets for IPv6
  int port = 0;              // explicit or the scheme's default
  std::string path;          // path and query, at least "/"
  std::string authority;     // host[:port] as it goes into the Host header
  bool host_is_ipv6 = false;
};

struct UrlResult {
  std::optional<Url> url;
  std::string error;  // why the text is refused, when url is empty
};

// Accepts http:// and https:// URLs with a host and an optional port; refuses
// user info (a@b), fragments, whitespace and control characters, and anything
// longer than max_url_bytes.
UrlResult parse_url(std::string_view text);

// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  // Parses a numeric address (dotted quad or IPv6 text); nothing otherwise.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
};

// Why the address is not a public destination ("loopback", "private",
// "link-local", "metadata", "cgnat", "unspecified", "multicast", "reserved",
// "documentation", ...), or nothing when it is. IPv4-mapped, IPv4-compatible,
// NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry.
std::optional<std::string> classify(const IpAddress& address);

struct Resolution {
  std::vector<IpAddress> addresses;  // in resolver order, duplicates removed
  std::string error;                 // set when the name did not resolve
};

// getaddrinfo for TCP on `port`. Numeric hosts resolve without DNS.
Resolution resolve(const std::string& host, int port);

enum class Verdict {
  allowed,
  invalid_url,      // the text is not an acceptable URL
  unresolvable,     // the host did not resolve (perhaps only for now)
  forbidden,        // it resolves to an address we must not reach
};

struct Destination {
  Verdict verdict = Verdict::invalid_url;
  std::string reason;              // for refusals: a message fit for the caller
  std::optional<Url> url;
  std::optional<IpAddress> address;  // the checked address to connect to
};

// Parses, resolves and checks. When any address the name resolves to is
// forbidden, the whole destination is (a name that mixes public and private
// answers is a rebinding attempt, not a misconfiguration). With
// allow_private, every resolved address is acceptable.
Destination check_destination(std::string_view url_text, bool allow_private);

}  // namespace pw::webhook
