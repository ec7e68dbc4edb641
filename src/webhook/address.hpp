// IP addresses and the ranges a webhook must never reach through us
// (loopback, private, link-local, cloud metadata, ...). Standard library and
// the socket headers only: the fuzz targets use this without a network.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pw::webhook {

// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  // Parses a numeric address (dotted quad or IPv6 text); nothing otherwise.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

// The address a URL's host names without any lookup: an IPv6 literal, a
// dotted quad, or one of the older IPv4 spellings resolvers also take as
// numbers ("127.1", "0x7f.0.0.1", "2130706433"). Nothing for a host name.
std::optional<IpAddress> literal_address(std::string_view host);

// Why the address is not a public destination ("loopback", "private",
// "link-local", "metadata", "cgnat", "unspecified", "multicast", "reserved",
// "documentation", ...), or nothing when it is. IPv4-mapped, IPv4-compatible,
// NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry.
std::optional<std::string> classify(const IpAddress& address);

}  // namespace pw::webhook
